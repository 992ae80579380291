//! DP synthetic data by Private Evolution (Lin et al., "Differentially Private Synthetic Data
//! via Foundation Model APIs 1: Images", ICLR 2024), in ℝᵈ.
//!
//! Private Evolution never trains on private data: it asks a public [`Generator`] for random
//! samples, lets every private point vote for its nearest synthetic candidate, adds Gaussian
//! noise to the vote histogram, keeps the candidates the noisy votes favour and asks the
//! generator for variations of them; repeated `T` times, the population moves toward the
//! private distribution. Each iteration is one Gaussian mechanism on a histogram of L2
//! sensitivity `√k` ([`iteration_event`]), composed over the `T` iterations by an accountant
//! ([`Evolution::events`], [`Evolution::epsilon`]). [`frechet_distance`] measures the result:
//! the Fréchet distance between Gaussians fitted to the private and synthetic sets.
//!
//! ```
//! use mosaic_dp::noise::Noise;
//! use mosaic_dp::synth::{frechet_distance, private_evolution, EvolutionConfig, GaussianGenerator, GaussianMixture};
//! use mosaic_dp::RngSeed;
//!
//! let mixture = GaussianMixture::random(3, 2, 4.0, 0.5, RngSeed::from_u64(1)).unwrap();
//! let private = mixture.sample(500, RngSeed::from_u64(2));
//! let mut generator = GaussianGenerator::new(vec![0.0; 2], 4.0, RngSeed::from_u64(3)).unwrap();
//! let config = EvolutionConfig::new(200, 8, 1.0, 0.2, Noise::gaussian(2.0));
//! let mut first = None;
//! let run = private_evolution(&private, &mut generator, &config, &mut |t, s| {
//!     if t == 0 { first = Some(frechet_distance(&private, s).unwrap()); }
//! }).unwrap();
//! let after = frechet_distance(&private, &run.synthetic).unwrap();
//! assert!(after < first.unwrap());
//! assert_eq!(run.events()[0].1, 8); // eight Gaussian events for the accountant
//! ```
//!
//! The privacy argument is in `proof.md` beside this file (included below).
#![doc = include_str!("proof.md")]

mod evolution;
mod frechet;
mod generator;
mod histogram;
mod mixture;
mod points;

#[cfg(test)]
mod tests;

pub use evolution::{
    calibrate_noise_multiplier, geometric_schedule, iteration_event, private_evolution, Evolution,
    EvolutionConfig, IterationStats,
};
pub use frechet::{frechet_distance, frechet_distance_between, GaussianFit};
pub use generator::{GaussianGenerator, Generator};
pub use histogram::{dp_nearest_neighbor_histogram, nearest_neighbor_votes};
pub use mixture::GaussianMixture;
pub use points::Points;

/// A uniform integer in `[0, n)` from a generator's 64-bit words (masked rejection), for the
/// public randomness of synthetic-data generation and resampling (not a DP sampler: those
/// draw from [`crate::sampling::Bits`]).
///
/// # Panics
/// If `n` is zero.
pub(crate) fn public_uniform_below<R: rand_core::RngCore + ?Sized>(rng: &mut R, n: u128) -> u128 {
    assert!(n > 0, "public_uniform_below(0) has no outcome");
    let bits = 128 - (n - 1).leading_zeros();
    let mask = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    loop {
        let x = if bits <= 64 {
            rng.next_u64() as u128
        } else {
            ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128
        } & mask;
        if x < n {
            return x;
        }
    }
}
