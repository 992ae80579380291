//! Mosaic optimizer family: the optimizer interface, host-owned state, learning-rate
//! schedules, parameter groups and the step driver.
//!
//! - The family interface is re-exported from [`mosaic_abi::family::optim`]: an
//!   [`Optimizer`] declares the state each parameter tensor needs ([`StateSpec`]) and
//!   updates the tensors of a group in place ([`OptimStep`]).
//! - [`OptimizerState`] owns that state (per tensor: named buffers of any dtype and shape,
//!   named scalars, a step counter and an `initialized` flag), lends it to each step without
//!   allocating, and saves it to safetensors ([`checkpoint`]); [`views`] are the typed views
//!   of the classic optimizers' state.
//! - [`Schedule`]: PyTorch's closed forms (constant, step, cosine, one-cycle) after an
//!   optional linear warm-up.
//! - [`Driver`] ties an [`OptimizerBox`], its state, a schedule and a seed together and
//!   counts steps from 1; [`ParamGroups`] are PyTorch's `param_groups` (one driver each).
//! - `dfdx` (feature `dfdx`): train dfdx models with Mosaic optimizers.
//! - [`torch`]: PyTorch's `float32` elementwise operations in its order of operations, the
//!   building blocks the classic optimizers share; [`problems`]: the built-in test problems.
//! - [`distributed`]: several workers or replicas of one model (EF21, DiLoCo, zeroth-order
//!   replicas with shared randomness) and the compressors they communicate through;
//!   [`Driver::evaluation_point`]: the point averaging optimizers evaluate (Schedule-Free).
#![deny(missing_docs)]

pub mod checkpoint;
#[cfg(feature = "dfdx")]
pub mod dfdx;
pub mod distributed;
mod driver;
mod error;
mod eval;
pub mod hyper;
mod parallel;
pub mod problems;
mod schedule;
mod state;
pub mod torch;
pub mod views;

pub use driver::{Driver, GroupsBuilder, ParamGroups};
pub use error::OptimError;
pub use mosaic_abi::family::optim::*;
pub use parallel::{Parallelism, DEFAULT_CHUNK};
pub use schedule::{Anneal, LrSchedule, OneCycle, Schedule, Warmup};
pub use state::{LossFn, OptimizerState, Param, StepOptions, TensorState};
