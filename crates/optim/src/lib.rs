//! Mosaic optimizer family: the optimizer interface, host-owned state, learning-rate
//! schedules and the step driver.
//!
//! - The family interface is re-exported from [`mosaic_abi::family::optim`]: an
//!   [`Optimizer`] updates a flat `f32` parameter group in place, given gradients, the
//!   host-owned state buffers and the step's learning rate.
//! - [`OptimizerState`] owns those buffers (named, one `f32` per parameter, zero-initialised)
//!   so that they can be checkpointed and restored.
//! - [`LrSchedule`] computes the learning rate of each step (PyTorch's closed forms).
//! - [`Driver`] ties an [`OptimizerBox`], its state and a schedule together and counts steps
//!   from 1.
#![deny(missing_docs)]

mod driver;
mod error;
mod schedule;
mod state;

pub use driver::Driver;
pub use error::OptimError;
pub use mosaic_abi::family::optim::*;
pub use schedule::LrSchedule;
pub use state::OptimizerState;
