//! The discrete Gaussian mechanism (Canonne, Kamath and Steinke, "The Discrete Gaussian for
//! Differential Privacy", NeurIPS 2020): release `x_i + Z_i` with
//! `P(Z = z) ∝ e^{−z²/(2σ²)}` on the integers.
//!
//! Input: integers (a non-integer is an error naming its index). Sensitivity: L2, of the
//! integer query. Output: [`Output::Integers`]. Guarantee: ρ-zCDP with `ρ = Δ₂²/(2σ²)`
//! (event `Zcdp`), calibrated so that ρ-zCDP implies the target (ε, δ)-DP by
//! `ε = ρ + 2√(ρ ln(1/δ))` (Bun and Steinke, TCC 2016, Proposition 1.3); a zCDP accountant
//! with the optimal conversion reports a smaller ε. The noise is an exact integer sample
//! with σ rounded up to an exact dyadic rational.
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_INTEGERS, AlgorithmDescriptor, Family, Mechanism, Output,
    ParamMap, ParamSpec, PrivacyEvent, RError, RngSeed,
};
use mosaic_dp::checks::{check_delta, check_epsilon, check_positive_sensitivity};
use mosaic_dp::sampling::{grid::integers, rational::div_up, Bits, DiscreteGaussian, Rational};

#[cfg(test)]
mod tests;

/// The descriptor of `discrete_gaussian`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "discrete_gaussian",
        "Discrete Gaussian mechanism (CKS 2020): integers + exact discrete Gaussian noise, rho-zCDP for L2 sensitivity.",
    )
    .param(ParamSpec::f64(
        "epsilon",
        None,
        "Target ε > 0: ρ is the largest with ρ + 2√(ρ ln(1/δ)) ≤ ε.",
    ))
    .param(ParamSpec::f64("delta", None, "Target δ ∈ (0, 1)."))
    .tag(INPUT_INTEGERS)
    .tag("random")
}

/// The largest ρ with `ρ + 2√(ρ L) ≤ ε`, `L = ln(1/δ)`: `ρ = (√(L + ε) − √L)²`, computed as
/// `ε² / (√(L + ε) + √L)²` (no cancellation) and shrunk by a relative 10⁻¹² to cover the
/// float rounding of the chain.
pub fn rho_for(epsilon: f64, delta: f64) -> Result<f64, RError> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    let l = (1.0 / delta).ln();
    let s = (l + epsilon).sqrt() + l.sqrt();
    Ok(epsilon * epsilon / (s * s) * (1.0 - 1e-12))
}

/// The discrete Gaussian mechanism calibrated to a target (ε, δ) through ρ-zCDP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiscreteGaussianMechanism {
    rho: f64,
}

impl DiscreteGaussianMechanism {
    /// A mechanism that is ρ-zCDP for `rho = rho_for(epsilon, delta)`, hence (ε, δ)-DP.
    pub fn new(epsilon: f64, delta: f64) -> Result<DiscreteGaussianMechanism, RError> {
        Ok(DiscreteGaussianMechanism {
            rho: rho_for(epsilon, delta)?,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<DiscreteGaussianMechanism, RError> {
        DiscreteGaussianMechanism::new(p.f64("epsilon")?, p.f64("delta")?)
    }

    /// The target ρ.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// σ for L2 sensitivity `sensitivity`: the smallest float ≥ Δ/√(2ρ), exact as a rational.
    pub fn sigma(&self, sensitivity: f64) -> Result<Rational, RError> {
        check_positive_sensitivity(sensitivity)?;
        let root = (2.0 * self.rho).sqrt().next_down();
        let sigma = div_up(sensitivity, root);
        Rational::from_f64("sensitivity", sigma).map_err(|_| {
            RError::param(
                "sensitivity",
                format!("σ = {sigma} for sensitivity {sensitivity} is outside the exact range"),
            )
        })
    }

    /// The ρ of the σ actually used, `Δ²/(2σ²)` rounded up (at most the target).
    pub fn rho_used(&self, sensitivity: f64) -> Result<f64, RError> {
        let sigma = self.sigma(sensitivity)?.to_f64().next_down();
        let num = (sensitivity * sensitivity).next_up();
        Ok(div_up(num, (2.0 * sigma * sigma).next_down()).min(self.rho))
    }
}

impl Mechanism for DiscreteGaussianMechanism {
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let sampler = DiscreteGaussian::new(self.sigma(sensitivity)?)?;
        let x = integers(values)?;
        let mut bits = Bits::from_seed(&seed);
        let mut out = Vec::with_capacity(x.len());
        for (i, n) in x.into_iter().enumerate() {
            let y = n + sampler.sample(&mut bits);
            out.push(i64::try_from(y).map_err(|_| {
                RError::input(format!("the noisy value at index {i} overflows an i64"))
            })?);
        }
        Ok(Output::Integers(out.into()))
    }

    fn cost(&self, sensitivity: f64, _len: u64) -> Result<PrivacyEvent, RError> {
        Ok(PrivacyEvent::Zcdp {
            rho: self.rho_used(sensitivity)?,
        })
    }
}
