//! Calibration: the smallest noise multiplier that meets a target ε, and the largest number
//! of steps a noise multiplier affords — by bracketing and bisection over any ε oracle (in
//! practice a fresh accountant per evaluation, see [`crate::Accounting`]).
//!
//! Guarantees, whatever the accountant:
//! - [`smallest_noise_multiplier`] returns a σ whose evaluated ε is ≤ the target, together
//!   with a `lower` σ whose evaluated ε exceeds it, and `σ − lower ≤ tolerance · σ`. Where ε
//!   decreases with σ (every accountant here, up to discretization) σ is within the relative
//!   tolerance of the smallest σ meeting the target.
//! - [`largest_steps`] returns T with ε(T) ≤ target and ε(T + 1) > target (both evaluated),
//!   or 0 when one step already exceeds the target.
//!
//! This is what Opacus's `get_noise_multiplier` and `make_private_with_epsilon` do; Opacus
//! stops when ε is within 0.01 of the target, here the stop is on σ itself.

use mosaic_abi::EpsilonReport;

use crate::DpError;

/// The default relative tolerance on σ: the returned σ is at most 0.01 % above the smallest
/// one meeting the target.
pub const DEFAULT_RELATIVE_TOLERANCE: f64 = 1e-4;

/// The search range for σ: no calibration answers below `MIN_NOISE_MULTIPLIER` or above
/// `MAX_NOISE_MULTIPLIER`.
pub const MIN_NOISE_MULTIPLIER: f64 = 1.0 / 1024.0;
/// See [`MIN_NOISE_MULTIPLIER`].
pub const MAX_NOISE_MULTIPLIER: f64 = 1e6;

/// The most steps [`largest_steps`] searches (2^48).
pub const MAX_STEPS: u64 = 1 << 48;

/// The result of [`smallest_noise_multiplier`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseCalibration {
    /// The noise multiplier: its ε is at most the target.
    pub noise_multiplier: f64,
    /// The ε it achieves (≤ the target).
    pub epsilon: f64,
    /// The optimal RDP order at that σ, for accountants with orders.
    pub order: Option<f64>,
    /// The largest σ seen whose ε exceeds the target (`noise_multiplier − lower ≤ tolerance ·
    /// noise_multiplier`).
    pub lower: f64,
    /// How many ε evaluations the search used.
    pub evaluations: usize,
}

/// The result of [`largest_steps`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepsCalibration {
    /// The most steps whose ε is at most the target (0 when one step exceeds it).
    pub steps: u64,
    /// ε after `steps` steps (0 when `steps` is 0).
    pub epsilon: f64,
    /// The optimal RDP order there, for accountants with orders.
    pub order: Option<f64>,
    /// How many ε evaluations the search used.
    pub evaluations: usize,
}

fn finite_epsilon(r: EpsilonReport) -> Result<EpsilonReport, DpError> {
    if r.epsilon.is_nan() {
        return Err(DpError::param(
            "epsilon",
            "the accountant returned NaN during calibration",
        ));
    }
    Ok(r)
}

/// The smallest σ in [[`MIN_NOISE_MULTIPLIER`], [`MAX_NOISE_MULTIPLIER`]] with
/// `epsilon_of(σ) ≤ target`, to `relative_tolerance` (> 0): bracket by doubling or halving
/// from σ = 1, then bisect. An error names `epsilon` when even the largest σ misses the
/// target, or when the smallest one already meets it (the target does not constrain σ).
pub fn smallest_noise_multiplier(
    target: f64,
    relative_tolerance: f64,
    mut epsilon_of: impl FnMut(f64) -> Result<EpsilonReport, DpError>,
) -> Result<NoiseCalibration, DpError> {
    if !(target.is_finite() && target > 0.0) {
        return Err(DpError::param(
            "epsilon",
            format!("must be finite and > 0, got {target}"),
        ));
    }
    if !(relative_tolerance > 0.0 && relative_tolerance < 1.0) {
        return Err(DpError::param(
            "tolerance",
            format!("must be in (0, 1), got {relative_tolerance}"),
        ));
    }
    let mut evaluations = 0;
    let mut eval = |sigma: f64| {
        evaluations += 1;
        epsilon_of(sigma).and_then(finite_epsilon)
    };
    // Bracket: `lo` misses the target, `hi` meets it.
    let first = eval(1.0)?;
    let (mut lo, mut hi, mut hi_report) = if first.epsilon <= target {
        let mut hi = 1.0;
        let mut hi_report = first;
        loop {
            let s = hi / 2.0;
            if s < MIN_NOISE_MULTIPLIER {
                return Err(DpError::param(
                    "epsilon",
                    format!(
                        "the target {target} is met even with noise multiplier {hi} (ε = {}): it does not constrain the noise",
                        hi_report.epsilon
                    ),
                ));
            }
            let r = eval(s)?;
            if r.epsilon > target {
                break (s, hi, hi_report);
            }
            hi = s;
            hi_report = r;
        }
    } else {
        let mut lo = 1.0;
        loop {
            let s = lo * 2.0;
            if s > MAX_NOISE_MULTIPLIER {
                return Err(DpError::param(
                    "epsilon",
                    format!(
                        "the target {target} cannot be met with a noise multiplier up to {MAX_NOISE_MULTIPLIER}"
                    ),
                ));
            }
            let r = eval(s)?;
            if r.epsilon <= target {
                break (lo, s, r);
            }
            lo = s;
        }
    };
    while hi - lo > relative_tolerance * hi {
        let mid = 0.5 * (lo + hi);
        let r = eval(mid)?;
        if r.epsilon <= target {
            hi = mid;
            hi_report = r;
        } else {
            lo = mid;
        }
    }
    Ok(NoiseCalibration {
        noise_multiplier: hi,
        epsilon: hi_report.epsilon,
        order: hi_report.order(),
        lower: lo,
        evaluations,
    })
}

/// The largest T in [0, [`MAX_STEPS`]] with `epsilon_of(T) ≤ target` (ε must not decrease
/// with T): double from T = 1 until the target is exceeded, then bisect on integers.
pub fn largest_steps(
    target: f64,
    mut epsilon_of: impl FnMut(u64) -> Result<EpsilonReport, DpError>,
) -> Result<StepsCalibration, DpError> {
    if !(target.is_finite() && target > 0.0) {
        return Err(DpError::param(
            "epsilon",
            format!("must be finite and > 0, got {target}"),
        ));
    }
    let mut evaluations = 0;
    let mut eval = |t: u64| {
        evaluations += 1;
        epsilon_of(t).and_then(finite_epsilon)
    };
    let first = eval(1)?;
    if first.epsilon > target {
        return Ok(StepsCalibration {
            steps: 0,
            epsilon: 0.0,
            order: None,
            evaluations,
        });
    }
    // `lo` meets the target, `hi` exceeds it.
    let (mut lo, mut lo_report) = (1u64, first);
    let mut hi = loop {
        let t = lo * 2;
        if t > MAX_STEPS {
            return Err(DpError::param(
                "epsilon",
                format!("more than {MAX_STEPS} steps stay within the target {target}"),
            ));
        }
        let r = eval(t)?;
        if r.epsilon > target {
            break t;
        }
        lo = t;
        lo_report = r;
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let r = eval(mid)?;
        if r.epsilon <= target {
            lo = mid;
            lo_report = r;
        } else {
            hi = mid;
        }
    }
    Ok(StepsCalibration {
        steps: lo,
        epsilon: lo_report.epsilon,
        order: lo_report.order(),
        evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ε(σ) = 1/σ (a closed form): the smallest σ meeting ε ≤ 0.3 is 10/3.
    #[test]
    fn inverts_a_closed_form() {
        let c = smallest_noise_multiplier(0.3, 1e-6, |s| Ok(EpsilonReport::new(1.0 / s, 1e-5)))
            .unwrap();
        assert!(c.epsilon <= 0.3);
        assert!(1.0 / c.lower > 0.3);
        assert!((c.noise_multiplier - 10.0 / 3.0).abs() <= 1e-6 * c.noise_multiplier);
        assert!(c.noise_multiplier - c.lower <= 1e-6 * c.noise_multiplier);
        // Below 1: bracketing halves.
        let c = smallest_noise_multiplier(5.0, 1e-4, |s| Ok(EpsilonReport::new(1.0 / s, 1e-5)))
            .unwrap();
        assert!((c.noise_multiplier - 0.2).abs() <= 1e-4 * 0.2 + 1e-12);
        assert!(1.0 / c.noise_multiplier <= 5.0);
    }

    #[test]
    fn steps_of_a_closed_form() {
        // ε(T) = 0.01·T: 314 steps fit in ε = 3.14159, 315 do not.
        let s = largest_steps(3.14159, |t| Ok(EpsilonReport::new(0.01 * t as f64, 1e-5))).unwrap();
        assert_eq!(s.steps, 314);
        assert!(s.epsilon <= 3.14159);
        let none = largest_steps(0.001, |t| Ok(EpsilonReport::new(0.01 * t as f64, 1e-5))).unwrap();
        assert_eq!(none.steps, 0);
        // √T growth: T = 10^6 exactly meets ε = 1000·1e-3... ε(T) = 1e-3·√T ≤ 1 ⇔ T ≤ 1e6.
        let s = largest_steps(1.0, |t| {
            Ok(EpsilonReport::new(1e-3 * (t as f64).sqrt(), 1e-5))
        })
        .unwrap();
        assert_eq!(s.steps, 1_000_000);
    }

    #[test]
    fn unreachable_targets_are_errors_naming_epsilon() {
        let e = smallest_noise_multiplier(0.1, 1e-4, |_| Ok(EpsilonReport::new(1.0, 1e-5)))
            .unwrap_err();
        assert!(e.to_string().contains("`epsilon`"), "{e}");
        let e = smallest_noise_multiplier(0.1, 1e-4, |_| Ok(EpsilonReport::new(0.0, 1e-5)))
            .unwrap_err();
        assert!(e.to_string().contains("does not constrain"), "{e}");
        let e = largest_steps(1.0, |_| Ok(EpsilonReport::new(0.0, 1e-5))).unwrap_err();
        assert!(e.to_string().contains("steps"), "{e}");
        let e = smallest_noise_multiplier(-1.0, 1e-4, |_| Ok(EpsilonReport::new(0.0, 1e-5)))
            .unwrap_err();
        assert!(e.to_string().contains("`epsilon`"), "{e}");
        let e =
            smallest_noise_multiplier(1.0, 0.0, |_| Ok(EpsilonReport::new(0.0, 1e-5))).unwrap_err();
        assert!(e.to_string().contains("`tolerance`"), "{e}");
        let e = smallest_noise_multiplier(1.0, 1e-3, |_| Ok(EpsilonReport::new(f64::NAN, 1e-5)))
            .unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
    }
}
