//! The exponential mechanism (McSherry and Talwar, "Mechanism Design via Differential
//! Privacy", FOCS 2007): release one index `i` with `P(i) ∝ exp(ε u_i / (2Δ))` — or
//! `exp(ε u_i / Δ)` when the scores are monotonic (every score moves in the same direction
//! between neighbours).
//!
//! Input: one real score `u_i` per candidate (higher is better). Sensitivity: per score (each
//! `u_i` moves by at most Δ between neighbours). Output: [`Output::Indices`] with one index.
//! Guarantee: `Pure { ε }`. Scores are rounded exactly onto a grid `2^k ≤ Δ·2^-32` and the
//! index drawn with exact Bernoulli(exp(−γ)) trials at an integer temperature; the rounding
//! is charged as one more grid step of sensitivity.
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_SCORES, AlgorithmDescriptor, Family, Mechanism, Output, ParamMap,
    ParamSpec, PrivacyEvent, RError, RngSeed,
};
use mosaic_dp::checks::check_epsilon;
use mosaic_dp::sampling::{categorical::gaps, exp_weighted_index, Bits, ScoreGrid};

#[cfg(test)]
mod tests;

/// The descriptor of `exponential`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "exponential",
        "Exponential mechanism: scores -> one index with P(i) ~ exp(eps u_i / 2Δ), sampled exactly; eps-DP.",
    )
    .param(ParamSpec::f64("epsilon", None, "Privacy budget ε > 0."))
    .param(ParamSpec::bool(
        "monotonic",
        Some(false),
        "Scores move in the same direction between neighbours (halves the noise).",
    ))
    .tag(INPUT_SCORES)
    .tag("random")
}

/// The exponential mechanism.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exponential {
    epsilon: f64,
    monotonic: bool,
}

impl Exponential {
    /// An ε-DP exponential mechanism.
    pub fn new(epsilon: f64, monotonic: bool) -> Result<Exponential, RError> {
        check_epsilon(epsilon)?;
        Ok(Exponential { epsilon, monotonic })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Exponential, RError> {
        Exponential::new(p.f64("epsilon")?, p.bool("monotonic")?)
    }

    /// 2, or 1 for monotonic scores: the temperature is `factor · D / ε` grid steps.
    fn factor(&self) -> u64 {
        if self.monotonic {
            1
        } else {
            2
        }
    }

    /// The score grid and integer temperature for per-score sensitivity `sensitivity`.
    pub fn temperature(&self, sensitivity: f64) -> Result<(ScoreGrid, u64), RError> {
        let grid = ScoreGrid::new(sensitivity, self.factor(), self.epsilon)?;
        let t = grid.temperature(self.factor(), self.epsilon)?;
        Ok((grid, t))
    }
}

impl Mechanism for Exponential {
    fn release(&self, scores: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let (grid, t) = self.temperature(sensitivity)?;
        let g = gaps(&grid.round(scores)?);
        let i = exp_weighted_index(&mut Bits::from_seed(&seed), &g, t);
        Ok(Output::Indices(vec![i as u64].into()))
    }

    fn cost(&self, sensitivity: f64, _len: u64) -> Result<PrivacyEvent, RError> {
        self.temperature(sensitivity)?;
        Ok(PrivacyEvent::Pure {
            epsilon: self.epsilon,
        })
    }
}
