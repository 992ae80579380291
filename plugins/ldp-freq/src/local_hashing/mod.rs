//! Local hashing: `olh` (optimized local hashing) and `blh` (binary local hashing).
//!
//! Wang, Blocki, Li, Jha: "Locally Differentially Private Protocols for Frequency
//! Estimation", USENIX Security 2017, §4.4.
//!
//! A client holding `v` picks a hash function `H` from a family (a uniformly random 32-bit
//! seed), hashes `v` into `0..g` and applies generalized randomized response over `0..g`:
//! it sends `(seed, y)` with `y = H(v)` with probability `p = e^ε/(e^ε + g − 1)`, else a
//! uniformly random other value of `0..g`. BLH uses `g = 2`; OLH `g = round(e^ε) + 1`, which
//! minimises the variance (the `g` of pure-ldp).
//!
//! Privacy: the seed is drawn independently of `v`; given the seed, the report is GRR over
//! `0..g`, so `P[(s, y) | v]/P[(s, y) | v'] ≤ p/q_g = e^ε` with `q_g = (1 − p)/(g − 1)`. The
//! sampler keeps `H(v)` with the largest grid probability `≤ p`.
//!
//! Server: a report supports every item `x` with `H(x) = y`. For `x ≠ v` that happens with
//! probability `1/g` (hash values of distinct items are independent and uniform), so this is a
//! pure protocol with `q = 1/g`. Support counting costs `n · d` hash evaluations, done by the
//! vectorized [`kernel`]; over domains larger than 2^20 the state is the multiset of reports
//! and estimates are asked for candidates (`n_distinct · |candidates|` evaluations).
//!
//! Reports are one word: `y` in the low `⌈log₂ g⌉` bits, the seed above it.

pub mod kernel;

use mosaic_abi::{
    AlgorithmDescriptor, Family, FrequencyOracle, ItemEstimates, OracleLayout, ParamMap, ParamSpec,
    RError, ReportDistribution, RngSeed, State, StateKind,
};
use mosaic_ldp::estimate::PureProtocol;
use mosaic_ldp::hash::lh_hash;
use mosaic_ldp::rng::{for_each_block, uniform_below, Bernoulli};
use mosaic_ldp::{params, DENSE_DOMAIN_LIMIT, WHOLE_DOMAIN_LIMIT};

use kernel::{count_support, Prepared};

#[cfg(test)]
mod tests;

/// Largest hash range `g` (OLH's `round(e^ε) + 1` is capped here for very large ε).
pub const MAX_G: u64 = 1 << 24;

/// Hash seeds listed by `report_distribution` (the seed is public randomness).
pub const LISTED_SEEDS: u32 = 16;

/// The descriptor of `olh`.
pub fn olh_descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::LdpOracle,
        "olh",
        "Optimized local hashing: hash the value into g = round(e^ε)+1 buckets with a random \
         public hash function, then randomized response over the buckets.",
    )
    .param(params::epsilon_spec())
    .param(params::domain_size_spec(2))
    .param(
        ParamSpec::i64(
            "g",
            Some(0),
            "Hash range g (0: round(e^ε) + 1, the optimum).",
        )
        .range(0.0, MAX_G as f64),
    )
}

/// The descriptor of `blh`.
pub fn blh_descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::LdpOracle,
        "blh",
        "Binary local hashing: hash the value to one bit with a random public hash function, \
         then randomized response on the bit.",
    )
    .param(params::epsilon_spec())
    .param(params::domain_size_spec(2))
}

/// Local hashing into `0..g` over the domain `0..d`.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalHashing {
    d: u64,
    g: u32,
    ybits: u32,
    keep: Bernoulli,
    pure: PureProtocol,
}

impl LocalHashing {
    /// Local hashing with budget `epsilon` over `domain_size` items into `g` buckets.
    pub fn new(epsilon: f64, domain_size: u64, g: u64) -> Result<LocalHashing, RError> {
        params::check_epsilon(epsilon)?;
        if domain_size < 2 {
            return Err(RError::param(
                "domain_size",
                format!("must be at least 2, got {domain_size}"),
            ));
        }
        if !(2..=MAX_G).contains(&g) {
            return Err(RError::param(
                "g",
                format!("must be in 2..={MAX_G}, got {g}"),
            ));
        }
        let keep = Bernoulli::at_most(1.0 / (1.0 + (g - 1) as f64 * (-epsilon).exp()));
        Ok(LocalHashing {
            d: domain_size,
            g: g as u32,
            ybits: params::bits_for(g),
            keep,
            pure: PureProtocol::new(keep.p(), 1.0 / g as f64),
        })
    }

    /// OLH's `g = round(e^ε) + 1` (capped at [`MAX_G`]).
    pub fn optimal_g(epsilon: f64) -> u64 {
        (epsilon.exp().round() + 1.0).min(MAX_G as f64) as u64
    }

    /// Build from resolved parameters; `binary` for BLH (`g = 2`).
    pub fn from_params(binary: bool, p: &ParamMap) -> Result<LocalHashing, RError> {
        let eps = params::epsilon(p)?;
        let g = if binary {
            2
        } else {
            match params::int(p, "g", 0, MAX_G)? {
                0 => LocalHashing::optimal_g(eps),
                g => g,
            }
        };
        LocalHashing::new(eps, params::domain_size(p, 2)?, g)
    }

    /// The hash range.
    pub fn g(&self) -> u32 {
        self.g
    }

    /// `p` (keep the hashed value) and `q = 1/g`.
    pub fn protocol(&self) -> PureProtocol {
        self.pure
    }

    fn dense(&self) -> bool {
        self.d <= DENSE_DOMAIN_LIMIT
    }

    fn split(&self, word: u64) -> (u32, u32) {
        (
            (word >> self.ybits) as u32,
            (word & ((1 << self.ybits) - 1)) as u32,
        )
    }

    /// Support counts of `items` (all sharing the high bits `hi`) over report records
    /// `(word, weight)`.
    fn support(&self, records: &[(u64, u64)], hi: u32, items: &[u32]) -> Vec<u64> {
        let mut total = vec![0u64; items.len()];
        let mut counts = vec![0u32; items.len()];
        let mut batch: Vec<Prepared> = Vec::with_capacity(records.len().min(1 << 16));
        let mut weight = 0u64;
        let flush = |batch: &mut Vec<Prepared>, counts: &mut Vec<u32>, total: &mut Vec<u64>| {
            count_support(batch, items, counts);
            for (t, c) in total.iter_mut().zip(counts.iter_mut()) {
                *t += *c as u64;
                *c = 0;
            }
            batch.clear();
        };
        for &(word, m) in records {
            let (seed, y) = self.split(word);
            if m > u32::MAX as u64 / 2 {
                // One enormous multiplicity: count it on its own, in u64.
                let p = Prepared::new(seed, y, self.g, hi, 1);
                for (t, &x) in total.iter_mut().zip(items) {
                    *t += m * p.supports(x) as u64;
                }
                continue;
            }
            if weight + m > u32::MAX as u64 || batch.len() == 1 << 16 {
                flush(&mut batch, &mut counts, &mut total);
                weight = 0;
            }
            batch.push(Prepared::new(seed, y, self.g, hi, m as u32));
            weight += m;
        }
        if !batch.is_empty() {
            flush(&mut batch, &mut counts, &mut total);
        }
        total
    }
}

impl FrequencyOracle for LocalHashing {
    fn domain_size(&self) -> u64 {
        self.d
    }

    fn state_len(&self) -> u64 {
        if self.dense() {
            self.d
        } else {
            0
        }
    }

    fn layout(&self) -> OracleLayout {
        OracleLayout {
            report_len: 1,
            report_bits: 32 + self.ybits,
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
        let g = self.g as u64;
        let mut at = 0;
        for_each_block(values, first_index, &seed, |bits, chunk| {
            for &v in chunk {
                let s = bits.take(32) as u32;
                let h = lh_hash(s, v, self.g) as u64;
                let y = if self.keep.sample(bits) {
                    h
                } else {
                    let r = uniform_below(bits, g - 1);
                    r + (r >= h) as u64
                };
                out[at] = y | (s as u64) << self.ybits;
                at += 1;
            }
        });
        Ok(())
    }

    fn validate(&self, reports: &[u64]) -> Result<(), RError> {
        for (i, &w) in reports.iter().enumerate() {
            let (_, y) = self.split(w);
            if y >= self.g {
                return Err(RError::input(format!(
                    "report {i}: hashed value {y} is outside 0..g = {}",
                    self.g
                )));
            }
        }
        Ok(())
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        let items: Vec<u32> = (0..self.d as u32).collect();
        let records: Vec<(u64, u64)> = reports.iter().map(|&w| (w, 1)).collect();
        for (c, s) in counts.iter_mut().zip(self.support(&records, 0, &items)) {
            *c += s;
        }
        Ok(())
    }

    fn estimate(&self, state: &State, items: Option<&[u64]>) -> Result<ItemEstimates, RError> {
        let n = state.reports;
        if state.kind == StateKind::Counts {
            return Ok(match items {
                Some(items) => self
                    .pure
                    .estimates(items.iter().map(|&i| state.words[i as usize] as f64), n),
                None => self
                    .pure
                    .estimates(state.words.iter().map(|&c| c as f64), n),
            });
        }
        let all: Vec<u64>;
        let items = match items {
            Some(items) => items,
            None if self.d <= WHOLE_DOMAIN_LIMIT => {
                all = (0..self.d).collect();
                &all
            }
            None => {
                return Err(RError::unsupported(format!(
                    "a domain of {} items is too large to estimate whole: ask for candidates",
                    self.d
                )))
            }
        };
        let records: Vec<(u64, u64)> = state.records().map(|(r, m)| (r[0], m)).collect();
        // Candidates grouped by their high 32 bits, which fix the hash keys of a report.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| items[i] >> 32);
        let mut support = vec![0u64; items.len()];
        for group in order.chunk_by(|&a, &b| items[a] >> 32 == items[b] >> 32) {
            let hi = (items[group[0]] >> 32) as u32;
            let lows: Vec<u32> = group.iter().map(|&i| items[i] as u32).collect();
            for (&i, s) in group.iter().zip(self.support(&records, hi, &lows)) {
                support[i] = s;
            }
        }
        Ok(self
            .pure
            .estimates(support.into_iter().map(|s| s as f64), n))
    }

    fn variance(&self, counts: &[f64]) -> Result<Vec<f64>, RError> {
        Ok(self.pure.variances(counts))
    }

    fn report_distribution(&self, value: u64) -> Result<ReportDistribution, RError> {
        if self.g > 1 << 12 {
            return Err(RError::unsupported(format!(
                "{} hashed values per seed are too many to list",
                self.g
            )));
        }
        // Seeds 0..LISTED_SEEDS, each drawn with probability 2^-32; given the seed, GRR.
        let seed_p = 1.0 / (1u64 << 32) as f64;
        let other = self.keep.q() / (self.g - 1) as f64;
        let mut reports = Vec::new();
        let mut probabilities = Vec::new();
        for s in 0..LISTED_SEEDS {
            let h = lh_hash(s, value, self.g);
            for y in 0..self.g {
                reports.push(y as u64 | (s as u64) << self.ybits);
                probabilities.push(seed_p * if y == h { self.keep.p() } else { other });
            }
        }
        Ok(ReportDistribution {
            report_len: 1,
            reports: reports.into(),
            probabilities: probabilities.into(),
            complete: false,
        })
    }
}
