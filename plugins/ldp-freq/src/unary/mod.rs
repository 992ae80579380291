//! Unary encoding: `sue` (symmetric unary encoding, "basic RAPPOR") and `oue` (optimized
//! unary encoding).
//!
//! Wang, Blocki, Li, Jha: "Locally Differentially Private Protocols for Frequency
//! Estimation", USENIX Security 2017, §4.2. Erlingsson, Pihur, Korolova: "RAPPOR",
//! CCS 2014 (SUE is RAPPOR with one hash function and no instantaneous step).
//!
//! A client holding `v` in `0..d` encodes it as the `d`-bit vector with only bit `v` set and
//! reports each bit independently: a 1 stays 1 with probability `p`, a 0 becomes 1 with
//! probability `q`.
//!
//! - SUE: `p = e^{ε/2}/(e^{ε/2} + 1)`, `q = 1 − p`;
//! - OUE: `p = 1/2`, `q = 1/(e^ε + 1)` (minimises the variance).
//!
//! Privacy: two inputs differ in two bits, so `P[y | v]/P[y | v'] ≤ p(1−q)/(q(1−p)) = e^ε`.
//! The sampler draws the zeros' bits with the smallest grid probability `q ≥ q_ideal`
//! (SUE's true bit is the complement of such a draw, OUE's a fair coin), which keeps the
//! ratio at most `e^ε`; the estimator uses those exact `p`, `q`.
//!
//! Server: a pure protocol; `nᵢ` counts the reports with bit `i` set (per-position counters
//! with 8-bit SWAR lanes, `mosaic_ldp::bits::BitCounter`). Reports are `d` bits.

use mosaic_abi::{
    AlgorithmDescriptor, Family, FrequencyOracle, ItemEstimates, OracleLayout, ParamMap, RError,
    ReportDistribution, RngSeed, State, StateKind,
};
use mosaic_ldp::bits::{product_distribution, BitCounter};
use mosaic_ldp::estimate::PureProtocol;
use mosaic_ldp::params;
use mosaic_ldp::rng::{bernoulli_bits, for_each_block, Bernoulli};

#[cfg(test)]
mod tests;

/// Largest domain: a report is one bit per item.
pub const MAX_DOMAIN: u64 = 1 << 16;

/// Which unary encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUE: `p = e^{ε/2}/(e^{ε/2}+1)`, `q = 1 − p`.
    Symmetric,
    /// OUE: `p = 1/2`, `q = 1/(e^ε + 1)`.
    Optimized,
}

fn descriptor(name: &str, doc: &str) -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(Family::LdpOracle, name, doc)
        .param(params::epsilon_spec())
        .param(params::domain_size_spec(2).range(2.0, MAX_DOMAIN as f64))
}

/// The descriptor of `sue`.
pub fn sue_descriptor() -> AlgorithmDescriptor {
    descriptor(
        "sue",
        "Symmetric unary encoding (basic RAPPOR): one bit per item, each kept w.p. e^(ε/2)/(e^(ε/2)+1).",
    )
}

/// The descriptor of `oue`.
pub fn oue_descriptor() -> AlgorithmDescriptor {
    descriptor(
        "oue",
        "Optimized unary encoding: one bit per item; the true bit is a fair coin, the others are 1 w.p. 1/(e^ε+1).",
    )
}

/// Unary encoding over `0..d`.
#[derive(Clone, Debug, PartialEq)]
pub struct UnaryEncoding {
    kind: Kind,
    d: u64,
    zero: Bernoulli,
    pure: PureProtocol,
}

impl UnaryEncoding {
    /// A unary encoding with budget `epsilon` over `domain_size` items.
    pub fn new(kind: Kind, epsilon: f64, domain_size: u64) -> Result<UnaryEncoding, RError> {
        params::check_epsilon(epsilon)?;
        if !(2..=MAX_DOMAIN).contains(&domain_size) {
            return Err(RError::param(
                "domain_size",
                format!(
                    "must be in 2..={MAX_DOMAIN} (a report is one bit per item), got {domain_size}"
                ),
            ));
        }
        // q with e^−x so that a large ε does not overflow.
        let (zero, p) = match kind {
            Kind::Symmetric => {
                let e = (-epsilon / 2.0).exp();
                let zero = Bernoulli::at_least(e / (1.0 + e));
                (zero, zero.q())
            }
            Kind::Optimized => {
                let e = (-epsilon).exp();
                (Bernoulli::at_least(e / (1.0 + e)), 0.5)
            }
        };
        Ok(UnaryEncoding {
            kind,
            d: domain_size,
            zero,
            pure: PureProtocol::new(p, zero.p()),
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(kind: Kind, p: &ParamMap) -> Result<UnaryEncoding, RError> {
        UnaryEncoding::new(kind, params::epsilon(p)?, params::domain_size(p, 2)?)
    }

    /// `p` and `q` of the sampler.
    pub fn protocol(&self) -> PureProtocol {
        self.pure
    }

    fn words(&self) -> usize {
        self.d.div_ceil(64) as usize
    }
}

impl FrequencyOracle for UnaryEncoding {
    fn domain_size(&self) -> u64 {
        self.d
    }

    fn state_len(&self) -> u64 {
        self.d
    }

    fn layout(&self) -> OracleLayout {
        OracleLayout {
            report_len: self.words() as u32,
            report_bits: self.d as u32,
            state: StateKind::Counts,
        }
    }

    fn perturb(
        &self,
        values: &[u64],
        first_index: u64,
        seed: RngSeed,
        out: &mut [u64],
    ) -> Result<(), RError> {
        let w = self.words();
        let mut reports = out.chunks_exact_mut(w);
        for_each_block(values, first_index, &seed, |bits, chunk| {
            for &v in chunk {
                let r = reports.next().expect("one report per value");
                bernoulli_bits(bits, self.zero.threshold, r, self.d as usize);
                let (word, bit) = ((v / 64) as usize, v % 64);
                match self.kind {
                    // The true bit is 1 w.p. 1 − q: the complement of its zero-draw.
                    Kind::Symmetric => r[word] ^= 1 << bit,
                    Kind::Optimized => {
                        r[word] = (r[word] & !(1 << bit)) | (bits.take(1) << bit);
                    }
                }
            }
        });
        Ok(())
    }

    fn validate(&self, _reports: &[u64]) -> Result<(), RError> {
        // Any d-bit vector can be sent; the adapter has checked the bits above d.
        Ok(())
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        let mut c = BitCounter::new(self.d as usize);
        for r in reports.chunks_exact(self.words()) {
            c.add(0, r);
        }
        c.add_into(counts);
        Ok(())
    }

    fn estimate(&self, state: &State, items: Option<&[u64]>) -> Result<ItemEstimates, RError> {
        let n = state.reports;
        Ok(match items {
            Some(items) => self
                .pure
                .estimates(items.iter().map(|&i| state.words[i as usize] as f64), n),
            None => self
                .pure
                .estimates(state.words.iter().map(|&c| c as f64), n),
        })
    }

    fn variance(&self, counts: &[f64]) -> Result<Vec<f64>, RError> {
        Ok(self.pure.variances(counts))
    }

    fn report_distribution(&self, value: u64) -> Result<ReportDistribution, RError> {
        if self.d > 16 {
            return Err(RError::unsupported(format!(
                "2^{} reports are too many to list",
                self.d
            )));
        }
        let one: Vec<f64> = (0..self.d)
            .map(|i| if i == value { self.pure.p } else { self.pure.q })
            .collect();
        let (reports, probabilities) = product_distribution(&one).into_iter().unzip();
        Ok(ReportDistribution {
            report_len: 1,
            reports,
            probabilities,
            complete: true,
        })
    }
}
