//! The geometric mechanism (two-sided geometric / discrete Laplace noise on integers; Ghosh,
//! Roughgarden and Sundararajan, "Universally Utility-Maximizing Privacy Mechanisms",
//! STOC 2009): release `x_i + Z_i` with `P(Z = z) ∝ e^{−|z|/t}`, `t = ⌊Δ⌋/ε`.
//!
//! Input: integers (an integer-valued query such as counts; a non-integer is an error naming
//! its index). Sensitivity: L1, of the integer query (only its integer part matters).
//! Output: [`Output::Integers`], one per input. Guarantee: `Pure { ε }`. Nothing is rounded:
//! the noise is an exact integer sample (CKS 2020, Algorithm 2) with scale `t` rounded up to
//! an exact dyadic rational.
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_INTEGERS, AlgorithmDescriptor, Family, Mechanism, Output,
    ParamMap, ParamSpec, PrivacyEvent, RError, RngSeed,
};
use mosaic_dp::checks::{check_epsilon, check_positive_sensitivity};
use mosaic_dp::sampling::{discrete_laplace, grid::integers, rational::div_up, Bits, Rational};

#[cfg(test)]
mod tests;

/// The descriptor of `geometric`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "geometric",
        "Geometric mechanism: integers + exact discrete Laplace noise, eps-DP for L1 sensitivity.",
    )
    .param(ParamSpec::f64(
        "epsilon",
        None,
        "Privacy budget ε > 0 of one release (noise scale ⌊Δ₁⌋/ε).",
    ))
    .tag(INPUT_INTEGERS)
    .tag("random")
}

/// The geometric mechanism at privacy level ε.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometric {
    epsilon: f64,
}

/// `⌊Δ⌋` of a sensitivity of an integer query, which must be at least 1.
pub(crate) fn integer_sensitivity(sensitivity: f64) -> Result<u64, RError> {
    check_positive_sensitivity(sensitivity)?;
    if sensitivity < 1.0 {
        return Err(RError::param(
            "sensitivity",
            format!("must be >= 1 for an integer-valued query, got {sensitivity}"),
        ));
    }
    Ok(sensitivity.floor().min(u64::MAX as f64) as u64)
}

impl Geometric {
    /// A geometric mechanism that is `epsilon`-DP per release.
    pub fn new(epsilon: f64) -> Result<Geometric, RError> {
        check_epsilon(epsilon)?;
        Ok(Geometric { epsilon })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Geometric, RError> {
        Geometric::new(p.f64("epsilon")?)
    }

    /// The exact noise scale for L1 sensitivity `sensitivity`: the smallest `f64` ≥ ⌊Δ⌋/ε,
    /// as a rational.
    pub fn scale(&self, sensitivity: f64) -> Result<Rational, RError> {
        let d = integer_sensitivity(sensitivity)?;
        let t = div_up(d as f64, self.epsilon);
        Rational::from_f64("epsilon", t).map_err(|_| {
            RError::param(
                "epsilon",
                format!("the noise scale {t} = ⌊Δ⌋/ε is outside the exact range [2^-63, 2^63]"),
            )
        })
    }
}

impl Mechanism for Geometric {
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let scale = self.scale(sensitivity)?;
        let x = integers(values)?;
        let mut bits = Bits::from_seed(&seed);
        let mut out = Vec::with_capacity(x.len());
        for (i, n) in x.into_iter().enumerate() {
            let y = n + discrete_laplace(&mut bits, scale)?;
            out.push(i64::try_from(y).map_err(|_| {
                RError::input(format!("the noisy value at index {i} overflows an i64"))
            })?);
        }
        Ok(Output::Integers(out.into()))
    }

    fn cost(&self, sensitivity: f64, _len: u64) -> Result<PrivacyEvent, RError> {
        self.scale(sensitivity)?;
        Ok(PrivacyEvent::Pure {
            epsilon: self.epsilon,
        })
    }
}
