//! The binary tree counter and Honaker's variance-reduced estimate.

use crate::noise::{Noise, NoiseSource};
use crate::{DpError, PrivacyEvent, Sampling};

use super::{check_dim_and_bound, check_horizon, check_step_input};

/// How a [`TreeCounter`] reads a prefix sum off its noisy dyadic blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TreeEstimator {
    /// The sum of the noisy blocks of the dyadic decomposition of `t`: variance
    /// `popcount(t) · σ²`.
    Plain,
    /// Each block's noisy value averaged with the sum of its children's estimates by inverse
    /// variance (Honaker 2015, the bottom-up pass, which needs no future blocks): a block at
    /// height `h` has variance `V_h σ²` with `V_0 = 1`, `V_h = 2V_{h−1} / (2V_{h−1} + 1) =
    /// 2^h / (2^{h+1} − 1)`, so the prefix at `t` has variance `Σ_{h ∈ bits(t)} V_h σ²`.
    #[default]
    Honaker,
}

/// Private prefix sums by the binary tree mechanism.
///
/// Time is cut into dyadic blocks: at height `h` (`0 ≤ h < L`, `L = ⌊log₂T⌋ + 1`, the bit
/// length of `T`) the blocks `((j−1)·2^h, j·2^h]`. When a block completes, its sum gets
/// independent Gaussian noise of standard deviation `σ = noise_multiplier · l2_bound · √L`;
/// the prefix sum at `t` is read from the `popcount(t)` completed blocks of `t`'s binary
/// decomposition. An element lies in one block per height, so it touches at most `L ≤
/// ⌈log₂T⌉ + 1` noisy blocks, and the vector of all blocks has L2 sensitivity
/// `l2_bound · √L`: the whole stream is one Gaussian mechanism at `noise_multiplier`.
/// Memory: `3 · L · dim` values (open block sums, latest and previous block estimates).
pub struct TreeCounter {
    horizon: usize,
    dim: usize,
    levels: usize,
    estimator: TreeEstimator,
    step: usize,
    /// Open block sums, one per height.
    open: Vec<f64>,
    /// The latest completed block's estimate, one per height.
    latest: Vec<f64>,
    /// The completed block before it (the left sibling of the next parent), one per height.
    previous: Vec<f64>,
    /// Honaker's weight on a block's own noisy value, per height.
    weights: Vec<f64>,
    noise: Box<dyn NoiseSource>,
    l2_bound: f64,
    noise_multiplier: f64,
    scratch: Vec<f64>,
}

impl std::fmt::Debug for TreeCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeCounter")
            .field("horizon", &self.horizon)
            .field("dim", &self.dim)
            .field("levels", &self.levels)
            .field("estimator", &self.estimator)
            .field("step", &self.step)
            .field("node_std_dev", &self.noise.std_dev())
            .finish()
    }
}

/// Honaker's relative variances `V_h = 2^h / (2^{h+1} − 1)`, `h < levels`.
fn honaker_variances(levels: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(levels);
    for h in 0..levels {
        v.push(if h == 0 {
            1.0
        } else {
            let c = 2.0 * v[h - 1];
            c / (c + 1.0)
        });
    }
    v
}

impl TreeCounter {
    /// A counter for `horizon` steps of `dim` values, each step's contribution of L2 norm at
    /// most `l2_bound`. Errors name `horizon` (0), `dim` (0), `l2_bound` and
    /// `noise_multiplier`.
    pub fn new(
        horizon: usize,
        dim: usize,
        l2_bound: f64,
        estimator: TreeEstimator,
        noise: Noise,
    ) -> Result<TreeCounter, DpError> {
        check_horizon(horizon)?;
        check_dim_and_bound(dim, l2_bound)?;
        let levels = TreeCounter::levels(horizon);
        let sensitivity = l2_bound * (levels as f64).sqrt();
        Ok(TreeCounter {
            horizon,
            dim,
            levels,
            estimator,
            step: 0,
            open: vec![0.0; levels * dim],
            latest: vec![0.0; levels * dim],
            previous: vec![0.0; levels * dim],
            weights: honaker_variances(levels),
            noise: noise.source(sensitivity)?,
            l2_bound,
            noise_multiplier: noise.noise_multiplier(),
            scratch: vec![0.0; dim],
        })
    }

    /// The number of heights `L = ⌊log₂T⌋ + 1` (the bit length of `T`): the most noisy blocks
    /// one element touches, at most `⌈log₂T⌉ + 1`.
    pub fn levels(horizon: usize) -> usize {
        (usize::BITS - horizon.leading_zeros()) as usize
    }

    /// The expected squared error of each prefix sum `s_1, …, s_T` per coordinate, per unit
    /// block variance (`σ² = 1`).
    pub fn step_variances(horizon: usize, estimator: TreeEstimator) -> Vec<f64> {
        let v = honaker_variances(TreeCounter::levels(horizon));
        (1..=horizon)
            .map(|t| match estimator {
                TreeEstimator::Plain => t.count_ones() as f64,
                TreeEstimator::Honaker => {
                    (0..v.len()).filter(|h| t >> h & 1 == 1).map(|h| v[h]).sum()
                }
            })
            .collect()
    }

    /// The standard deviation of each block's noise (0 when the noise is off).
    pub fn node_std_dev(&self) -> f64 {
        self.noise.std_dev()
    }

    /// The steps released so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The guarantee of the whole stream (all `T` releases together), to be composed once;
    /// `None` when the noise is off. The rounding of block sums onto the noise grid is charged
    /// to the sensitivity over the `L · dim` coordinates one element can move.
    pub fn event(&self) -> Option<PrivacyEvent> {
        self.noise.seed_source()?;
        let l2 = self.l2_bound * (self.levels as f64).sqrt();
        let charged = self
            .noise
            .charged_sensitivity(l2, (self.levels * self.dim) as u64);
        debug_assert!(self.noise_multiplier > 0.0);
        Some(PrivacyEvent::Gaussian {
            noise_multiplier: self.noise.std_dev() / charged,
            sampling: Sampling::Full,
        })
    }

    /// Add step `t`'s values `x` and return the private prefix sum `x_1 + … + x_t`.
    pub fn push(&mut self, x: &[f64]) -> Result<Vec<f64>, DpError> {
        let mut out = vec![0.0; self.dim];
        self.push_into(x, &mut out)?;
        Ok(out)
    }

    /// [`TreeCounter::push`] writing the prefix sum into `out` (`dim` values).
    pub fn push_into(&mut self, x: &[f64], out: &mut [f64]) -> Result<(), DpError> {
        let d = self.dim;
        let t = self.step + 1;
        if t > self.horizon {
            return Err(DpError::param(
                "step",
                format!(
                    "the stream has horizon T = {} and is complete",
                    self.horizon
                ),
            ));
        }
        check_step_input(x, d, t)?;
        if out.len() != d {
            return Err(DpError::param(
                "out",
                format!("expected {d} values, got {}", out.len()),
            ));
        }
        for h in 0..self.levels {
            self.open[h * d..(h + 1) * d]
                .iter_mut()
                .zip(x)
                .for_each(|(o, v)| *o += v);
        }
        // Heights whose block ends at t: 0 ..= trailing_zeros(t), below L.
        let top = (t.trailing_zeros() as usize).min(self.levels - 1);
        for h in 0..=top {
            let range = h * d..(h + 1) * d;
            self.scratch.copy_from_slice(&self.open[range.clone()]);
            self.open[range.clone()].iter_mut().for_each(|o| *o = 0.0);
            self.noise.privatize(&mut self.scratch)?;
            if self.estimator == TreeEstimator::Honaker && h > 0 {
                // Children: the block at h − 1 just completed and the one before it.
                let w = self.weights[h];
                let below = (h - 1) * d..h * d;
                for i in 0..d {
                    let children = self.previous[below.start + i] + self.latest[below.start + i];
                    self.scratch[i] = w * self.scratch[i] + (1.0 - w) * children;
                }
            }
            // The latest block at this height becomes the previous one; this one the latest.
            let (prev, latest) = (&mut self.previous[range.clone()], &mut self.latest[range]);
            prev.copy_from_slice(latest);
            latest.copy_from_slice(&self.scratch);
        }
        out.iter_mut().for_each(|o| *o = 0.0);
        for h in 0..self.levels {
            if t >> h & 1 == 1 {
                out.iter_mut()
                    .zip(&self.latest[h * d..(h + 1) * d])
                    .for_each(|(o, v)| *o += v);
            }
        }
        self.step = t;
        Ok(())
    }
}
