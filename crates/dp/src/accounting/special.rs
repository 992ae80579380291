//! Numerics shared by the accountants: log-space arithmetic and special functions that keep
//! their relative accuracy far into the tails (privacy losses live there).
//!
//! `erfc` and `lgamma` come from `libm` (the musl/FreeBSD implementations, ~1 ulp); the
//! asymptotic expansion below takes over where `erfc` underflows.

use std::f64::consts::{LN_2, PI, SQRT_2};

/// `ln(e^a + e^b)`, exact when either side is `-∞`.
pub fn log_add(a: f64, b: f64) -> f64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln(e^a − e^b)` for `a ≥ b` (`-∞` when they are equal); `NaN` when `a < b`.
pub fn log_sub(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if a < b {
        return f64::NAN;
    }
    if a == b {
        return f64::NEG_INFINITY;
    }
    a + (-(b - a).exp()).ln_1p()
}

/// `ln Σ e^{x_i}` (`-∞` for an empty slice).
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY || max == f64::INFINITY {
        return max;
    }
    max + xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// A real number as a sign and the logarithm of its magnitude (zero is `ln_abs = -∞`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignedLog {
    /// Whether the number is ≥ 0.
    pub positive: bool,
    /// `ln |x|`.
    pub ln_abs: f64,
}

impl SignedLog {
    /// A positive number given by its logarithm.
    pub fn from_ln(ln: f64) -> SignedLog {
        SignedLog {
            positive: true,
            ln_abs: ln,
        }
    }

    /// `self − other`, computed in log space.
    pub fn sub(self, other: SignedLog) -> SignedLog {
        let neg = SignedLog {
            positive: !other.positive,
            ln_abs: other.ln_abs,
        };
        self.add(neg)
    }

    /// `self + other`, computed in log space.
    pub fn add(self, other: SignedLog) -> SignedLog {
        if self.positive == other.positive {
            return SignedLog {
                positive: self.positive,
                ln_abs: log_add(self.ln_abs, other.ln_abs),
            };
        }
        // Opposite signs: the larger magnitude keeps its sign.
        let (big, small) = if self.ln_abs >= other.ln_abs {
            (self, other)
        } else {
            (other, self)
        };
        SignedLog {
            positive: big.positive || big.ln_abs == small.ln_abs,
            ln_abs: log_sub(big.ln_abs, small.ln_abs),
        }
    }
}

/// `erfc(x)` (libm).
pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// `ln erfc(x)` with full relative accuracy for large `x`, where `erfc` underflows: there the
/// asymptotic series `erfc(x) = e^{-x²}/(x√π) · Σ (-1)^n (2n−1)!! / (2x²)^n` is used (from
/// x = 26 its first six terms leave a relative error below 1e-17).
pub fn log_erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 26.0 {
        return erfc(x).ln();
    }
    let y = 1.0 / (2.0 * x * x);
    // 1 − y + 3y² − 15y³ + 105y⁴ − 945y⁵
    let series = 1.0 - y * (1.0 - y * (3.0 - y * (15.0 - y * (105.0 - y * 945.0))));
    -x * x - x.ln() - 0.5 * PI.ln() + series.ln()
}

/// The standard normal CDF Φ(x), accurate in relative terms in the lower tail.
pub fn ndtr(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// `ln Φ(x)`, accurate in relative terms in the lower tail (x → −∞).
pub fn log_ndtr(x: f64) -> f64 {
    if x > 0.0 {
        // Φ(x) = 1 − Φ(−x): ln1p keeps the digits when Φ(−x) is tiny.
        (-ndtr(-x)).ln_1p()
    } else {
        log_erfc(-x / SQRT_2) - LN_2
    }
}

/// `ln |Γ(x)|` (libm's `lgamma_r`).
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma_r(x).0
}

/// `ln |C(n, k)| = ln|Γ(n+1)| − ln Γ(k+1) − ln|Γ(n−k+1)|` for real `n` (the generalised
/// binomial coefficient's magnitude).
pub fn ln_binomial(n: f64, k: f64) -> f64 {
    ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_space_arithmetic() {
        assert!((log_add(2f64.ln(), 3f64.ln()) - 5f64.ln()).abs() < 1e-15);
        assert_eq!(log_add(f64::NEG_INFINITY, 1.5), 1.5);
        assert!((log_sub(5f64.ln(), 3f64.ln()) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(log_sub(1.0, 1.0), f64::NEG_INFINITY);
        assert!(log_sub(0.0, 1.0).is_nan());
        let s = log_sum_exp(&[0.0, 1f64.ln(), 2f64.ln()]);
        assert!((s - 4f64.ln()).abs() < 1e-15);
        let a = SignedLog::from_ln(3f64.ln());
        let b = SignedLog::from_ln(5f64.ln());
        let d = a.sub(b);
        assert!(!d.positive && (d.ln_abs - 2f64.ln()).abs() < 1e-15);
        let e = d.add(SignedLog::from_ln(7f64.ln()));
        assert!(e.positive && (e.ln_abs - 5f64.ln()).abs() < 1e-15);
    }

    /// erfc and its logarithm against values from mpmath (50 digits).
    #[test]
    fn erfc_tails() {
        // mpmath.erfc(3) = 2.2090496998585441373e-5
        assert!((erfc(3.0) / 2.209_049_699_858_544e-5 - 1.0).abs() < 1e-14);
        // ln erfc(30) = -903.97411711064387..., ln erfc(100) = -10005.1775851226643...
        assert!((log_erfc(30.0) + 903.974_117_110_643_9).abs() < 1e-11);
        assert!((log_erfc(100.0) + 10_005.177_585_122_664).abs() < 1e-9);
        // Continuity where the two branches meet.
        let below = erfc(25.999_999).ln();
        assert!((log_erfc(26.0) - below).abs() < 1e-4);
        // ln Φ(-40) = -804.608442013754...
        assert!((log_ndtr(-40.0) + 804.608_442_013_754).abs() < 1e-10);
        assert!((log_ndtr(10.0) + 7.619_853_024_160_527e-24).abs() < 1e-36);
        assert!((ndtr(0.0) - 0.5).abs() < 1e-16);
    }

    #[test]
    fn binomials() {
        assert!((ln_binomial(10.0, 3.0) - 120f64.ln()).abs() < 1e-12);
        // |C(2.5, 4)| = |2.5·1.5·0.5·(−0.5)| / 24 = 0.0390625
        assert!((ln_binomial(2.5, 4.0) - 0.039_062_5f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - 0.5 * PI.ln()).abs() < 1e-14);
    }
}
