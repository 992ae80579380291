//! Gaussian noise on a power-of-two grid, for the mechanisms that add it to vectors they
//! compute themselves (the continual-release counters, the matrix-factorization stream, the
//! Private Evolution histogram).
//!
//! A mechanism hands a [`GaussianNoise`] the vector it wants to privatize; the source rounds
//! each value onto its grid of step `g = 2^k` and adds independent noise that is an exact
//! multiple of `g`. This is the discipline of the Laplace plugin and of OpenDP: noise is drawn
//! exactly on the integers (here the discrete Gaussian of Canonne, Kamath and Steinke, "The
//! Discrete Gaussian for Differential Privacy", NeurIPS 2020, Algorithm 3, built on the exact
//! discrete Laplace and Bernoulli(exp(−γ)) samplers of [`crate::sampling`]), never as
//! `x + N(0, σ²)` with a floating-point normal sampler, whose output has gaps that reveal `x`
//! (Mironov, CCS 2012).
//!
//! Rounding moves each coordinate by at most `g / 2`, so two neighbouring inputs whose exact
//! values differ in `m` coordinates by an L2 distance `Δ` land on grid points at distance at
//! most `Δ + g·√m`. Mechanisms charge that to the sensitivity
//! ([`GaussianNoise::charged_sensitivity`]); with the grid chosen by [`DiscreteGaussian`]
//! (`σ / g ≥ 2^24`) the charge is below `2^-24·σ·√m`.
//!
//! [`NoNoise`] turns the noise off (tests, and the non-private baseline): values pass through
//! unrounded, so counters return exact sums.

use mosaic_abi::{RngSeed, SeedSource};
use rand_chacha::ChaCha20Rng;

use crate::sampling::{bernoulli_exp_neg, discrete_laplace, rng_from_seed, Rational};
use crate::DpError;

/// The lattice scale `σ / g` of [`DiscreteGaussian`] lies in `[2^GRID_BITS, 2^(GRID_BITS+1)]`.
pub const GRID_BITS: i32 = 24;

/// A source of independent, centred Gaussian noise on a grid.
pub trait GaussianNoise: Send {
    /// The standard deviation σ of each noise value (0 when the noise is off).
    fn std_dev(&self) -> f64;
    /// The grid step `g`: values are rounded to multiples of `g` and the noise is a multiple of
    /// `g` (0 when values are not rounded).
    fn granularity(&self) -> f64;
    /// Round each value onto the grid and add independent noise to it, in place. Errors name
    /// the position of a value the grid cannot hold.
    fn privatize(&mut self, values: &mut [f64]) -> Result<(), DpError>;
    /// Where the randomness comes from (`None` when the noise is off).
    fn seed_source(&self) -> Option<SeedSource>;

    /// The L2 sensitivity after rounding, for inputs at L2 distance `l2` that differ in at most
    /// `coordinates` positions: `l2 + g·√coordinates`.
    fn charged_sensitivity(&self, l2: f64, coordinates: u64) -> f64 {
        l2 + self.granularity() * (coordinates as f64).sqrt()
    }
}

/// No noise and no rounding: mechanisms built on it return exact results and carry no privacy
/// guarantee.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoNoise;

impl GaussianNoise for NoNoise {
    fn std_dev(&self) -> f64 {
        0.0
    }
    fn granularity(&self) -> f64 {
        0.0
    }
    fn privatize(&mut self, _values: &mut [f64]) -> Result<(), DpError> {
        Ok(())
    }
    fn seed_source(&self) -> Option<SeedSource> {
        None
    }
}

/// The discrete Gaussian `g · N_Z(0, n²)` with `g = 2^k` and `n·g ≥ σ`, drawn exactly from a
/// ChaCha20 stream.
///
/// The grid is the largest power of two `g` with `σ / g ≥ 2^24`, and `n = ⌈σ / g⌉`, so the
/// scale used is `n·g ∈ [σ, σ(1 + 2^-24))` (never below the one asked for). Each value is
/// `round(x / g)` (ties to even) plus an integer `Y ~ N_Z(0, n²)`, times `g`.
///
/// Sampling (CKS 2020, Algorithm 3 with `t = n`): draw `Y` from the discrete Laplace
/// distribution of scale `n`, accept it with probability `exp(−(|Y| − n)² / (2n²))`. Then
/// `P(Y = y) ∝ exp(−|y|/n − (|y| − n)²/(2n²)) ∝ exp(−y²/(2n²))`: exactly the discrete Gaussian.
/// The acceptance exponent is the rational `(|Y| − n)² / (2n²)` with `2n² < 2^52`, split into
/// its whole part (that many Bernoulli(e^-1) draws) and a `u64` fraction. Only when `|Y| ≥
/// 2^64` (probability below `exp(−2^38)`) does the square leave `u128`; such a draw is
/// rejected, which it would be with probability `1 − exp(−2^76)` anyway.
pub struct DiscreteGaussian {
    std_dev: f64,
    k: i32,
    lattice: u64,
    rng: ChaCha20Rng,
    source: SeedSource,
}

impl std::fmt::Debug for DiscreteGaussian {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscreteGaussian")
            .field("std_dev", &self.std_dev)
            .field("granularity", &pow2(self.k))
            .field("lattice_scale", &self.lattice)
            .field("seed_source", &self.source)
            .finish()
    }
}

/// `2^k` for `k` in the normal `f64` range.
pub(crate) fn pow2(k: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

impl DiscreteGaussian {
    /// Noise of standard deviation at least `std_dev` (finite, > 0) from the ChaCha20 stream of
    /// `seed` (use [`RngSeed::from_os`] in production: whoever holds a fixed seed can subtract
    /// the noise).
    pub fn new(std_dev: f64, seed: RngSeed) -> Result<DiscreteGaussian, DpError> {
        if !(std_dev.is_finite() && std_dev > 0.0) {
            return Err(DpError::param(
                "std_dev",
                format!("must be finite and > 0, got {std_dev}"),
            ));
        }
        // floor(log2 σ) from the exponent bits; subnormal and tiny σ have no normal grid.
        let biased = ((std_dev.to_bits() >> 52) & 0x7ff) as i32;
        let k = biased - 1023 - GRID_BITS;
        if k < -1022 {
            return Err(DpError::param(
                "std_dev",
                format!("{std_dev} is too small for the noise grid (need at least 2^-998)"),
            ));
        }
        let n = (std_dev / pow2(k)).ceil();
        debug_assert!((16_777_216.0..=33_554_432.0).contains(&n));
        Ok(DiscreteGaussian {
            std_dev: n * pow2(k),
            k,
            lattice: n as u64,
            rng: rng_from_seed(&seed),
            source: seed.source,
        })
    }

    /// The integer scale `n` of the lattice noise (`std_dev = n · granularity`).
    pub fn lattice_scale(&self) -> u64 {
        self.lattice
    }
}

/// One draw of `N_Z(0, n²)` (see [`DiscreteGaussian`]); `n ≤ 2^25`.
pub(crate) fn sample_discrete_gaussian(rng: &mut ChaCha20Rng, n: u64) -> i128 {
    debug_assert!(n > 0 && n <= 1 << 25);
    let scale = Rational::new(n, 1).expect("positive denominator");
    let den = 2 * (n as u128) * (n as u128);
    loop {
        let y = discrete_laplace(rng, scale).expect("positive scale");
        let diff = y.unsigned_abs().abs_diff(n as u128);
        let Some(num) = diff.checked_mul(diff) else {
            continue;
        };
        let (whole, rest) = (num / den, (num % den) as u64);
        let frac = Rational::new(rest, den as u64).expect("positive denominator");
        if bernoulli_exp_neg(rng, frac) && (0..whole).all(|_| bernoulli_exp_neg(rng, Rational::ONE))
        {
            return y;
        }
    }
}

impl GaussianNoise for DiscreteGaussian {
    fn std_dev(&self) -> f64 {
        self.std_dev
    }

    fn granularity(&self) -> f64 {
        pow2(self.k)
    }

    fn privatize(&mut self, values: &mut [f64]) -> Result<(), DpError> {
        let g = pow2(self.k);
        // |x / g| < 2^100 keeps the lattice integer and the noisy sum inside i128.
        let limit = 2f64.powi(100);
        for (i, v) in values.iter_mut().enumerate() {
            let lattice = (*v / g).round_ties_even();
            if lattice.is_nan() || lattice.abs() >= limit {
                return Err(DpError::param(
                    "values",
                    format!(
                        "value {v} at position {i} does not fit the noise grid (|x| must be finite and below 2^100 times the grid step {g})"
                    ),
                ));
            }
            let noisy = lattice as i128 + sample_discrete_gaussian(&mut self.rng, self.lattice);
            *v = noisy as f64 * g;
        }
        Ok(())
    }

    fn seed_source(&self) -> Option<SeedSource> {
        Some(self.source)
    }
}

/// Which noise a mechanism adds: none (exact results, no privacy) or the discrete Gaussian at
/// a noise multiplier (standard deviation ÷ L2 sensitivity).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// No noise: exact results and no privacy guarantee (tests and non-private baselines).
    Off,
    /// Discrete Gaussian noise of standard deviation `noise_multiplier × sensitivity`.
    Gaussian {
        /// σ / Δ₂ > 0.
        noise_multiplier: f64,
        /// The ChaCha20 seed: [`RngSeed::from_os`] in production; a fixed seed is for
        /// experiments only (anyone holding it can remove the noise).
        seed: RngSeed,
    },
}

impl Noise {
    /// Gaussian noise at `noise_multiplier`, seeded from the operating system (production).
    pub fn gaussian(noise_multiplier: f64) -> Noise {
        Noise::Gaussian {
            noise_multiplier,
            seed: RngSeed::from_os(),
        }
    }

    /// **EXPERIMENTS ONLY — NOT PRIVATE.** Gaussian noise at `noise_multiplier` from a
    /// reproducible seed.
    pub fn gaussian_fixed_seed(noise_multiplier: f64, seed: u64) -> Noise {
        Noise::Gaussian {
            noise_multiplier,
            seed: RngSeed::from_u64(seed),
        }
    }

    /// The noise multiplier (0 when off).
    pub fn noise_multiplier(&self) -> f64 {
        match *self {
            Noise::Off => 0.0,
            Noise::Gaussian {
                noise_multiplier, ..
            } => noise_multiplier,
        }
    }

    /// The source for a query of L2 sensitivity `sensitivity` (> 0): σ = noise multiplier ×
    /// sensitivity. Errors name `noise_multiplier`.
    pub fn source(&self, sensitivity: f64) -> Result<Box<dyn GaussianNoise>, DpError> {
        match *self {
            Noise::Off => Ok(Box::new(NoNoise)),
            Noise::Gaussian {
                noise_multiplier,
                seed,
            } => {
                if !(noise_multiplier.is_finite() && noise_multiplier > 0.0) {
                    return Err(DpError::param(
                        "noise_multiplier",
                        format!("must be finite and > 0, got {noise_multiplier}"),
                    ));
                }
                Ok(Box::new(DiscreteGaussian::new(
                    noise_multiplier * sensitivity,
                    seed,
                )?))
            }
        }
    }
}

#[cfg(test)]
mod tests;
