//! DP-SGD for dfdx 0.13 models (feature `train`): Abadi et al. 2016, "Deep Learning with
//! Differential Privacy".
//!
//! Each step of [`DpSgd`]:
//! 1. draws a batch: Poisson sampling (each example independently with probability q,
//!    variable batch size) or a shuffled pass ([`BatchSampling`]);
//! 2. computes every example's gradient of its cross-entropy loss and clips it to norm C,
//!    flat or per layer ([`Clipping`]): by ghost clipping for stacks of dense layers
//!    ([`Ghost`], one batched forward and backward, see [`ghost`]) or one example at a time
//!    with dfdx for any model ([`PerExample`]);
//! 3. adds exact discrete Gaussian noise of standard deviation σ·C to the sum
//!    ([`GaussianNoise::calibrated`], the grid rounding charged), seeded from the OS for every
//!    step unless a fixed seed is configured (experiments only, labelled);
//! 4. divides by the expected batch size and steps any optimizer plugin through
//!    [`mosaic_optim::dfdx::DfdxOptimizer`];
//! 5. counts the step for the accountant (RDP by default, PLD on request through
//!    [`Accounting::accountant`]): ε is reported after every epoch, training stops before the
//!    step that would exceed a target ε, or σ is calibrated up front from a target (ε, δ),
//!    the epochs and the sampling rate ([`calibrate_noise_multiplier`]).
//!
//! The privacy argument is in `proof.md` beside this module.
//!
//! [`GaussianNoise::calibrated`]: crate::GaussianNoise::calibrated
//! [`Accounting::accountant`]: crate::Accounting::accountant
#![doc = include_str!("proof.md")]

mod clip;
mod engine;
pub mod ghost;
mod trainer;

#[cfg(test)]
mod tests;

pub use clip::{Clipping, CLIP_MARGIN};
pub use engine::{
    gradients, per_example_gradients, ClippedBatch, Ghost, PerExample, PerSampleGradients,
};
pub use ghost::{GhostForward, Rows};
pub use trainer::{
    accuracy, calibrate_noise_multiplier, BatchSampling, DpSgd, DpSgdConfig, EpochReport,
    StepReport,
};
