//! Private Evolution (Lin et al. 2023, Algorithm 1).

use mosaic_abi::{AccountantBox, RngSeed};
use rand_chacha::ChaCha20Rng;

use super::public_uniform_below as uniform_below;
use crate::calibrate::{self, NoiseCalibration};
use crate::noise::{DiscreteGaussian, Noise, NoiseSource};
use crate::sampling::rng_from_seed;
use crate::Accounting;
use crate::{DpError, PrivacyEvent, Sampling};

use super::histogram::dp_nearest_neighbor_histogram;
use super::{Generator, Points};

/// The settings of a Private Evolution run.
#[derive(Clone, Debug, PartialEq)]
pub struct EvolutionConfig {
    /// Synthetic points per generation `N` (≥ 1).
    pub population: usize,
    /// Variation degree of each iteration; its length is the number of iterations `T` (≥ 1).
    /// [`geometric_schedule`] gives the usual decreasing schedule.
    pub variation_degrees: Vec<f64>,
    /// Subtracted from every noisy count, counts below it dropped (`H`, ≥ 0).
    pub threshold: f64,
    /// Votes per private point `k` (≥ 1, ≤ `population`): the histogram's L2 sensitivity is √k.
    pub nearest_neighbors: usize,
    /// Variations averaged to place each candidate when voting (0: vote on the candidates
    /// themselves; the paper's lookahead degree).
    pub lookahead: usize,
    /// The histogram noise: [`Noise::gaussian`] at a noise multiplier (σ / √k), or
    /// [`Noise::Off`] for the non-private limit ε → ∞.
    pub noise: Noise,
    /// The seed of the resampling step. Resampling reads only the noisy histogram, so this
    /// randomness is post-processing and may be fixed.
    pub resampling_seed: RngSeed,
}

impl EvolutionConfig {
    /// `iterations` iterations with variation degrees falling geometrically from
    /// `initial_variation` to `final_variation`, `population` points per generation, one vote
    /// per private point, no threshold, no lookahead.
    pub fn new(
        population: usize,
        iterations: usize,
        initial_variation: f64,
        final_variation: f64,
        noise: Noise,
    ) -> EvolutionConfig {
        EvolutionConfig {
            population,
            variation_degrees: geometric_schedule(initial_variation, final_variation, iterations),
            threshold: 0.0,
            nearest_neighbors: 1,
            lookahead: 0,
            noise,
            resampling_seed: RngSeed::from_u64(0),
        }
    }

    /// The number of iterations `T`.
    pub fn iterations(&self) -> usize {
        self.variation_degrees.len()
    }

    fn validate(&self) -> Result<(), DpError> {
        if self.population == 0 {
            return Err(DpError::param("population", "must be at least 1"));
        }
        if self.variation_degrees.is_empty() {
            return Err(DpError::param("iterations", "must be at least 1"));
        }
        if let Some(i) = self
            .variation_degrees
            .iter()
            .position(|v| !(v.is_finite() && *v >= 0.0))
        {
            return Err(DpError::param(
                "variation_degrees",
                format!(
                    "degree of iteration {} is {}, must be finite and >= 0",
                    i + 1,
                    self.variation_degrees[i]
                ),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold >= 0.0) {
            return Err(DpError::param(
                "threshold",
                format!("must be finite and >= 0, got {}", self.threshold),
            ));
        }
        if self.nearest_neighbors == 0 || self.nearest_neighbors > self.population {
            return Err(DpError::param(
                "nearest_neighbors",
                format!(
                    "must be in 1..={} (the population), got {}",
                    self.population, self.nearest_neighbors
                ),
            ));
        }
        Ok(())
    }
}

/// `n` values from `start` to `end` in geometric progression (`start` alone when `n = 1`;
/// linear when either end is 0).
pub fn geometric_schedule(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![start; n];
    }
    (0..n)
        .map(|i| {
            let f = i as f64 / (n - 1) as f64;
            if start > 0.0 && end > 0.0 {
                start * (end / start).powf(f)
            } else {
                start + (end - start) * f
            }
        })
        .collect()
}

/// The guarantee of one iteration at `noise_multiplier` with `nearest_neighbors` votes per
/// private point: the Gaussian mechanism on the vote histogram (L2 sensitivity √k, plus the
/// rounding onto the noise grid of the `k` counts one point moves). `None` for no noise.
pub fn iteration_event(
    noise: &Noise,
    nearest_neighbors: usize,
) -> Result<Option<PrivacyEvent>, DpError> {
    let Noise::Gaussian {
        noise_multiplier, ..
    } = *noise
    else {
        return Ok(None);
    };
    if nearest_neighbors == 0 {
        return Err(DpError::param("nearest_neighbors", "must be at least 1"));
    }
    if !(noise_multiplier.is_finite() && noise_multiplier > 0.0) {
        return Err(DpError::param(
            "noise_multiplier",
            format!("must be finite and > 0, got {noise_multiplier}"),
        ));
    }
    let sensitivity = (nearest_neighbors as f64).sqrt();
    // The scale and grid do not depend on the seed.
    let source = DiscreteGaussian::new(noise_multiplier * sensitivity, RngSeed::from_u64(0))?;
    let charged = source.charged_sensitivity(sensitivity, nearest_neighbors as u64);
    Ok(Some(PrivacyEvent::Gaussian {
        noise_multiplier: source.std_dev() / charged,
        sampling: Sampling::Full,
    }))
}

/// The smallest noise multiplier for which `iterations` iterations of Private Evolution
/// (`nearest_neighbors` votes per private point) are (ε, δ)-DP under `accounting` (e.g.
/// `mosaic::dp::accounting()`, the RDP accountant), to the relative tolerance
/// [`calibrate::DEFAULT_RELATIVE_TOLERANCE`]. Errors name `epsilon` (≤ 0, or a target no
/// multiplier in range meets), `delta`, `iterations` and `nearest_neighbors`.
pub fn calibrate_noise_multiplier(
    accounting: &Accounting<'_>,
    epsilon: f64,
    delta: f64,
    iterations: usize,
    nearest_neighbors: usize,
) -> Result<NoiseCalibration, DpError> {
    crate::accounting::check_epsilon(epsilon)?;
    crate::accounting::check_delta(delta)?;
    if iterations == 0 {
        return Err(DpError::param("iterations", "must be at least 1"));
    }
    calibrate::smallest_noise_multiplier(epsilon, calibrate::DEFAULT_RELATIVE_TOLERANCE, |z| {
        let noise = Noise::Gaussian {
            noise_multiplier: z,
            seed: RngSeed::from_u64(0),
        };
        let event = iteration_event(&noise, nearest_neighbors)?.expect("Gaussian noise");
        accounting.epsilon(&[(event, iterations as u64)], delta)
    })
}

/// What one iteration did.
#[derive(Clone, Debug, PartialEq)]
pub struct IterationStats {
    /// 1-based iteration number.
    pub iteration: usize,
    /// The variation degree applied after resampling.
    pub variation_degree: f64,
    /// The histogram's total mass after noise and threshold.
    pub votes: f64,
    /// Candidates with a positive count after noise and threshold.
    pub candidates_kept: usize,
}

/// The result of [`private_evolution`].
#[derive(Clone, Debug, PartialEq)]
pub struct Evolution {
    /// The last generation: the synthetic data.
    pub synthetic: Points,
    /// One entry per iteration.
    pub iterations: Vec<IterationStats>,
    /// The guarantee of one iteration (`None` without noise); the run is `iterations.len()`
    /// adaptive compositions of it.
    pub event: Option<PrivacyEvent>,
}

impl Evolution {
    /// The run's events for an accountant: `(event, T)`; empty without noise.
    pub fn events(&self) -> Vec<(PrivacyEvent, u64)> {
        self.event
            .iter()
            .map(|e| (e.clone(), self.iterations.len() as u64))
            .collect()
    }

    /// ε at `delta` of the whole run, composed by `accountant` (fresh, e.g. an `rdp` one);
    /// infinite without noise.
    pub fn epsilon(&self, accountant: &mut AccountantBox, delta: f64) -> Result<f64, DpError> {
        if self.event.is_none() {
            return Ok(f64::INFINITY);
        }
        for (event, count) in self.events() {
            accountant
                .compose(&event, count)
                .into_result()
                .map_err(|source| DpError::Plugin {
                    call: "accountant compose",
                    source,
                })?;
        }
        accountant
            .epsilon(delta)
            .into_result()
            .map_err(|source| DpError::Plugin {
                call: "accountant epsilon",
                source,
            })
    }
}

/// `population` indices drawn with replacement with probabilities ∝ `weights` (uniform when
/// every weight is 0), from exact integer draws on the weights' 2^-32 quantization.
fn resample(weights: &[f64], population: usize, rng: &mut ChaCha20Rng) -> Vec<usize> {
    let total: f64 = weights.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return (0..population)
            .map(|_| uniform_below(rng, weights.len() as u128) as usize)
            .collect();
    }
    // Cumulative integer weights (post-processing randomness: quantization only changes which
    // public candidates are copied, not the privacy).
    let mut cumulative = Vec::with_capacity(weights.len());
    let mut acc: u128 = 0;
    for w in weights {
        acc += (w / total * 2f64.powi(32)).round() as u128;
        cumulative.push(acc);
    }
    if acc == 0 {
        return (0..population)
            .map(|_| uniform_below(rng, weights.len() as u128) as usize)
            .collect();
    }
    (0..population)
        .map(|_| {
            let u = uniform_below(rng, acc);
            cumulative.partition_point(|&c| c <= u)
        })
        .collect()
}

/// [`resample`] from a seed, for the property tests.
#[cfg(test)]
pub(crate) fn resample_for_tests(weights: &[f64], population: usize, seed: u64) -> Vec<usize> {
    resample(
        weights,
        population,
        &mut rng_from_seed(&RngSeed::from_u64(seed)),
    )
}

/// Private Evolution (Lin, Gopi, Kulkarni, Nori, Yekhanin and Hua, "Differentially Private
/// Synthetic Data via Foundation Model APIs 1: Images", ICLR 2024, Algorithm 1), in ℝᵈ.
///
/// `S₀ = RANDOM(N)`; for each iteration `t`: the private points vote for their nearest
/// candidates in `S_{t−1}` (or in the mean of `lookahead` variations of each), the votes get
/// Gaussian noise and the threshold ([`super::dp_nearest_neighbor_histogram`]), `N` points are
/// drawn from `S_{t−1}` in proportion to the noisy counts, and `S_t` is their variation at
/// degree `t`. Returns `S_T`.
///
/// **Privacy** (neighbours: one private point added or removed): the generator never sees
/// private data, and each iteration reads it only through one Gaussian mechanism on a
/// histogram of L2 sensitivity `√k`. The run is the adaptive composition of `T` such events
/// ([`Evolution::events`]), which an accountant turns into (ε, δ).
///
/// `observe` is called with `(t, S_t)` after every generation, `t = 0` included.
pub fn private_evolution(
    private: &Points,
    generator: &mut dyn Generator,
    config: &EvolutionConfig,
    observe: &mut dyn FnMut(usize, &Points),
) -> Result<Evolution, DpError> {
    config.validate()?;
    if private.is_empty() {
        return Err(DpError::param("private", "need at least one private point"));
    }
    if private.dim() != generator.dim() {
        return Err(DpError::param(
            "private",
            format!(
                "private points have dimension {}, the generator {}",
                private.dim(),
                generator.dim()
            ),
        ));
    }
    let k = config.nearest_neighbors;
    let mut noise = config.noise.source((k as f64).sqrt())?;
    let event = iteration_event(&config.noise, k)?;
    let mut rng = rng_from_seed(&config.resampling_seed);
    let mut current = generator.random(config.population)?;
    observe(0, &current);
    let mut iterations = Vec::with_capacity(config.iterations());
    for (i, &degree) in config.variation_degrees.iter().enumerate() {
        let voters = if config.lookahead == 0 {
            current.clone()
        } else {
            let mut sum = vec![0.0; current.as_slice().len()];
            for _ in 0..config.lookahead {
                let v = generator.variation(&current, degree)?;
                sum.iter_mut().zip(v.as_slice()).for_each(|(s, x)| *s += x);
            }
            let n = config.lookahead as f64;
            Points::from_parts(current.dim(), sum.into_iter().map(|s| s / n).collect())
        };
        let histogram =
            dp_nearest_neighbor_histogram(private, &voters, k, config.threshold, noise.as_mut())?;
        let chosen = resample(&histogram, config.population, &mut rng);
        current = generator.variation(&current.select(&chosen), degree)?;
        iterations.push(IterationStats {
            iteration: i + 1,
            variation_degree: degree,
            votes: histogram.iter().sum(),
            candidates_kept: histogram.iter().filter(|h| **h > 0.0).count(),
        });
        observe(i + 1, &current);
    }
    Ok(Evolution {
        synthetic: current,
        iterations,
        event,
    })
}
