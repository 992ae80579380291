//! The grid of multiples of `2^k` that real values are rounded onto before integer noise is
//! added, as OpenDP does for float inputs (Mironov, "On Significance of the Least Significant
//! Bits for Differential Privacy", CCS 2012, is why floats never meet float noise).
//!
//! Rounding `x` to the nearest multiple of `2^k` is exact integer arithmetic on the binary
//! representation of `x`: the result is the integer `n = round(x / 2^k)` (ties to even). It
//! moves each value by at most `2^(k−1)`, so two inputs that differ by `d` in one coordinate
//! land at most `d + 2^k` apart on the grid: mechanisms add `2^k` per coordinate to the
//! sensitivity they charge (L1: `Δ + m·2^k`, L2: `Δ + √m·2^k`, per-score: `Δ + 2^k`).
//! Converting `n + noise` back to `f64` is post-processing.

use super::rational::{decompose, floor_log2, pow2};
use crate::checks::{check_epsilon, check_positive_sensitivity};
use crate::DpError;

#[cfg(test)]
mod tests;

/// The grid `2^k · ℤ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    k: i32,
}

/// The largest `|n|` a grid point may have (so that noise can be added without overflow).
pub const MAX_GRID_INDEX: u128 = 1 << 126;

impl Grid {
    /// The grid of multiples of `2^k`.
    pub const fn new(k: i32) -> Grid {
        Grid { k }
    }

    /// The grid on which `scale / 2^k` lies in `[2^bits, 2^(bits+1))`, for a finite
    /// `scale > 0`.
    pub fn for_scale(scale: f64, bits: u32) -> Grid {
        Grid {
            k: floor_log2(scale) - bits as i32,
        }
    }

    /// The exponent `k`.
    pub fn exponent(&self) -> i32 {
        self.k
    }

    /// The grid step `2^k` (exact).
    pub fn step(&self) -> f64 {
        pow2(self.k)
    }

    /// `x / 2^k`, exact unless it leaves the `f64` range.
    pub fn units(&self, x: f64) -> f64 {
        // Two steps so that 2^-k never overflows on its own.
        let half = -self.k / 2;
        x * pow2(half) * pow2(-self.k - half)
    }

    /// `x` rounded to the nearest multiple of `2^k` (ties to even), as that multiple's index
    /// `n` (`x ≈ n · 2^k`). `None` if `x` is not finite or `|n|` would exceed
    /// [`MAX_GRID_INDEX`].
    pub fn round(&self, x: f64) -> Option<i128> {
        if !x.is_finite() {
            return None;
        }
        if x == 0.0 {
            return Some(0);
        }
        let (mantissa, exponent) = decompose(x);
        let d = exponent - self.k;
        let magnitude: u128 = if d >= 0 {
            let len = 128 - (mantissa as u128).leading_zeros() as i32;
            if len + d > 126 {
                return None;
            }
            (mantissa as u128) << d
        } else {
            let sh = -d;
            if sh > 64 {
                0 // mantissa < 2^53 <= 2^(sh - 1): below half a step
            } else {
                let m = mantissa as u128;
                let q = m >> sh;
                let r = m & ((1u128 << sh) - 1);
                let half = 1u128 << (sh - 1);
                if r > half || (r == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            }
        };
        Some(if x < 0.0 {
            -(magnitude as i128)
        } else {
            magnitude as i128
        })
    }

    /// Round every value, or an error naming the first one that is not finite or too large
    /// for this grid (by its index).
    pub fn round_all(&self, values: &[f64]) -> Result<Vec<i128>, DpError> {
        values
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                self.round(x).ok_or_else(|| {
                    DpError::input(format!(
                        "value {x} at index {i} is not finite or too large for the grid 2^{} (|x| must stay below 2^{})",
                        self.k,
                        self.k + 126
                    ))
                })
            })
            .collect()
    }

    /// The grid point `n · 2^k` as the nearest `f64` (post-processing).
    pub fn value(&self, n: i128) -> f64 {
        let half = self.k / 2;
        (n as f64) * pow2(half) * pow2(self.k - half)
    }
}

/// Exact integer inputs: `x` as an `i128` if it is a finite integer, or an error naming it by
/// index (integer-valued mechanisms take no rounding, so nothing is charged for it).
pub fn integers(values: &[f64]) -> Result<Vec<i128>, DpError> {
    values
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if x.is_finite() && x.fract() == 0.0 && x.abs() < 2f64.powi(126) {
                Ok(x as i128)
            } else {
                Err(DpError::input(format!(
                    "value {x} at index {i} is not an integer (this mechanism releases integer queries)"
                )))
            }
        })
        .collect()
}

/// Scores on a grid fine enough for selection mechanisms (exponential mechanism,
/// report-noisy-max, permute-and-flip, noisy top-k, sparse vector), with the per-score
/// sensitivity as an integer number of grid steps.
///
/// The grid step is `2^k ≤ Δ · 2^-bits`; two neighbouring score vectors (each score moves by
/// at most Δ) round to integer vectors whose scores move by at most
/// `D = ⌊Δ / 2^k⌋ + 1` steps (the rounding adds at most one step). Mechanisms then use an
/// integer temperature `T ≥ f·D/ε` from [`ScoreGrid::temperature`], so the privacy loss
/// `f·D/T` they are analysed with never exceeds ε.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreGrid {
    grid: Grid,
    steps: u64,
}

impl ScoreGrid {
    /// The most bits of resolution below the sensitivity (fewer when ε is tiny, so that every
    /// temperature stays below 2^51).
    pub const MAX_BITS: i32 = 32;

    /// The grid for per-score sensitivity `sensitivity` (finite, > 0), fine enough for
    /// temperatures `f·D/ε` with `f ≤ max_factor`.
    pub fn new(sensitivity: f64, max_factor: u64, epsilon: f64) -> Result<ScoreGrid, DpError> {
        check_positive_sensitivity(sensitivity)?;
        check_epsilon(epsilon)?;
        // T ≈ f·2^(bits+1)/ε must stay below 2^51.
        let factor_bits = 64 - max_factor.max(1).leading_zeros() as i32;
        let bits = (49 - factor_bits + floor_log2(epsilon).min(0)).min(Self::MAX_BITS);
        if bits < 8 {
            return Err(DpError::param(
                "epsilon",
                format!("{epsilon} is too small for an exact selection (needs ε·2^{factor_bits} ≥ 2^-33)"),
            ));
        }
        let grid = Grid::for_scale(sensitivity, bits as u32);
        // Δ / 2^k is exact and below 2^33: its floor fits a u64.
        let steps = grid.units(sensitivity).floor() as u64 + 1;
        Ok(ScoreGrid { grid, steps })
    }

    /// The grid.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// D: the largest change of a rounded score between neighbours, in grid steps.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Round the scores, or an error naming the first bad one.
    pub fn round(&self, scores: &[f64]) -> Result<Vec<i128>, DpError> {
        if scores.is_empty() {
            return Err(DpError::input("no scores: give at least one candidate"));
        }
        self.grid.round_all(scores)
    }

    /// The smallest integer `T` with `factor · D / T ≤ epsilon`, exactly.
    pub fn temperature(&self, factor: u64, epsilon: f64) -> Result<u64, DpError> {
        temperature(factor as u128 * self.steps as u128, epsilon)
    }
}

/// The smallest integer `T ≥ 1` with `numer / T ≤ epsilon` exactly (the sign of the fused
/// `T·ε − numer` is exact), for `numer < 2^53` and `T ≤ 2^52`.
pub fn temperature(numer: u128, epsilon: f64) -> Result<u64, DpError> {
    check_epsilon(epsilon)?;
    let limit = 2f64.powi(52);
    let t = if numer < 1 << 53 {
        (numer as f64 / epsilon).ceil().max(1.0)
    } else {
        f64::INFINITY
    };
    if t >= limit {
        return Err(DpError::param(
            "epsilon",
            format!("{epsilon} is too small for an exact noise scale at this resolution"),
        ));
    }
    let n = numer as f64;
    let mut t = t;
    while t.mul_add(epsilon, -n) < 0.0 {
        t += 1.0;
    }
    Ok(t as u64)
}
