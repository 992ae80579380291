//! Noisy top-k: release the indices of the k best candidates, in order, by peeling — k rounds
//! of the exponential mechanism at ε/k each, every round over the candidates not yet chosen.
//! Its output distribution is that of one-shot top-k with Gumbel noise (Durfee and Rogers,
//! "Practical Differentially Private Top-k Selection with Pay-what-you-get Composition",
//! NeurIPS 2019), drawn here exactly.
//!
//! Input: one real score per candidate (at least `k`). Sensitivity: per score. Output:
//! [`Output::Indices`] with `k` distinct indices, best first. Guarantee: `Pure { ε }` (basic
//! composition of the k rounds). Scores are rounded exactly onto a grid `2^k' ≤ Δ·2^-32`, the
//! rounding charged as one more grid step of sensitivity.
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_SCORES, AlgorithmDescriptor, Family, Mechanism, Output, ParamMap,
    ParamSpec, PrivacyEvent, RError, RngSeed,
};
use mosaic_dp::checks::check_epsilon;
use mosaic_dp::sampling::{categorical::gaps, exp_weighted_index, Bits, ScoreGrid};

#[cfg(test)]
mod tests;

/// The descriptor of `noisy_top_k`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "noisy_top_k",
        "Noisy top-k: scores -> the k best indices in order (peeling exponential mechanism = one-shot Gumbel top-k), exact; eps-DP.",
    )
    .param(ParamSpec::f64("epsilon", None, "Privacy budget ε > 0 of the whole selection."))
    .param(ParamSpec::i64("k", None, "How many indices to release (≥ 1).").min(1.0))
    .param(ParamSpec::bool(
        "monotonic",
        Some(false),
        "Scores move in the same direction between neighbours (halves the noise).",
    ))
    .tag(INPUT_SCORES)
    .tag("random")
}

/// Noisy top-k by peeling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoisyTopK {
    epsilon: f64,
    k: u64,
    monotonic: bool,
}

impl NoisyTopK {
    /// An ε-DP top-`k` selection.
    pub fn new(epsilon: f64, k: u64, monotonic: bool) -> Result<NoisyTopK, RError> {
        check_epsilon(epsilon)?;
        if k == 0 {
            return Err(RError::param("k", "must be at least 1"));
        }
        Ok(NoisyTopK {
            epsilon,
            k,
            monotonic,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<NoisyTopK, RError> {
        let k = p.i64("k")?;
        NoisyTopK::new(p.f64("epsilon")?, k.max(0) as u64, p.bool("monotonic")?)
    }

    /// The score grid and the integer temperature of every round, `T ≥ f·k·D/ε`.
    pub fn temperature(&self, sensitivity: f64) -> Result<(ScoreGrid, u64), RError> {
        let f = if self.monotonic { 1 } else { 2 } * self.k;
        let grid = ScoreGrid::new(sensitivity, f, self.epsilon)?;
        let t = grid.temperature(f, self.epsilon)?;
        Ok((grid, t))
    }
}

impl Mechanism for NoisyTopK {
    fn release(&self, scores: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let (grid, t) = self.temperature(sensitivity)?;
        let n = grid.round(scores)?;
        if (n.len() as u64) < self.k {
            return Err(RError::param(
                "k",
                format!("{} exceeds the {} candidates", self.k, n.len()),
            ));
        }
        let mut bits = Bits::from_seed(&seed);
        let mut left: Vec<(usize, i128)> = n.into_iter().enumerate().collect();
        let mut chosen = Vec::with_capacity(self.k as usize);
        for _ in 0..self.k {
            let scores: Vec<i128> = left.iter().map(|&(_, s)| s).collect();
            let j = exp_weighted_index(&mut bits, &gaps(&scores), t);
            chosen.push(left.remove(j).0 as u64);
        }
        Ok(Output::Indices(chosen.into()))
    }

    fn cost(&self, sensitivity: f64, _len: u64) -> Result<PrivacyEvent, RError> {
        self.temperature(sensitivity)?;
        Ok(PrivacyEvent::Pure {
            epsilon: self.epsilon,
        })
    }
}
