//! Gaussian noise on a power-of-two grid, for the mechanisms that add it to vectors they
//! compute themselves (the continual-release counters, the matrix-factorization stream, the
//! Private Evolution histogram).
//!
//! A mechanism hands a [`NoiseSource`] the vector it wants to privatize; the source rounds
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
//! ([`NoiseSource::charged_sensitivity`]); with the grid chosen by [`DiscreteGaussian`]
//! (`σ / g ≥ 2^40`) the charge is below `2^-40·σ·√m`.
//!
//! [`NoNoise`] turns the noise off (tests, and the non-private baseline): values pass through
//! unrounded, so counters return exact sums.

use mosaic_abi::{RngSeed, SeedSource};

use crate::sampling;
use crate::DpError;

/// A source of independent, centred Gaussian noise on a grid.
pub trait NoiseSource: Send {
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

impl NoiseSource for NoNoise {
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

/// The discrete Gaussian `g · N_Z(0, n²)` on a grid `g = 2^k`, drawn exactly: a stream of
/// calls to [`NoiseSource::privatize`] over [`sampling::GaussianNoise`], the one exact
/// Gaussian path of the crate (the grid has `σ / g ≥ 2^40`, and `n·g ∈ [σ, σ(1 + 2^-40)]`,
/// never below the σ asked for).
///
/// Call `c` (counted from 0) draws its noise from the seed `seed.derive(c)`, block by block
/// as [`sampling::GaussianNoise::add_to_f64`] does, so a stream of calls is reproducible from
/// the seed alone and no two calls share randomness.
pub struct DiscreteGaussian {
    noise: sampling::GaussianNoise,
    seed: RngSeed,
    calls: u64,
}

impl std::fmt::Debug for DiscreteGaussian {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscreteGaussian")
            .field("std_dev", &self.noise.sigma())
            .field("granularity", &self.granularity())
            .field("lattice_scale", &self.noise.lattice_sigma())
            .field("seed_source", &self.seed.source)
            .finish()
    }
}

impl DiscreteGaussian {
    /// Noise of standard deviation at least `std_dev` (finite, > 0) from the ChaCha20 streams
    /// of `seed` (use [`RngSeed::from_os`] in production: whoever holds a fixed seed can
    /// subtract the noise).
    pub fn new(std_dev: f64, seed: RngSeed) -> Result<DiscreteGaussian, DpError> {
        if !(std_dev.is_finite() && std_dev > 0.0) {
            return Err(DpError::param(
                "std_dev",
                format!("must be finite and > 0, got {std_dev}"),
            ));
        }
        let noise = sampling::GaussianNoise::new(std_dev)
            .map_err(|e| DpError::param("std_dev", format!("{std_dev}: {e}")))?;
        if !(noise.sigma().is_finite() && noise.grid().step().is_normal()) {
            return Err(DpError::param(
                "std_dev",
                format!("{std_dev} has no normal noise grid"),
            ));
        }
        Ok(DiscreteGaussian {
            noise,
            seed,
            calls: 0,
        })
    }

    /// The integer scale `n` of the lattice noise (`std_dev = n · granularity`).
    pub fn lattice_scale(&self) -> u64 {
        self.noise.lattice_sigma()
    }
}

impl NoiseSource for DiscreteGaussian {
    fn std_dev(&self) -> f64 {
        self.noise.sigma()
    }

    fn granularity(&self) -> f64 {
        self.noise.grid().step()
    }

    fn privatize(&mut self, values: &mut [f64]) -> Result<(), DpError> {
        self.noise
            .add_to_f64(&self.seed.derive(self.calls), values)?;
        self.calls += 1;
        Ok(())
    }

    fn seed_source(&self) -> Option<SeedSource> {
        Some(self.seed.source)
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
    pub fn source(&self, sensitivity: f64) -> Result<Box<dyn NoiseSource>, DpError> {
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
