//! Generalized randomized response (GRR, also "k-RR" or "direct encoding").
//!
//! Wang, Blocki, Li, Jha: "Locally Differentially Private Protocols for Frequency
//! Estimation", USENIX Security 2017, section 4.1 ("Direct Encoding").
//!
//! Each client holds one value `v` in `0..k`. It reports `v` with probability
//! `p = e^ε / (e^ε + k − 1)` and otherwise a uniformly random value among the `k − 1` others,
//! so every other value is reported with probability `q = (1 − p)/(k − 1)`.
//!
//! Privacy: for any two inputs `v, v'` and any report `y`, `P[y | v] / P[y | v'] ≤ p / q`.
//! The sampler keeps the truth with the largest probability `p ≤ e^ε/(e^ε + k − 1)` on the
//! 2^-64 grid, so `p / q ≤ e^ε` holds for the probabilities actually used, and the estimator
//! uses those same `p` and `q`.
//!
//! Server: a pure protocol (`mosaic_ldp::estimate`): `ĉᵢ = (nᵢ − n·q)/(p − q)` with `nᵢ` the
//! reports equal to `i`. Up to 2^20 items the state is one counter per item; above, the
//! multiset of reports (a sparse histogram), asked for candidates.

use mosaic_abi::{
    AlgorithmDescriptor, Family, FrequencyOracle, ItemEstimates, OracleLayout, ParamMap, RError,
    ReportDistribution, RngSeed, State, StateKind,
};
use mosaic_ldp::estimate::PureProtocol;
use mosaic_ldp::rng::{for_each_block, uniform_below, Bernoulli};
use mosaic_ldp::{params, DENSE_DOMAIN_LIMIT, WHOLE_DOMAIN_LIMIT};

#[cfg(test)]
mod tests;

/// The descriptor of `grr`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::LdpOracle,
        "grr",
        "Generalized randomized response (k-RR): report the true value with probability \
         e^ε/(e^ε+k−1), else a uniformly random other value.",
    )
    .param(params::epsilon_spec())
    .param(params::domain_size_spec(2))
}

/// Generalized randomized response over the domain `0..k`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grr {
    epsilon: f64,
    k: u64,
    keep: Bernoulli,
    pure: PureProtocol,
}

impl Grr {
    /// A GRR oracle with budget `epsilon` (finite, > 0) over `domain_size` (≥ 2) values.
    pub fn new(epsilon: f64, domain_size: u64) -> Result<Grr, RError> {
        params::check_epsilon(epsilon)?;
        if domain_size < 2 {
            return Err(RError::param(
                "domain_size",
                format!("must be at least 2, got {domain_size}"),
            ));
        }
        // p = 1/(1 + (k−1)e^−ε), written with e^−ε so that a large ε does not overflow.
        let ideal = 1.0 / (1.0 + (domain_size - 1) as f64 * (-epsilon).exp());
        let keep = Bernoulli::at_most(ideal);
        let p = keep.p();
        let q = keep.q() / (domain_size - 1) as f64;
        Ok(Grr {
            epsilon,
            k: domain_size,
            keep,
            pure: PureProtocol::new(p, q),
        })
    }

    /// Build from resolved parameters (`epsilon`, `domain_size`).
    pub fn from_params(p: &ParamMap) -> Result<Grr, RError> {
        Grr::new(params::epsilon(p)?, params::domain_size(p, 2)?)
    }

    /// ε.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// Probability of reporting the true value (on the sampler's grid).
    pub fn p(&self) -> f64 {
        self.pure.p
    }

    /// Probability of reporting one given other value.
    pub fn q(&self) -> f64 {
        self.pure.q
    }

    /// The paper's `Var*`: variance of an estimated count after `n` reports (exact for an
    /// item whose true count is 0).
    pub fn variance(&self, n: u64) -> f64 {
        self.pure.var_star(n as f64)
    }

    fn dense(&self) -> bool {
        self.k <= DENSE_DOMAIN_LIMIT
    }
}

impl FrequencyOracle for Grr {
    fn domain_size(&self) -> u64 {
        self.k
    }

    fn state_len(&self) -> u64 {
        if self.dense() {
            self.k
        } else {
            0
        }
    }

    fn layout(&self) -> OracleLayout {
        OracleLayout {
            report_len: 1,
            report_bits: params::bits_for(self.k),
            state: if self.dense() {
                StateKind::Counts
            } else {
                StateKind::Reports
            },
        }
    }

    fn perturb(
        &self,
        values: &[u64],
        first_index: u64,
        seed: RngSeed,
        out: &mut [u64],
    ) -> Result<(), RError> {
        let mut at = 0;
        for_each_block(values, first_index, &seed, |bits, chunk| {
            for &v in chunk {
                out[at] = if self.keep.sample(bits) {
                    v
                } else {
                    // Uniform over the k − 1 values other than v: draw from 0..k−1, skip v.
                    let r = uniform_below(bits, self.k - 1);
                    r + (r >= v) as u64
                };
                at += 1;
            }
        });
        Ok(())
    }

    fn validate(&self, reports: &[u64]) -> Result<(), RError> {
        match reports.iter().position(|&r| r >= self.k) {
            Some(i) => Err(RError::input(format!(
                "report {i}: value {} is outside the domain 0..{} (domain_size = {})",
                reports[i], self.k, self.k
            ))),
            None => Ok(()),
        }
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        for &r in reports {
            counts[r as usize] += 1;
        }
        Ok(())
    }

    fn estimate(&self, state: &State, items: Option<&[u64]>) -> Result<ItemEstimates, RError> {
        let n = state.reports;
        let support = |i: u64| -> f64 {
            match state.kind {
                StateKind::Counts => state.words[i as usize] as f64,
                StateKind::Reports => state.multiplicity(&[i]) as f64,
            }
        };
        Ok(match items {
            Some(items) => self.pure.estimates(items.iter().map(|&i| support(i)), n),
            None if self.dense() => self
                .pure
                .estimates(state.words.iter().map(|&c| c as f64), n),
            None if self.k <= WHOLE_DOMAIN_LIMIT => {
                self.pure.estimates((0..self.k).map(support), n)
            }
            None => {
                return Err(RError::unsupported(format!(
                    "a domain of {} items is too large to estimate whole: ask for candidates",
                    self.k
                )))
            }
        })
    }

    fn variance(&self, counts: &[f64]) -> Result<Vec<f64>, RError> {
        Ok(self.pure.variances(counts))
    }

    fn report_distribution(&self, value: u64) -> Result<ReportDistribution, RError> {
        if self.k > 1 << 16 {
            return Err(RError::unsupported(format!(
                "{} reports are too many to list",
                self.k
            )));
        }
        Ok(ReportDistribution {
            report_len: 1,
            reports: (0..self.k).collect(),
            probabilities: (0..self.k)
                .map(|y| if y == value { self.pure.p } else { self.pure.q })
                .collect(),
            complete: true,
        })
    }
}
