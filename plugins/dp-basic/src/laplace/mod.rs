//! The Laplace mechanism with exact noise on a power-of-two grid.
//!
//! Release `x_i + Lap(b)` for every coordinate, with `b` calibrated to the call's L1
//! sensitivity Δ so that the release is ε-DP (Dwork, McSherry, Nissim and Smith, "Calibrating
//! Noise to Sensitivity in Private Data Analysis", TCC 2006). Input: any finite reals; output:
//! [`Output::Values`], one per input, in order.
//!
//! The noise is discrete Laplace on the grid `2^k` ([`mosaic_dp::sampling::LaplaceNoise`]),
//! sampled exactly; rounding the inputs to the grid is charged to the sensitivity. The
//! privacy argument:
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_REALS, AlgorithmDescriptor, Family, Mechanism, Output, ParamMap,
    ParamSpec, PrivacyEvent, RError, RngSeed, Sampling,
};
use mosaic_dp::checks::{check_epsilon, check_sensitivity};
use mosaic_dp::sampling::LaplaceNoise;

#[cfg(test)]
mod tests;

/// The descriptor of `laplace`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "laplace",
        "Laplace mechanism: reals + exact discrete Laplace noise on a 2^k grid, eps-DP for L1 sensitivity.",
    )
    .param(ParamSpec::f64(
        "epsilon",
        None,
        "Privacy budget ε > 0 of one release (the noise scale is (Δ₁ + len·2^k) / ε).",
    ))
    .tag(INPUT_REALS)
    .tag("random")
}

/// The Laplace mechanism at privacy level ε.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Laplace {
    epsilon: f64,
}

impl Laplace {
    /// A Laplace mechanism that is `epsilon`-DP per release (finite, > 0).
    pub fn new(epsilon: f64) -> Result<Laplace, RError> {
        check_epsilon(epsilon)?;
        Ok(Laplace { epsilon })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Laplace, RError> {
        Laplace::new(p.f64("epsilon")?)
    }

    /// The noise used for `len` values of L1 sensitivity `sensitivity`.
    pub fn noise(&self, sensitivity: f64, len: usize) -> Result<LaplaceNoise, RError> {
        check_sensitivity(sensitivity)?;
        Ok(LaplaceNoise::calibrated(
            self.epsilon,
            sensitivity,
            len as u64,
        )?)
    }
}

impl Mechanism for Laplace {
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let noise = self.noise(sensitivity, values.len())?;
        Ok(Output::Values(noise.add_to_f64(&seed, values)?.into()))
    }

    fn cost(&self, sensitivity: f64, len: u64) -> Result<PrivacyEvent, RError> {
        let noise = self.noise(sensitivity, len as usize)?;
        Ok(PrivacyEvent::Laplace {
            noise_multiplier: noise.noise_multiplier(sensitivity, len)?,
            sampling: Sampling::Full,
        })
    }
}
