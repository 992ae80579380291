//! The generator API Private Evolution queries (the paper's foundation-model API): random
//! samples and variations of given samples. It never sees private data.

use mosaic_abi::RngSeed;
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use rand_distr::StandardNormal;

use crate::sampling::rng_from_seed;
use crate::DpError;

use super::Points;

/// A public data generator: what Private Evolution may ask for (Lin et al. 2023, §3: the
/// `RANDOM_API` and `VARIATION_API`). Implement it over any model that can sample and
/// perturb; [`GaussianGenerator`] is the built-in one for ℝᵈ.
pub trait Generator {
    /// The dimension of the points it produces.
    fn dim(&self) -> usize;
    /// `n` samples from the generator's own distribution.
    fn random(&mut self, n: usize) -> Result<Points, DpError>;
    /// One variation of each point of `points`, `degree` ≥ 0 saying how far a variation may
    /// move (0: a copy).
    fn variation(&mut self, points: &Points, degree: f64) -> Result<Points, DpError>;
}

/// The built-in generator in ℝᵈ: random samples from `N(center, scale²·I)`, and variations
/// `x + degree·N(0, I)`. Its randomness is public (it never touches private data), so a fixed
/// seed is fine here.
#[derive(Clone, Debug)]
pub struct GaussianGenerator {
    center: Vec<f64>,
    scale: f64,
    rng: ChaCha20Rng,
}

impl GaussianGenerator {
    /// Random samples around `center` (its length is the dimension, ≥ 1) with standard
    /// deviation `scale` (finite, > 0) per coordinate. Errors name `center` and `scale`.
    pub fn new(center: Vec<f64>, scale: f64, seed: RngSeed) -> Result<GaussianGenerator, DpError> {
        if center.is_empty() {
            return Err(DpError::param("center", "needs at least one coordinate"));
        }
        if let Some(i) = center.iter().position(|c| !c.is_finite()) {
            return Err(DpError::param(
                "center",
                format!("coordinate {i} is {}, not finite", center[i]),
            ));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(DpError::param(
                "scale",
                format!("must be finite and > 0, got {scale}"),
            ));
        }
        Ok(GaussianGenerator {
            center,
            scale,
            rng: rng_from_seed(&seed),
        })
    }

    fn normal(&mut self) -> f64 {
        self.rng.sample(StandardNormal)
    }
}

impl Generator for GaussianGenerator {
    fn dim(&self) -> usize {
        self.center.len()
    }

    fn random(&mut self, n: usize) -> Result<Points, DpError> {
        let d = self.center.len();
        let mut data = Vec::with_capacity(n * d);
        for _ in 0..n {
            for j in 0..d {
                let z = self.normal();
                data.push(self.center[j] + self.scale * z);
            }
        }
        Ok(Points::from_parts(d, data))
    }

    fn variation(&mut self, points: &Points, degree: f64) -> Result<Points, DpError> {
        if points.dim() != self.center.len() {
            return Err(DpError::param(
                "points",
                format!(
                    "dimension {} does not match the generator's {}",
                    points.dim(),
                    self.center.len()
                ),
            ));
        }
        if !(degree.is_finite() && degree >= 0.0) {
            return Err(DpError::param(
                "variation_degree",
                format!("must be finite and >= 0, got {degree}"),
            ));
        }
        let data = points
            .as_slice()
            .iter()
            .map(|x| {
                let z = self.normal();
                x + degree * z
            })
            .collect();
        Ok(Points::from_parts(points.dim(), data))
    }
}
