//! Banded lower-triangular Toeplitz strategy matrices `C` for the prefix-sum workload `A`,
//! and everything computed from their band coefficients in `O(T · bands)`: the decoder
//! `B = A·C⁻¹`, its per-step error, and the sensitivity under multi-epoch participation.

use crate::noise::Noise;
use crate::DpError;

use super::{check_dim_and_bound, check_horizon, MfCounter, MfStream, Participation};

/// Which squared error over the `T` prefix sums an optimised factorization minimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Objective {
    /// The mean over steps of the expected squared error of `s_t` (jax_privacy's `mean`).
    #[default]
    Mean,
    /// The largest expected squared error over steps (for Toeplitz `C`, the last step's).
    Max,
}

/// A `T × T` lower-triangular banded Toeplitz matrix `C` with `C[i][i−j] = coefs[j]` for
/// `j < bands` (and 0 below the band), the strategy of the matrix mechanism `A = B·C` for
/// prefix sums: the mechanism releases `C·x + z`, `z ~ N(0, σ²)`, and decodes
/// `B·(C·x + z) = A·x + B·z`.
///
/// `B = A·C⁻¹` is lower-triangular Toeplitz with coefficients `s_n = Σ_{m≤n} r_m`, where `r`
/// are the coefficients of `C⁻¹` (`r_0 = 1/c_0`, `r_n = −(Σ_{j=1}^{min(n, b−1)} c_j r_{n−j})/c_0`),
/// so the expected squared error of the prefix sum at step `t` is `σ² · Σ_{n<t} s_n²`.
#[derive(Clone, Debug, PartialEq)]
pub struct BandedToeplitz {
    coefs: Vec<f64>,
}

impl BandedToeplitz {
    /// The matrix with band coefficients `coefs` (`c_0 > 0`, all finite, at least one).
    pub fn new(coefs: Vec<f64>) -> Result<BandedToeplitz, DpError> {
        if coefs.is_empty() {
            return Err(DpError::param("bands", "need at least 1 band coefficient"));
        }
        if let Some(i) = coefs.iter().position(|c| !c.is_finite()) {
            return Err(DpError::param(
                "coefs",
                format!("coefficient {i} is {}, not finite", coefs[i]),
            ));
        }
        if coefs[0] <= 0.0 {
            return Err(DpError::param(
                "coefs",
                format!("the diagonal c_0 must be > 0, got {}", coefs[0]),
            ));
        }
        Ok(BandedToeplitz { coefs })
    }

    /// `C = I`: independent noise on every step (the noise of plain DP-SGD).
    pub fn identity() -> BandedToeplitz {
        BandedToeplitz { coefs: vec![1.0] }
    }

    /// The first `bands` coefficients of `A^{1/2}`, `c_j = binom(2j, j) / 4^j` (Fichtenberger,
    /// Henzinger and Upadhyay, "Constant Matters", ICML 2023): the optimal Toeplitz strategy for
    /// the max error when `bands = T`, and the optimiser's starting point.
    pub fn square_root(bands: usize) -> Result<BandedToeplitz, DpError> {
        if bands == 0 {
            return Err(DpError::param("bands", "must be at least 1"));
        }
        let mut coefs = Vec::with_capacity(bands);
        let mut c = 1.0;
        for j in 0..bands {
            if j > 0 {
                c *= (2 * j - 1) as f64 / (2 * j) as f64;
            }
            coefs.push(c);
        }
        Ok(BandedToeplitz { coefs })
    }

    /// The band coefficients `c_0, …, c_{b−1}`.
    pub fn coefs(&self) -> &[f64] {
        &self.coefs
    }

    /// The number of bands `b`.
    pub fn bands(&self) -> usize {
        self.coefs.len()
    }

    /// `bands ≤ horizon`, else an error naming both.
    pub(crate) fn check_fits(&self, horizon: usize) -> Result<(), DpError> {
        check_horizon(horizon)?;
        if self.bands() > horizon {
            return Err(DpError::param(
                "bands",
                format!(
                    "{} bands do not fit a stream of horizon T = {horizon}",
                    self.bands()
                ),
            ));
        }
        Ok(())
    }

    /// The first `horizon` coefficients of `C⁻¹` (lower-triangular Toeplitz, not banded).
    pub fn inverse_coefs(&self, horizon: usize) -> Vec<f64> {
        inverse_coefs(&self.coefs, horizon)
    }

    /// The coefficients `s_0, …, s_{T−1}` of the decoder `B = A·C⁻¹`.
    pub fn decoder_coefs(&self, horizon: usize) -> Vec<f64> {
        let mut s = self.inverse_coefs(horizon);
        for n in 1..s.len() {
            s[n] += s[n - 1];
        }
        s
    }

    /// The expected squared error of each prefix sum `s_1, …, s_T` per unit noise variance
    /// (`σ² = 1`): `Σ_{n<t} s_n²`, the squared norm of row `t` of `B`.
    pub fn step_variances(&self, horizon: usize) -> Vec<f64> {
        let mut acc = 0.0;
        self.decoder_coefs(horizon)
            .into_iter()
            .map(|s| {
                acc += s * s;
                acc
            })
            .collect()
    }

    /// The L2 sensitivity of `x ↦ C·x` (in units of the per-step contribution bound) when one
    /// person contributes to at most `k` steps at least `b` apart within `horizon` steps.
    ///
    /// Exact when the coefficients are non-negative and non-increasing (the worst case is `k`
    /// participations exactly `b` apart from the first step; Kalinin and Lampert 2024, Theorem 2)
    /// or when `bands ≤ b` (the columns a person touches are orthogonal, and the first ones are
    /// the longest), or when only one participation fits (the first column is the longest).
    /// Otherwise an upper bound: the same formula on the smallest non-increasing
    /// majorant of `|c|`, which dominates `C` entrywise.
    pub fn sensitivity(
        &self,
        horizon: usize,
        participation: Participation,
    ) -> Result<f64, DpError> {
        self.check_fits(horizon)?;
        participation.validate()?;
        let monotone =
            self.coefs.iter().all(|c| *c >= 0.0) && self.coefs.windows(2).all(|w| w[1] <= w[0]);
        let orthogonal = self.bands() <= participation.min_separation;
        let coefs = if monotone || orthogonal || participation.effective(horizon) == 1 {
            self.coefs.clone()
        } else {
            let mut m: Vec<f64> = self.coefs.iter().map(|c| c.abs()).collect();
            for j in (0..m.len().saturating_sub(1)).rev() {
                m[j] = m[j].max(m[j + 1]);
            }
            m
        };
        Ok(spaced_columns_norm_squared(&coefs, horizon, participation).sqrt())
    }

    /// The expected squared error, in units of `(noise_multiplier · l2_bound)²`, of the
    /// prefix sums released with this strategy: the sensitivity squared times the mean (or
    /// max) of [`BandedToeplitz::step_variances`].
    pub fn error(
        &self,
        horizon: usize,
        participation: Participation,
        objective: Objective,
    ) -> Result<f64, DpError> {
        let sens = self.sensitivity(horizon, participation)?;
        let v = self.step_variances(horizon);
        let per_unit = match objective {
            Objective::Mean => v.iter().sum::<f64>() / horizon as f64,
            Objective::Max => v.last().copied().unwrap_or(0.0),
        };
        Ok(sens * sens * per_unit)
    }

    /// A streaming privatizer for `horizon` steps of `dim` values each, whose per-step
    /// contributions have L2 norm at most `l2_bound`: see [`MfStream`].
    pub fn stream(
        &self,
        horizon: usize,
        dim: usize,
        l2_bound: f64,
        participation: Participation,
        noise: Noise,
    ) -> Result<MfStream, DpError> {
        check_dim_and_bound(dim, l2_bound)?;
        let sensitivity = self.sensitivity(horizon, participation)?;
        MfStream::new(
            self.coefs.clone(),
            horizon,
            dim,
            l2_bound,
            sensitivity,
            participation.effective(horizon),
            noise,
        )
    }

    /// Private prefix sums over `horizon` steps: [`BandedToeplitz::stream`] followed by a
    /// running sum.
    pub fn counter(
        &self,
        horizon: usize,
        dim: usize,
        l2_bound: f64,
        participation: Participation,
        noise: Noise,
    ) -> Result<MfCounter, DpError> {
        Ok(MfCounter::new(self.stream(
            horizon,
            dim,
            l2_bound,
            participation,
            noise,
        )?))
    }
}

/// `C⁻¹`'s first `n` coefficients by forward substitution.
pub(crate) fn inverse_coefs(c: &[f64], n: usize) -> Vec<f64> {
    let mut r = vec![0.0; n];
    for i in 0..n {
        let mut acc = if i == 0 { 1.0 } else { 0.0 };
        for j in 1..c.len().min(i + 1) {
            acc -= c[j] * r[i - j];
        }
        r[i] = acc / c[0];
    }
    r
}

/// `‖Σ_{j<k'} C e_{j·b}‖²` for the `T × T` banded Toeplitz `C` with coefficients `c`, where
/// `k'` = the participations that fit. With orthogonal columns (`bands ≤ b`) this is the sum of
/// the squared column norms. Only the `≤ k'·bands` rows those columns touch are visited, so
/// time and memory do not grow with `T`.
fn spaced_columns_norm_squared(c: &[f64], horizon: usize, p: Participation) -> f64 {
    let k = p.effective(horizon);
    let (b, bands) = (p.min_separation, c.len());
    let mut rows: Vec<usize> = (0..k)
        .flat_map(|j| j * b..(j * b + bands).min(horizon))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows.iter()
        .map(|&row| {
            // Participations j with 0 <= row - j*b < bands.
            let first = (row + 1).saturating_sub(bands).div_ceil(b);
            let last = (row / b).min(k - 1);
            let v: f64 = (first..=last).map(|j| c[row - j * b]).sum();
            v * v
        })
        .sum()
}
