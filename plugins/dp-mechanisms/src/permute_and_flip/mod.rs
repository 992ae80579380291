//! Permute-and-flip (McKenna and Sheldon, "Permute-and-Flip: A new mechanism for
//! differentially private selection", NeurIPS 2020): visit the candidates in a uniformly
//! random order and stop at candidate `r` with probability `exp(ε (u_r − u*) / (2Δ))`, where
//! `u*` is the best score. Never worse than the exponential mechanism in expected score.
//!
//! Input: one real score per candidate. Sensitivity: per score. Output:
//! [`Output::Indices`] with one index. Guarantee: `Pure { ε }`. Scores are rounded exactly
//! onto a grid `2^k ≤ Δ·2^-32`, the order is an exact lazy Fisher–Yates shuffle and each
//! flip an exact Bernoulli(exp(−γ)) trial at an integer temperature; the rounding is charged
//! as one more grid step of sensitivity.
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_SCORES, AlgorithmDescriptor, Family, Mechanism, Output, ParamMap,
    ParamSpec, PrivacyEvent, RError, RngSeed,
};
use mosaic_dp::checks::check_epsilon;
use mosaic_dp::sampling::{
    bernoulli_exp_neg_ratio, categorical::gaps, Bits, LazyPermutation, ScoreGrid,
};

#[cfg(test)]
mod tests;

/// The descriptor of `permute_and_flip`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "permute_and_flip",
        "Permute-and-flip (McKenna & Sheldon 2020): scores -> one index, exact coin flips in a random order; eps-DP.",
    )
    .param(ParamSpec::f64("epsilon", None, "Privacy budget ε > 0."))
    .tag(INPUT_SCORES)
    .tag("random")
}

/// Permute-and-flip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PermuteAndFlip {
    epsilon: f64,
}

impl PermuteAndFlip {
    /// An ε-DP permute-and-flip.
    pub fn new(epsilon: f64) -> Result<PermuteAndFlip, RError> {
        check_epsilon(epsilon)?;
        Ok(PermuteAndFlip { epsilon })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<PermuteAndFlip, RError> {
        PermuteAndFlip::new(p.f64("epsilon")?)
    }

    /// The score grid and the integer temperature `T ≥ 2D/ε`.
    pub fn temperature(&self, sensitivity: f64) -> Result<(ScoreGrid, u64), RError> {
        let grid = ScoreGrid::new(sensitivity, 2, self.epsilon)?;
        let t = grid.temperature(2, self.epsilon)?;
        Ok((grid, t))
    }
}

impl Mechanism for PermuteAndFlip {
    fn release(&self, scores: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let (grid, t) = self.temperature(sensitivity)?;
        let g = gaps(&grid.round(scores)?);
        let mut bits = Bits::from_seed(&seed);
        let mut order = LazyPermutation::new(g.len());
        // The best candidate flips heads with probability one, so the loop ends.
        while let Some(r) = order.next(&mut bits) {
            if bernoulli_exp_neg_ratio(&mut bits, g[r], t as u128) {
                return Ok(Output::Indices(vec![r as u64].into()));
            }
        }
        unreachable!("the best candidate is always accepted")
    }

    fn cost(&self, sensitivity: f64, _len: u64) -> Result<PrivacyEvent, RError> {
        self.temperature(sensitivity)?;
        Ok(PrivacyEvent::Pure {
            epsilon: self.epsilon,
        })
    }
}
