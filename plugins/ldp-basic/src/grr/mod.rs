//! Generalized randomized response (GRR, also "k-RR" or "direct encoding").
//!
//! Wang, Blocki, Li, Jha: "Locally Differentially Private Protocols for Frequency
//! Estimation", USENIX Security 2017, section 4.1 ("Direct Encoding").
//!
//! Each client holds one value `v` in `0..k`. It reports `v` with probability
//! `p = e^ε / (e^ε + k − 1)` and otherwise a uniformly random value among the `k − 1` others,
//! so every other value is reported with probability `q = 1 / (e^ε + k − 1)`.
//!
//! Privacy: for any two inputs `v, v'` and any report `y`, `P[y | v] / P[y | v'] ≤ p / q = e^ε`,
//! so each report is ε-LDP.
//!
//! Server: with `n_i` the number of reports equal to `i` out of `n`, `E[n_i] = c_i·p + (n − c_i)·q`,
//! hence the unbiased estimate `ĉ_i = (n_i − n·q) / (p − q)`. Its variance is
//! `n·q(1−q)/(p−q)² + c_i·(1−p−q)/(p−q)`; the reported variance is the paper's `Var*`, the
//! first term, `n·(e^ε + k − 2)/(e^ε − 1)²` (exact for items with true count 0).

use mosaic_abi::{
    AlgorithmDescriptor, Estimate, Family, FrequencyOracle, ParamMap, ParamSpec, RError, Reports,
    RngSeed,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

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
    .param(ParamSpec::f64(
        "epsilon",
        None,
        "Privacy budget ε of each report (> 0).",
    ))
    .param(ParamSpec::i64("domain_size", None, "Domain size k: values are 0..k (≥ 2).").min(2.0))
}

/// Generalized randomized response over the domain `0..k`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grr {
    epsilon: f64,
    k: u64,
    p: f64,
    q: f64,
}

impl Grr {
    /// A GRR oracle with budget `epsilon` (finite, > 0) over `domain_size` (≥ 2) values.
    pub fn new(epsilon: f64, domain_size: u64) -> Result<Grr, RError> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(RError::param(
                "epsilon",
                format!("must be a finite number > 0, got {epsilon}"),
            ));
        }
        if domain_size < 2 {
            return Err(RError::param(
                "domain_size",
                format!("must be at least 2, got {domain_size}"),
            ));
        }
        // Written with e^-ε so that a large ε does not overflow e^ε to infinity.
        let decay = (-epsilon).exp();
        let denom = 1.0 + (domain_size - 1) as f64 * decay;
        Ok(Grr {
            epsilon,
            k: domain_size,
            p: 1.0 / denom,
            q: decay / denom,
        })
    }

    /// Build from resolved parameters (`epsilon`, `domain_size`).
    pub fn from_params(params: &ParamMap) -> Result<Grr, RError> {
        let k = params.i64("domain_size")?;
        let k = u64::try_from(k)
            .map_err(|_| RError::param("domain_size", format!("must be at least 2, got {k}")))?;
        Grr::new(params.f64("epsilon")?, k)
    }

    /// ε.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// Probability of reporting the true value.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Probability of reporting one given other value.
    pub fn q(&self) -> f64 {
        self.q
    }

    /// The paper's `Var*`: variance of an estimated count after `n` reports (exact for an
    /// item whose true count is 0).
    pub fn variance(&self, n: u64) -> f64 {
        let d = self.p - self.q;
        n as f64 * self.q * (1.0 - self.q) / (d * d)
    }

    fn check_value(&self, v: u64, what: &str, index: usize) -> Result<(), RError> {
        if v >= self.k {
            return Err(RError::input(format!(
                "{what} {index}: value {v} is outside the domain 0..{} (domain_size = {})",
                self.k, self.k
            )));
        }
        Ok(())
    }
}

impl FrequencyOracle for Grr {
    fn domain_size(&self) -> u64 {
        self.k
    }

    fn state_len(&self) -> u64 {
        self.k
    }

    fn perturb(&self, values: &[u64], seed: RngSeed) -> Result<Reports, RError> {
        for (i, &v) in values.iter().enumerate() {
            self.check_value(v, "value", i)?;
        }
        let mut rng = ChaCha20Rng::from_seed(seed.bytes);
        let data = values
            .iter()
            .map(|&v| {
                if rng.random_bool(self.p) {
                    v
                } else {
                    // Uniform over the k − 1 values other than v: draw from 0..k−1, skip v.
                    let r = rng.random_range(0..self.k - 1);
                    if r >= v {
                        r + 1
                    } else {
                        r
                    }
                }
            })
            .collect();
        Ok(Reports {
            report_len: 1,
            data,
        })
    }

    fn aggregate(&self, reports: &Reports, state: &mut [f64]) -> Result<(), RError> {
        if reports.report_len != 1 {
            return Err(RError::input(format!(
                "grr reports are 1 word long, got report_len = {}",
                reports.report_len
            )));
        }
        if state.len() as u64 != self.k {
            return Err(RError::input(format!(
                "grr state must hold domain_size = {} counts, got {}",
                self.k,
                state.len()
            )));
        }
        // Validate everything first so that a bad batch leaves the state untouched.
        for (i, &v) in reports.data.iter().enumerate() {
            self.check_value(v, "report", i)?;
        }
        for &v in reports.data.iter() {
            state[v as usize] += 1.0;
        }
        Ok(())
    }

    fn estimate(&self, state: &[f64], n: u64) -> Result<Estimate, RError> {
        if state.len() as u64 != self.k {
            return Err(RError::input(format!(
                "grr state must hold domain_size = {} counts, got {}",
                self.k,
                state.len()
            )));
        }
        let total: f64 = state.iter().sum();
        if total != n as f64 {
            return Err(RError::input(format!(
                "grr state holds {total} reports but n = {n}"
            )));
        }
        let n_f = n as f64;
        let d = self.p - self.q;
        let counts = state.iter().map(|&c| (c - n_f * self.q) / d).collect();
        Ok(Estimate {
            counts,
            variance: self.variance(n),
        })
    }
}
