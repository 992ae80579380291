//! Mosaic optimizer family: the optimizer interface, host-owned state, learning-rate
//! schedules and the step driver.
//!
//! - The family interface is re-exported from [`mosaic_abi::family::optim`]: an
//!   [`Optimizer`] declares the state each parameter tensor needs ([`StateSpec`]) and
//!   updates the tensors of a group in place ([`OptimStep`]).
//! - [`OptimizerState`] owns that state (per tensor: named buffers of any dtype and shape,
//!   named scalars, a step counter and an `initialized` flag) so it can be checkpointed and
//!   restored, and lends it to each step without allocating.
//! - [`LrSchedule`] computes the learning rate of each step (PyTorch's closed forms).
//! - [`Driver`] ties an [`OptimizerBox`], its state, a schedule and a seed together and
//!   counts steps from 1.
#![deny(missing_docs)]

mod driver;
mod error;
mod schedule;
mod state;

pub use driver::Driver;
pub use error::OptimError;
pub use mosaic_abi::family::optim::*;
pub use schedule::LrSchedule;
pub use state::{LossFn, OptimizerState, Param, StepOptions, TensorState};
