//! Mosaic differential privacy family: mechanisms, accountants, exact samplers, DP-SGD.
//!
//! - The family interface is re-exported from [`mosaic_abi::family::dp`]: a [`Mechanism`]
//!   releases a noisy batch from a seed, an [`Accountant`] composes [`PrivacyEvent`]s.
//! - [`sampling`] holds the exact samplers mechanism plugins build on (integer and rational
//!   arithmetic only, in the discipline of OpenDP: no `ln(uniform)` on floats).
//! - [`Release`] calls a loaded mechanism with fresh OS entropy per release, or (for
//!   experiments, and labelled so) with a fixed seed.
#![deny(missing_docs)]

pub mod continual;
mod error;
pub mod noise;
mod release;
pub mod sampling;
pub mod synth;

pub use error::DpError;
pub use mosaic_abi::family::dp::*;
pub use mosaic_abi::{RngSeed, SeedSource};
pub use release::{Release, Released};
