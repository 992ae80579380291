//! Mosaic differential privacy family: mechanisms, accountants, exact samplers, DP-SGD.
//!
//! - The family interface is re-exported from [`mosaic_abi::family::dp`]: a [`Mechanism`]
//!   releases a noisy batch from a seed, an [`Accountant`] composes [`PrivacyEvent`]s.
//! - [`sampling`] holds the exact samplers mechanism plugins build on (integer and rational
//!   arithmetic only, in the discipline of OpenDP: no `ln(uniform)` on floats).
//! - [`accounting`]: the short path to an ε ([`Accounting`]: DP-SGD's ε, calibration) over
//!   accountant plugins, and the numerics accountants share; [`calibrate`]: the smallest
//!   noise multiplier for a target (ε, δ), the largest number of steps.
//! - [`GaussianNoise`] / [`LaplaceNoise`]: vectors of exact noise on a `2^k` grid, calibrated
//!   to a sensitivity with the grid rounding charged — the path DP-SGD and the
//!   continual-release counters draw their noise through.
//! - [`checks`]: the parameter checks mechanisms share (ε, δ, sensitivity).
//! - [`noise`]: Gaussian noise on a power-of-two grid (the exact discrete Gaussian) for the
//!   mechanisms that privatize vectors they compute themselves.
//! - [`continual`]: private prefix sums over a stream — the binary tree counter (with
//!   Honaker's estimate) and the banded Toeplitz matrix-factorization mechanism, whose
//!   [`continual::MfStream`] is the correlated noise of DP-FTRL.
//! - [`synth`]: DP synthetic data by Private Evolution, and the Fréchet distance.
//! - `train` (feature `train`): DP-SGD for dfdx models — Poisson sampling, per-example
//!   clipping (ghost clipping for dense layers), exact Gaussian noise, any optimizer plugin.
//! - [`Release`] calls a loaded mechanism with fresh OS entropy per release, or (for
//!   experiments, and labelled so) with a fixed seed.
#![deny(missing_docs)]

pub mod accounting;
pub mod calibrate;
pub mod checks;
pub mod continual;
mod error;
pub mod noise;
mod release;
pub mod sampling;
pub mod synth;
#[cfg(feature = "train")]
pub mod train;

pub use accounting::{AccountantSource, Accounting, FnSource};
pub use error::DpError;
pub use mosaic_abi::family::dp::*;
pub use mosaic_abi::{RngSeed, SeedSource};
pub use release::{Release, Released, FIXED_SEED_WARNING};
pub use sampling::{GaussianNoise, LaplaceNoise};
