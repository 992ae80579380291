//! Post-processing of count estimates into consistent ones (non-negative, summing to `n`).
//!
//! Wang, Lopuhaä-Zwakenberg, Li, Škorić, Li: "Locally Differentially Private Frequency
//! Estimation with Consistency", NDSS 2020. Post-processing uses only the estimates, so it
//! costs no privacy; it trades the estimator's unbiasedness for a smaller error.
//!
//! - [`clip`]: negative estimates become 0.
//! - [`norm_sub`]: Norm-Sub — add one constant `δ` to every estimate and clip at 0, with `δ`
//!   chosen so that the result sums to `n` (the projection the paper finds best for most
//!   tasks).
//! - [`base_cut`]: Base-Cut — estimates below the significance threshold
//!   `σᵢ·Φ⁻¹(1 − α/d)` (Bonferroni over the `d` items) become 0, the others are kept.

use statrs::distribution::{ContinuousCDF, Normal};

/// How to post-process estimates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PostProcess {
    /// Leave the unbiased estimates as they are.
    None,
    /// Clip negatives to 0.
    Clip,
    /// Norm-Sub: shift and clip so the estimates are ≥ 0 and sum to `n`.
    NormSub,
    /// Base-Cut at family-wise significance level `alpha`.
    BaseCut {
        /// Significance level, Bonferroni-corrected over the items (0.05 in the paper).
        alpha: f64,
    },
}

impl PostProcess {
    /// Parse `none`, `clip`, `norm-sub`, `base-cut` (α = 0.05) or `base-cut:ALPHA`.
    pub fn parse(s: &str) -> Result<PostProcess, String> {
        match s {
            "none" => Ok(PostProcess::None),
            "clip" => Ok(PostProcess::Clip),
            "norm-sub" => Ok(PostProcess::NormSub),
            "base-cut" => Ok(PostProcess::BaseCut { alpha: 0.05 }),
            _ => match s.strip_prefix("base-cut:").map(str::parse::<f64>) {
                Some(Ok(alpha)) if alpha > 0.0 && alpha < 1.0 => {
                    Ok(PostProcess::BaseCut { alpha })
                }
                _ => Err(format!(
                    "unknown post-processing `{s}`: expected none, clip, norm-sub, base-cut or base-cut:ALPHA (0 < ALPHA < 1)"
                )),
            },
        }
    }

    /// Apply to `counts` (with their `variance`) from `n` reports.
    pub fn apply(&self, counts: &[f64], variance: &[f64], n: f64) -> Vec<f64> {
        match *self {
            PostProcess::None => counts.to_vec(),
            PostProcess::Clip => clip(counts),
            PostProcess::NormSub => norm_sub(counts, n),
            PostProcess::BaseCut { alpha } => base_cut(counts, variance, alpha),
        }
    }
}

/// Negative estimates become 0.
pub fn clip(counts: &[f64]) -> Vec<f64> {
    counts.iter().map(|&c| c.max(0.0)).collect()
}

/// Norm-Sub: `max(ĉᵢ + δ, 0)` with `δ` such that the results sum to `n` (`n > 0`). When every
/// estimate is `≤ −δ` for all `δ` that could work (no positive mass at all), the mass goes to
/// the largest estimates equally.
pub fn norm_sub(counts: &[f64], n: f64) -> Vec<f64> {
    if counts.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<f64> = counts.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    // Keep the k largest: δ = (n − Σ top k)/k must leave the k-th positive and the (k+1)-th
    // at or below zero. The largest valid k is the answer (Σ max(ĉ + δ, 0) is monotone in δ).
    let mut sum = 0.0;
    let mut delta = n - sorted[0];
    for (k, &c) in sorted.iter().enumerate() {
        sum += c;
        let d = (n - sum) / (k + 1) as f64;
        if c + d > 0.0 {
            delta = d;
        } else {
            break;
        }
    }
    counts.iter().map(|&c| (c + delta).max(0.0)).collect()
}

/// Base-Cut: estimates below `sqrt(varianceᵢ)·Φ⁻¹(1 − α/d)` become 0.
pub fn base_cut(counts: &[f64], variance: &[f64], alpha: f64) -> Vec<f64> {
    let z = base_cut_z(counts.len(), alpha);
    counts
        .iter()
        .zip(variance)
        .map(|(&c, &v)| if c < z * v.max(0.0).sqrt() { 0.0 } else { c })
        .collect()
}

/// The Bonferroni-corrected normal quantile `Φ⁻¹(1 − α/d)` of Base-Cut.
pub fn base_cut_z(d: usize, alpha: f64) -> f64 {
    let std_normal = Normal::new(0.0, 1.0).expect("the standard normal is valid");
    std_normal.inverse_cdf(1.0 - alpha / d.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_sub_hand_computed() {
        // n = 10, estimates (8, 4, −1, −3): keep the top two: δ = (10 − 12)/2 = −1 → (7, 3, 0, 0);
        // with the third, δ = (10 − 11)/3 = −1/3 and −1 − 1/3 < 0, so it is not kept.
        let out = norm_sub(&[8.0, 4.0, -1.0, -3.0], 10.0);
        assert_eq!(out, vec![7.0, 3.0, 0.0, 0.0]);
        // Already consistent: unchanged.
        assert_eq!(norm_sub(&[2.0, 3.0, 5.0], 10.0), vec![2.0, 3.0, 5.0]);
        // Too little mass: everything shifts up.
        assert_eq!(norm_sub(&[1.0, 1.0], 4.0), vec![2.0, 2.0]);
        let out = norm_sub(&[-5.0, -7.0, -6.0], 3.0);
        assert_eq!(out.iter().sum::<f64>(), 3.0);
        assert!(out.iter().all(|&c| c >= 0.0));
    }

    #[test]
    fn base_cut_hand_computed() {
        // d = 4, α = 0.05: z = Φ⁻¹(1 − 0.0125) = 2.2414; σ = 10 → threshold 22.41.
        let z = base_cut_z(4, 0.05);
        assert!((z - 2.241_402_727_604_945).abs() < 1e-9, "{z}");
        let out = base_cut(&[30.0, 22.0, -5.0, 23.0], &[100.0; 4], 0.05);
        assert_eq!(out, vec![30.0, 0.0, 0.0, 23.0]);
        assert_eq!(clip(&[-1.0, 2.0]), vec![0.0, 2.0]);
    }

    #[test]
    fn parse_names() {
        assert_eq!(
            PostProcess::parse("norm-sub").unwrap(),
            PostProcess::NormSub
        );
        assert_eq!(
            PostProcess::parse("base-cut:0.01").unwrap(),
            PostProcess::BaseCut { alpha: 0.01 }
        );
        assert!(PostProcess::parse("base-cut:2").is_err());
        assert!(PostProcess::parse("bogus").unwrap_err().contains("bogus"));
    }
}
