//! The sparse vector technique, AboveThreshold with up to `c` positive answers (Dwork and
//! Roth 2014, Algorithms 1–2; in the form of Lyu, Su and Li, "Understanding the Sparse Vector
//! Technique for Differential Privacy", VLDB 2017, Algorithm 1): perturb the threshold once
//! with Laplace noise of scale `2Δ/ε`, perturb each query answer with Laplace noise of scale
//! `4cΔ/ε` (`2cΔ/ε` for monotonic queries), report the queries whose noisy answer reaches the
//! noisy threshold, and stop after `c` of them.
//!
//! Input: the answers `q_1, q_2, …` to a stream of queries, in order. Sensitivity: per
//! query. Output: [`Output::Indices`] — the positions reported above the threshold (at most
//! `c`; empty if none was). Guarantee: `Pure { ε }` however many queries are asked. Answers
//! and the threshold are rounded exactly onto a grid `2^k ≤ Δ·2^-b`, with the rounding charged
//! as one more grid step of sensitivity; the noise is exact discrete Laplace with integer
//! scales on that grid.
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_SCORES, AlgorithmDescriptor, Family, Mechanism, Output, ParamMap,
    ParamSpec, PrivacyEvent, RError, RngSeed,
};
use mosaic_dp::checks::check_epsilon;
use mosaic_dp::sampling::{discrete_laplace, Bits, Rational, ScoreGrid};

#[cfg(test)]
mod tests;

/// The descriptor of `sparse_vector`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "sparse_vector",
        "Sparse vector (AboveThreshold): query answers -> indices of the first max_above noisy answers above a noisy threshold; eps-DP.",
    )
    .param(ParamSpec::f64("epsilon", None, "Privacy budget ε > 0 of the whole run."))
    .param(ParamSpec::f64("threshold", None, "The public threshold T."))
    .param(
        ParamSpec::i64(
            "max_above",
            Some(1),
            "Stop after this many answers above the threshold (c ≥ 1).",
        )
        .min(1.0),
    )
    .param(ParamSpec::bool(
        "monotonic",
        Some(false),
        "Query answers move in the same direction between neighbours (halves the query noise).",
    ))
    .tag(INPUT_SCORES)
    .tag("random")
}

/// AboveThreshold with up to `max_above` positives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseVector {
    epsilon: f64,
    threshold: f64,
    max_above: u64,
    monotonic: bool,
}

/// The grid and the integer noise scales (in grid steps) of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scales {
    /// The grid of answers and threshold.
    pub grid: ScoreGrid,
    /// Scale of the threshold noise, `≥ 2D/ε`.
    pub threshold: u64,
    /// Scale of each answer's noise, `≥ 4cD/ε` (`2cD/ε` monotonic).
    pub query: u64,
}

impl SparseVector {
    /// An ε-DP sparse vector run.
    pub fn new(
        epsilon: f64,
        threshold: f64,
        max_above: u64,
        monotonic: bool,
    ) -> Result<SparseVector, RError> {
        check_epsilon(epsilon)?;
        if !threshold.is_finite() {
            return Err(RError::param(
                "threshold",
                format!("must be finite, got {threshold}"),
            ));
        }
        if max_above == 0 {
            return Err(RError::param("max_above", "must be at least 1"));
        }
        Ok(SparseVector {
            epsilon,
            threshold,
            max_above,
            monotonic,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<SparseVector, RError> {
        SparseVector::new(
            p.f64("epsilon")?,
            p.f64("threshold")?,
            p.i64("max_above")?.max(0) as u64,
            p.bool("monotonic")?,
        )
    }

    fn query_factor(&self) -> u64 {
        if self.monotonic {
            2 * self.max_above
        } else {
            4 * self.max_above
        }
    }

    /// The grid and noise scales for per-query sensitivity `sensitivity`.
    pub fn scales(&self, sensitivity: f64) -> Result<Scales, RError> {
        let f = self.query_factor();
        let grid = ScoreGrid::new(sensitivity, f, self.epsilon)?;
        Ok(Scales {
            grid,
            threshold: grid.temperature(2, self.epsilon)?,
            query: grid.temperature(f, self.epsilon)?,
        })
    }
}

impl Mechanism for SparseVector {
    fn release(&self, answers: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let s = self.scales(sensitivity)?;
        let q = s.grid.round(answers)?;
        let threshold = s.grid.grid().round(self.threshold).ok_or_else(|| {
            RError::param(
                "threshold",
                format!("{} is too large for the grid", self.threshold),
            )
        })?;
        let mut bits = Bits::from_seed(&seed);
        let noisy_threshold =
            threshold + discrete_laplace(&mut bits, Rational::integer(s.threshold))?;
        let query_scale = Rational::integer(s.query);
        let mut above = Vec::new();
        for (i, &qi) in q.iter().enumerate() {
            if qi + discrete_laplace(&mut bits, query_scale)? >= noisy_threshold {
                above.push(i as u64);
                if above.len() as u64 == self.max_above {
                    break;
                }
            }
        }
        Ok(Output::Indices(above.into()))
    }

    fn cost(&self, sensitivity: f64, _len: u64) -> Result<PrivacyEvent, RError> {
        self.scales(sensitivity)?;
        Ok(PrivacyEvent::Pure {
            epsilon: self.epsilon,
        })
    }
}
