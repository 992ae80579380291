//! The Gaussian mechanism with exact discrete Gaussian noise on a `2^k` grid, calibrated to a
//! target (ε, δ) either classically (Dwork and Roth, "The Algorithmic Foundations of
//! Differential Privacy", 2014, Theorem A.1: `σ = Δ√(2 ln(1.25/δ))/ε` for ε < 1) or
//! analytically (Balle and Wang, "Improving the Gaussian Mechanism for Differential Privacy:
//! Analytical Calibration and Optimal Denoising", ICML 2018, Theorem 8: the smallest σ with
//! `Φ(Δ/(2σ) − εσ/Δ) − e^ε Φ(−Δ/(2σ) − εσ/Δ) ≤ δ`, exact for every ε > 0).
//!
//! Input: any finite reals. Sensitivity: L2. Output: [`Output::Values`], one per input, on
//! the grid. Guarantee: the event `Gaussian { noise_multiplier: σ / (Δ₂ + √len·2^k) }`, at
//! least the calibrated `z = σ/Δ₂` for (ε, δ), so an accountant composes it tightly. The noise
//! comes from [`mosaic_dp::GaussianNoise`]: values rounded exactly to the grid, exact discrete
//! Gaussian noise with an integer lattice σ of 41 bits added, the rounding charged.
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_REALS, AlgorithmDescriptor, Family, Mechanism, Output, ParamMap,
    ParamSpec, PrivacyEvent, RError, RngSeed, Sampling,
};
use mosaic_dp::checks::{check_delta, check_epsilon, check_positive_sensitivity};
use mosaic_dp::GaussianNoise;

#[cfg(test)]
mod tests;

/// The descriptor of `gaussian`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "gaussian",
        "Gaussian mechanism: reals + exact discrete Gaussian noise on a 2^k grid, (eps, delta)-DP for L2 sensitivity (analytic or classic calibration).",
    )
    .param(ParamSpec::f64("epsilon", None, "Target ε > 0 (< 1 for the classic calibration)."))
    .param(ParamSpec::f64("delta", None, "Target δ ∈ (0, 1)."))
    .param(ParamSpec::str(
        "calibration",
        Some("analytic"),
        "`analytic` (Balle & Wang 2018, tight) or `classic` (Dwork & Roth, Theorem A.1).",
    ))
    .tag(INPUT_REALS)
    .tag("random")
}

/// How σ is derived from (ε, δ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calibration {
    /// Balle & Wang 2018: the smallest σ meeting the exact (ε, δ) condition.
    Analytic,
    /// Dwork & Roth Theorem A.1: `√(2 ln(1.25/δ))/ε`, valid for ε < 1.
    Classic,
}

/// The standard normal CDF (`erfc` from libm, accurate to about one ulp).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The smallest δ for which the Gaussian mechanism with noise multiplier `z` (σ/Δ) is
/// (ε, δ)-DP: `Φ(1/(2z) − εz) − e^ε Φ(−1/(2z) − εz)` (Balle and Wang 2018, Theorem 8).
pub fn gaussian_delta(z: f64, epsilon: f64) -> f64 {
    let (a, b) = (1.0 / (2.0 * z), epsilon * z);
    let first = normal_cdf(a - b);
    // e^ε Φ(−a − b) in logs, so neither factor overflows or underflows on its own.
    let tail = normal_cdf(-a - b);
    let second = if tail > 0.0 {
        (epsilon + tail.ln()).exp()
    } else {
        0.0
    };
    (first - second).max(0.0)
}

/// The noise multiplier z = σ/Δ meeting (ε, δ) under `calibration`, never below the exact
/// requirement: the analytic one is found by bisection against δ·(1 − 10⁻⁹), which absorbs the
/// float error of evaluating the condition.
pub fn noise_multiplier(epsilon: f64, delta: f64, calibration: Calibration) -> Result<f64, RError> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    match calibration {
        Calibration::Classic => {
            if epsilon >= 1.0 {
                return Err(RError::param(
                    "epsilon",
                    format!("the classic calibration holds for ε < 1, got {epsilon} (use calibration=analytic)"),
                ));
            }
            Ok(((2.0 * (1.25 / delta).ln()).sqrt() / epsilon * (1.0 + 1e-12)).next_up())
        }
        Calibration::Analytic => {
            if epsilon > 700.0 {
                return Err(RError::param("epsilon", format!("{epsilon} is above 700")));
            }
            let target = delta * (1.0 - 1e-9);
            let ok = |z: f64| gaussian_delta(z, epsilon) <= target;
            let mut hi = 1.0f64;
            while !ok(hi) {
                hi *= 2.0;
                if hi > 1e300 {
                    return Err(RError::param("delta", format!("{delta} is too small")));
                }
            }
            let mut lo = hi / 2.0;
            while ok(lo) && lo > 1e-300 {
                hi = lo;
                lo /= 2.0;
            }
            loop {
                let mid = lo + (hi - lo) / 2.0;
                if mid <= lo || mid >= hi {
                    break;
                }
                if ok(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            Ok(hi)
        }
    }
}

/// The Gaussian mechanism calibrated to (ε, δ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gaussian {
    epsilon: f64,
    delta: f64,
    calibration: Calibration,
    noise_multiplier: f64,
}

impl Gaussian {
    /// A Gaussian mechanism that is (ε, δ)-DP per release.
    pub fn new(epsilon: f64, delta: f64, calibration: Calibration) -> Result<Gaussian, RError> {
        Ok(Gaussian {
            epsilon,
            delta,
            calibration,
            noise_multiplier: noise_multiplier(epsilon, delta, calibration)?,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Gaussian, RError> {
        let calibration = match p.str("calibration")? {
            "analytic" => Calibration::Analytic,
            "classic" => Calibration::Classic,
            other => {
                return Err(RError::param(
                    "calibration",
                    format!("unknown calibration {other:?} (analytic or classic)"),
                ))
            }
        };
        Gaussian::new(p.f64("epsilon")?, p.f64("delta")?, calibration)
    }

    /// The calibrated z = σ/Δ₂ (before the grid rounding is charged).
    pub fn noise_multiplier(&self) -> f64 {
        self.noise_multiplier
    }

    /// The target (ε, δ).
    pub fn target(&self) -> (f64, f64) {
        (self.epsilon, self.delta)
    }

    /// The grid noise for `len` values of L2 sensitivity `sensitivity`.
    pub fn noise(&self, sensitivity: f64, len: u64) -> Result<GaussianNoise, RError> {
        check_positive_sensitivity(sensitivity)?;
        Ok(GaussianNoise::calibrated(
            self.noise_multiplier,
            sensitivity,
            len,
        )?)
    }
}

impl Mechanism for Gaussian {
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let noise = self.noise(sensitivity, values.len() as u64)?;
        let mut out = values.to_vec();
        noise.add_to_f64(&seed, &mut out)?;
        Ok(Output::Values(out.into()))
    }

    fn cost(&self, sensitivity: f64, len: u64) -> Result<PrivacyEvent, RError> {
        let noise = self.noise(sensitivity, len)?;
        Ok(PrivacyEvent::Gaussian {
            noise_multiplier: noise.noise_multiplier(sensitivity, len)?,
            sampling: Sampling::Full,
        })
    }
}
