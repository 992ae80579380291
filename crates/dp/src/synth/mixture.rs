//! Gaussian mixtures in ℝᵈ: the generated "private" data sets of the examples, the tests and
//! `mosaic dp synth`.

use mosaic_abi::RngSeed;
use rand::Rng;
use rand_distr::StandardNormal;

use super::public_uniform_below as uniform_below;
use crate::sampling::rng_from_seed;
use crate::DpError;

use super::Points;

/// An equal-weight mixture of isotropic Gaussians `N(μ_i, std²·I)`.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    means: Points,
    std: f64,
}

impl GaussianMixture {
    /// Components at the rows of `means` (at least one), each with standard deviation `std`
    /// (finite, > 0) per coordinate. Errors name `means` and `std`.
    pub fn new(means: Points, std: f64) -> Result<GaussianMixture, DpError> {
        if means.is_empty() {
            return Err(DpError::param("means", "need at least one component"));
        }
        if !(std.is_finite() && std > 0.0) {
            return Err(DpError::param(
                "std",
                format!("must be finite and > 0, got {std}"),
            ));
        }
        Ok(GaussianMixture { means, std })
    }

    /// `components` means drawn uniformly from `[−spread, spread]^dim` with `seed`.
    pub fn random(
        components: usize,
        dim: usize,
        spread: f64,
        std: f64,
        seed: RngSeed,
    ) -> Result<GaussianMixture, DpError> {
        if components == 0 {
            return Err(DpError::param("components", "must be at least 1"));
        }
        if dim == 0 {
            return Err(DpError::param("dim", "must be at least 1"));
        }
        if !(spread.is_finite() && spread >= 0.0) {
            return Err(DpError::param(
                "spread",
                format!("must be finite and >= 0, got {spread}"),
            ));
        }
        let mut rng = rng_from_seed(&seed);
        let means = (0..components * dim)
            .map(|_| spread * (2.0 * rng.random::<f64>() - 1.0))
            .collect();
        GaussianMixture::new(Points::new(dim, means)?, std)
    }

    /// The component means.
    pub fn means(&self) -> &Points {
        &self.means
    }

    /// `n` points: a uniformly chosen component each, plus `std·N(0, I)`.
    pub fn sample(&self, n: usize, seed: RngSeed) -> Points {
        let mut rng = rng_from_seed(&seed);
        let d = self.means.dim();
        let mut data = Vec::with_capacity(n * d);
        for _ in 0..n {
            let c = uniform_below(&mut rng, self.means.len() as u128) as usize;
            for &m in self.means.row(c) {
                let z: f64 = rng.sample(StandardNormal);
                data.push(m + self.std * z);
            }
        }
        Points::from_parts(d, data)
    }
}
