//! Continual release: private prefix sums over a stream, released after every element.
//!
//! A stream `x_1, …, x_T` of vectors in ℝᵈ (one per step; one person's contribution to a step
//! has L2 norm at most `l2_bound`) is released as the running sums `s_t = x_1 + … + x_t`, one
//! per step, under one privacy guarantee for the whole stream. Two families of mechanisms:
//!
//! - [`TreeCounter`]: the binary tree mechanism of Dwork, Naor, Pitassi and Rothblum ("Differential
//!   Privacy under Continual Observation", STOC 2010) and Chan, Shi and Song ("Private and
//!   Continual Release of Statistics", 2011): noise on every dyadic block, each element in at
//!   most `⌊log₂T⌋ + 1 ≤ ⌈log₂T⌉ + 1` blocks; [`TreeEstimator::Honaker`] re-weights each
//!   block with its children (Honaker, "Efficient Use of Differentially Private Binary Trees",
//!   2015) for a lower variance from the same noisy blocks.
//! - [`BandedToeplitz`]: the matrix-factorization mechanism `A = B·C` for the prefix-sum
//!   matrix `A`, with `C` lower-triangular banded Toeplitz, its band coefficients optimised for
//!   the mean or max squared error under the sensitivity of `k` participations at least `b`
//!   steps apart (Choquette-Choo et al., "Multi-Epoch Matrix Factorization Mechanisms for
//!   Private Machine Learning", ICML 2023; "(Amplified) Banded Matrix Factorizations", NeurIPS
//!   2023; McKenna, "Scaling up the Banded Matrix Factorization Mechanism", 2024).
//!   [`MfStream`] privatizes one step at a time in `O(bands · d)` memory: it is what a DP-FTRL
//!   trainer calls, and [`MfCounter`] turns it into private prefix sums.
//!
//! Every mechanism here is one Gaussian mechanism over the whole stream: its
//! [`PrivacyEvent`](crate::PrivacyEvent) is composed once, however many steps are released.
//! The privacy argument is in `proof.md` beside this file (included below).
//!
//! ```
//! use mosaic_dp::continual::{BandedToeplitz, MfCounter, Objective, Participation, TreeCounter, TreeEstimator};
//! use mosaic_dp::noise::Noise;
//!
//! // Noise off: both counters return the exact prefix sums.
//! let mut tree = TreeCounter::new(8, 1, 1.0, TreeEstimator::Honaker, Noise::Off).unwrap();
//! let mf = BandedToeplitz::optimal(8, 3, &Default::default()).unwrap().0;
//! let mut counter = mf.counter(8, 1, 1.0, Participation::single(), Noise::Off).unwrap();
//! for t in 1..=8 {
//!     assert_eq!(tree.push(&[1.0]).unwrap(), vec![t as f64]);
//!     assert!((counter.push(&[1.0]).unwrap()[0] - t as f64).abs() < 1e-12);
//! }
//! // With noise: one Gaussian event for the whole stream.
//! let mf = BandedToeplitz::optimal(64, 4, &Default::default()).unwrap().0;
//! let noisy = mf.counter(64, 1, 1.0, Participation::single(), Noise::gaussian(2.0)).unwrap();
//! println!("{}", noisy.event().unwrap());
//! assert!(mf.error(64, Participation::single(), Objective::Mean).unwrap() > 0.0);
//! ```
#![doc = include_str!("proof.md")]

mod optimize;
mod stream;
mod toeplitz;
mod tree;

#[cfg(test)]
mod tests;

pub use optimize::{Convergence, OptimizeOptions};
pub use stream::{MfCounter, MfStream};
pub use toeplitz::{BandedToeplitz, Objective};
pub use tree::{TreeCounter, TreeEstimator};

use crate::DpError;

/// How often one person may contribute to a stream: at most `max_participations` steps, any
/// two of them at least `min_separation` steps apart (`min_separation = 1` allows consecutive
/// steps). One pass over the data in `T` steps is [`Participation::single`]; `E` epochs over
/// `T` steps in a fixed order is `multi_epoch(E, T / E)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Participation {
    /// k ≥ 1.
    pub max_participations: usize,
    /// b ≥ 1.
    pub min_separation: usize,
}

impl Participation {
    /// One contribution in the whole stream (event-level privacy).
    pub fn single() -> Participation {
        Participation {
            max_participations: 1,
            min_separation: 1,
        }
    }

    /// At most `max_participations` contributions, at least `min_separation` steps apart.
    pub fn multi_epoch(max_participations: usize, min_separation: usize) -> Participation {
        Participation {
            max_participations,
            min_separation,
        }
    }

    /// Check k ≥ 1 and b ≥ 1; errors name the field.
    pub fn validate(&self) -> Result<(), DpError> {
        if self.max_participations == 0 {
            return Err(DpError::param("max_participations", "must be at least 1"));
        }
        if self.min_separation == 0 {
            return Err(DpError::param("min_separation", "must be at least 1"));
        }
        Ok(())
    }

    /// The most participations that fit in `horizon` steps: `min(k, ⌊(T − 1)/b⌋ + 1)`.
    pub fn effective(&self, horizon: usize) -> usize {
        self.max_participations
            .min((horizon.saturating_sub(1)) / self.min_separation + 1)
    }
}

/// `horizon ≥ 1`, else an error naming it.
pub(crate) fn check_horizon(horizon: usize) -> Result<(), DpError> {
    if horizon == 0 {
        return Err(DpError::param(
            "horizon",
            "the stream length T must be at least 1",
        ));
    }
    Ok(())
}

/// `dim ≥ 1` and `l2_bound` finite and > 0, else errors naming them.
pub(crate) fn check_dim_and_bound(dim: usize, l2_bound: f64) -> Result<(), DpError> {
    if dim == 0 {
        return Err(DpError::param("dim", "must be at least 1"));
    }
    if !(l2_bound.is_finite() && l2_bound > 0.0) {
        return Err(DpError::param(
            "l2_bound",
            format!("must be finite and > 0, got {l2_bound}"),
        ));
    }
    Ok(())
}

/// One step's input: `dim` finite values, else an error naming the step and position.
pub(crate) fn check_step_input(x: &[f64], dim: usize, step: usize) -> Result<(), DpError> {
    if x.len() != dim {
        return Err(DpError::param(
            "x",
            format!("step {step}: expected {dim} values, got {}", x.len()),
        ));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(DpError::param(
            "x",
            format!("step {step}: value {} at position {i} is not finite", x[i]),
        ));
    }
    Ok(())
}
