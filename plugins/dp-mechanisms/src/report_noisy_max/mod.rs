//! Report noisy max with Laplace noise (Dwork and Roth, "The Algorithmic Foundations of
//! Differential Privacy", 2014, Section 3.3): add independent Laplace noise of scale `2Δ/ε`
//! (`Δ/ε` for monotonic scores) to every score and release the index of the largest.
//!
//! Input: one real score per candidate. Sensitivity: per score. Output:
//! [`Output::Indices`] with one index (ties between noisy scores go to the lowest index).
//! Guarantee: `Pure { ε }`. Scores are rounded exactly onto a grid `2^k ≤ Δ·2^-32` and the
//! noise is exact discrete Laplace with an integer scale on that grid; the rounding is charged
//! as one more grid step of sensitivity. (With exponential instead of Laplace noise this
//! mechanism is permute-and-flip; with Gumbel noise, the exponential mechanism.)
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_SCORES, AlgorithmDescriptor, Family, Mechanism, Output, ParamMap,
    ParamSpec, PrivacyEvent, RError, RngSeed,
};
use mosaic_dp::checks::check_epsilon;
use mosaic_dp::sampling::{discrete_laplace, Bits, Rational, ScoreGrid};

#[cfg(test)]
mod tests;

/// The descriptor of `report_noisy_max`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "report_noisy_max",
        "Report noisy max: scores + exact discrete Laplace noise (scale 2Δ/eps), release the argmax index; eps-DP.",
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

/// Report noisy max with Laplace noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReportNoisyMax {
    epsilon: f64,
    monotonic: bool,
}

impl ReportNoisyMax {
    /// An ε-DP report-noisy-max.
    pub fn new(epsilon: f64, monotonic: bool) -> Result<ReportNoisyMax, RError> {
        check_epsilon(epsilon)?;
        Ok(ReportNoisyMax { epsilon, monotonic })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<ReportNoisyMax, RError> {
        ReportNoisyMax::new(p.f64("epsilon")?, p.bool("monotonic")?)
    }

    /// The score grid and the integer noise scale (in grid steps).
    pub fn scale(&self, sensitivity: f64) -> Result<(ScoreGrid, u64), RError> {
        let f = if self.monotonic { 1 } else { 2 };
        let grid = ScoreGrid::new(sensitivity, f, self.epsilon)?;
        let t = grid.temperature(f, self.epsilon)?;
        Ok((grid, t))
    }
}

impl Mechanism for ReportNoisyMax {
    fn release(&self, scores: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let (grid, t) = self.scale(sensitivity)?;
        let n = grid.round(scores)?;
        let mut bits = Bits::from_seed(&seed);
        let scale = Rational::integer(t);
        let mut best: Option<(i128, usize)> = None;
        for (i, &s) in n.iter().enumerate() {
            let noisy = s + discrete_laplace(&mut bits, scale)?;
            if best.is_none_or(|(b, _)| noisy > b) {
                best = Some((noisy, i));
            }
        }
        let (_, i) = best.expect("scores are non-empty");
        Ok(Output::Indices(vec![i as u64].into()))
    }

    fn cost(&self, sensitivity: f64, _len: u64) -> Result<PrivacyEvent, RError> {
        self.scale(sensitivity)?;
        Ok(PrivacyEvent::Pure {
            epsilon: self.epsilon,
        })
    }
}
