//! Exact samplers for DP noise, one folder per distribution.
//!
//! Every sampler here consumes only uniformly random bits ([`Bits`], a ChaCha20 stream keyed
//! by an [`RngSeed`]) and makes its decisions with integer comparisons against exact
//! rationals. There is no floating-point `ln(uniform)`: the textbook inverse-CDF Laplace
//! sampler leaks through the gaps of the floating-point grid (Mironov, "On Significance of the
//! Least Significant Bits for Differential Privacy", CCS 2012), so, as in OpenDP, noise is
//! sampled exactly on the integers and real values are mapped onto a `2^k` grid first
//! ([`grid`], [`noise`]).
//!
//! - [`bits`]: the random bit source; [`rational`]: exact rationals and float decomposition;
//! - [`uniform`]: uniform integers below n, lazy random permutations;
//! - [`bernoulli`]: Bernoulli(p) and Bernoulli(exp(−γ)) for rational p, γ (CKS 2020,
//!   Algorithm 1);
//! - [`geometric`], [`discrete_laplace`] (CKS Algorithm 2), [`discrete_gaussian`] (the CKS
//!   distribution; band rejection after Karney 2016, and CKS Algorithm 3 as a reference);
//! - [`categorical`]: an index with probability ∝ exp(−gap/T) (the exponential mechanism);
//! - [`grid`]: rounding reals to `2^k · ℤ`, selection-score grids and exact temperatures;
//! - [`noise`]: vectors of exact Gaussian or Laplace noise on a grid, block-seeded so that
//!   any split over threads gives the same bits.
//!
//! Arithmetic bounds: rationals have `u64` parts, or `u128` where a sampler says so (at most
//! 2^127, so a doubled remainder never overflows); loop counters grow by one per iteration and
//! stay far below 2^64 in any run that terminates in practice.

pub mod bernoulli;
pub mod bits;
pub mod categorical;
pub mod discrete_gaussian;
pub mod discrete_laplace;
pub mod geometric;
pub mod grid;
pub mod noise;
pub mod rational;
pub mod uniform;

pub use bernoulli::{
    bernoulli, bernoulli_exp_neg, bernoulli_exp_neg_half_square, bernoulli_exp_neg_ratio,
    bernoulli_ratio,
};
pub use bits::Bits;
pub use categorical::exp_weighted_index;
pub use discrete_gaussian::{discrete_gaussian, discrete_gaussian_cks, DiscreteGaussian};
pub use discrete_laplace::discrete_laplace;
pub use geometric::geometric;
pub use grid::{Grid, ScoreGrid};
pub use noise::{GaussianNoise, LaplaceNoise};
pub use rational::Rational;
pub use uniform::{uniform_below, LazyPermutation};

use mosaic_abi::RngSeed;

/// The bit stream for `seed` (the only way randomness enters a Mosaic mechanism).
pub fn bits_from_seed(seed: &RngSeed) -> Bits {
    Bits::from_seed(seed)
}

/// The ChaCha20 generator keyed by `seed`, for randomness that is not a DP sampler's (public
/// samples, resampling). Samplers take [`Bits`]; wrap a generator with [`Bits::new`].
pub fn rng_from_seed(seed: &RngSeed) -> rand_chacha::ChaCha20Rng {
    use rand_core::SeedableRng;
    rand_chacha::ChaCha20Rng::from_seed(seed.bytes)
}
