//! Hadamard response (`hr`).
//!
//! Acharya, Sun, Zhang: "Hadamard Response: Estimating Distributions Privately, Efficiently,
//! and with Little Communication", AISTATS 2019; the blocked form of its general-privacy
//! regime, as pure-ldp implements it (`Hadamard_Rand_general_original`).
//!
//! The `K = B·b` outputs form `B` blocks of `b = 2^t` outputs; each block holds `b − 1` items
//! (rows `1..b` of the `b × b` Sylvester–Hadamard matrix `H`), `t = ⌈log₂(d/B + 1)⌉`. Item `x`
//! lives in block `β(x) = ⌊x/(b−1)⌋`, row `r(x) = x mod (b−1) + 1`; its set `S_x` is the
//! `b/2` outputs `y` of its block with `H[r(x)][y mod b] = +1`. A client holding `x` reports a
//! uniformly random output of all `K` with probability `α = 2B/(2B − 1 + e^ε)`, else a
//! uniformly random output of `S_x`. With `D = 2B − 1 + e^ε`:
//! `P[y | x] = 2e^ε/(bD)` on `S_x`, `2/(bD)` elsewhere — ratio `e^ε`: ε-LDP. The sampler uses
//! the smallest grid `α ≥` the ideal one, whose effective `e^ε' ≤ e^ε` the estimator uses.
//!
//! Server: the histogram of outputs. With `T_x = Σ_{y in β(x)} H[r(x)][y]·count[y]` (one
//! fast Walsh–Hadamard transform per block), `ĉ_x = D·T_x/(e^ε − 1)` is unbiased and
//! `Var[ĉ_x] = (D/(e^ε−1))²·[2(n − C_β)/D + (e^ε + 1)C_β/D − (e^ε − 1)²c_x/D²]`, where `C_β`
//! is the true count of the item's block: the variance differs per item.
//!
//! `blocks` (B, a power of two) defaults to pure-ldp's choice: 1 for ε ≤ 1 (where HR is a pure
//! protocol with `p = e^ε/(e^ε + 1)`, `q = 1/2`), else `2^⌊log₂ min(2d, e^ε)⌋`.

use mosaic_abi::{
    AlgorithmDescriptor, Family, FrequencyOracle, ItemEstimates, OracleLayout, ParamMap, ParamSpec,
    RError, ReportDistribution, RngSeed, State, StateKind,
};
use mosaic_ldp::rng::{for_each_block, Bernoulli};
use mosaic_ldp::{params, DENSE_DOMAIN_LIMIT, WHOLE_DOMAIN_LIMIT};

#[cfg(test)]
mod tests;

/// The descriptor of `hr`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::LdpOracle,
        "hr",
        "Hadamard response: report a random output of the value's Hadamard-row set (or, \
         w.p. 2B/(2B−1+e^ε), of all outputs); log2(K) bits per report.",
    )
    .param(params::epsilon_spec())
    .param(params::domain_size_spec(2).range(2.0, (1u64 << 40) as f64))
    .param(
        ParamSpec::i64(
            "blocks",
            Some(0),
            "Number of blocks B, a power of two (0: 1 for ε ≤ 1, else 2^floor(log2 min(2d, e^ε))).",
        )
        .range(0.0, (1u64 << 20) as f64),
    )
}

/// Hadamard response over `0..d` with `B` blocks of `b` outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct HadamardResponse {
    d: u64,
    blocks: u64,
    tail_bits: u32,
    uniform: Bernoulli,
    /// Effective `e^ε` of the sampler's grid probability.
    e: f64,
}

/// Sylvester–Hadamard entry `H[r][c]`: `+1` when `r & c` has even parity.
#[inline]
fn positive(r: u64, c: u64) -> bool {
    (r & c).count_ones().is_multiple_of(2)
}

/// In-place fast Walsh–Hadamard transform (`out[r] = Σ_c H[r][c]·x[c]`), length a power of 2.
pub fn fwht(x: &mut [f64]) {
    let mut h = 1;
    while h < x.len() {
        for i in (0..x.len()).step_by(2 * h) {
            for j in i..i + h {
                let (a, b) = (x[j], x[j + h]);
                x[j] = a + b;
                x[j + h] = a - b;
            }
        }
        h *= 2;
    }
}

impl HadamardResponse {
    /// Hadamard response with budget `epsilon` over `domain_size` items in `blocks` blocks
    /// (0: pure-ldp's default).
    pub fn new(epsilon: f64, domain_size: u64, blocks: u64) -> Result<HadamardResponse, RError> {
        params::check_epsilon(epsilon)?;
        if !(2..=1 << 40).contains(&domain_size) {
            return Err(RError::param(
                "domain_size",
                format!("must be in 2..=2^40, got {domain_size}"),
            ));
        }
        let blocks = match blocks {
            0 if epsilon <= 1.0 => 1,
            0 => {
                let m = (2.0 * domain_size as f64).min(epsilon.exp());
                1u64 << (m.log2().floor() as u32).min(40)
            }
            b if b.is_power_of_two() => b,
            b => {
                return Err(RError::param(
                    "blocks",
                    format!("must be 0 or a power of two, got {b}"),
                ))
            }
        };
        // t = ⌈log₂(d/B + 1)⌉: the smallest t with B·(2^t − 1) ≥ d.
        let mut tail_bits = 1;
        while blocks * ((1u64 << tail_bits) - 1) < domain_size {
            tail_bits += 1;
        }
        let b = blocks as f64;
        let ideal = 2.0 * b / (2.0 * b - 1.0 + epsilon.exp());
        let uniform = Bernoulli::at_least(ideal);
        let a = uniform.p();
        Ok(HadamardResponse {
            d: domain_size,
            blocks,
            tail_bits,
            uniform,
            e: 1.0 + 2.0 * b * uniform.q() / a,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<HadamardResponse, RError> {
        HadamardResponse::new(
            params::epsilon(p)?,
            params::domain_size(p, 2)?,
            params::int(p, "blocks", 0, 1 << 20)?,
        )
    }

    /// Number of blocks `B`.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Outputs per block `b`.
    pub fn block_size(&self) -> u64 {
        1 << self.tail_bits
    }

    /// Number of outputs `K = B·b`.
    pub fn outputs(&self) -> u64 {
        self.blocks << self.tail_bits
    }

    fn place(&self, x: u64) -> (u64, u64) {
        let per = self.block_size() - 1;
        (x / per, x % per + 1)
    }

    fn big_d(&self) -> f64 {
        2.0 * self.blocks as f64 - 1.0 + self.e
    }

    fn dense(&self) -> bool {
        self.d <= DENSE_DOMAIN_LIMIT
    }

    /// `ĉ` from a block transform value `T`, and the block count estimate from its mass.
    fn count_of(&self, t: f64) -> f64 {
        self.big_d() * t / (self.e - 1.0)
    }

    fn block_count_of(&self, mass: f64, n: f64) -> f64 {
        let dd = self.big_d();
        (mass - 2.0 * n / dd) * dd / (self.e - 1.0)
    }

    fn item_variance(&self, c: f64, block: f64, n: f64) -> f64 {
        let (dd, e) = (self.big_d(), self.e);
        let s = dd / (e - 1.0);
        s * s
            * (2.0 * (n - block) / dd + (e + 1.0) * block / dd - (e - 1.0).powi(2) * c / (dd * dd))
    }

    /// Transform values `T` and block masses of `items` from a state: one fast
    /// Walsh–Hadamard transform per block of counters; over a report multiset (blocks too
    /// large to transform), the sum over the block's records of each candidate.
    fn transforms(&self, state: &State, items: &[u64]) -> (Vec<f64>, Vec<f64>) {
        let b = self.block_size();
        let mut t = vec![0.0; items.len()];
        let mut mass = vec![0.0; items.len()];
        if state.kind == StateKind::Reports {
            for (i, &x) in items.iter().enumerate() {
                let (beta, r) = self.place(x);
                for (rep, m) in state.records_in(beta * b..(beta + 1) * b) {
                    let sign = if positive(r, rep[0] % b) { 1.0 } else { -1.0 };
                    t[i] += sign * m as f64;
                    mass[i] += m as f64;
                }
            }
            return (t, mass);
        }
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| items[i]);
        let mut cache: Option<(u64, Vec<f64>, f64)> = None;
        for i in order {
            let (beta, r) = self.place(items[i]);
            if cache.as_ref().is_none_or(|c| c.0 != beta) {
                let words = &state.words[(beta * b) as usize..((beta + 1) * b) as usize];
                let mut h: Vec<f64> = words.iter().map(|&w| w as f64).collect();
                let total = h.iter().sum();
                fwht(&mut h);
                cache = Some((beta, h, total));
            }
            let c = cache.as_ref().expect("just filled");
            t[i] = c.1[r as usize];
            mass[i] = c.2;
        }
        (t, mass)
    }
}

impl FrequencyOracle for HadamardResponse {
    fn domain_size(&self) -> u64 {
        self.d
    }

    fn state_len(&self) -> u64 {
        if self.dense() {
            self.outputs()
        } else {
            0
        }
    }

    fn layout(&self) -> OracleLayout {
        OracleLayout {
            report_len: 1,
            report_bits: self.outputs().trailing_zeros().max(1),
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
        let out_bits = self.outputs().trailing_zeros();
        let b = self.block_size();
        let mut at = 0;
        for_each_block(values, first_index, &seed, |bits, chunk| {
            for &x in chunk {
                out[at] = if self.uniform.sample(bits) {
                    if out_bits == 0 {
                        0
                    } else {
                        bits.take(out_bits)
                    }
                } else {
                    // Uniform over S_x: a uniform column, moved into the +1 half by flipping
                    // the lowest set bit of the row when it lands on a −1 (a bijection).
                    let (beta, r) = self.place(x);
                    let mut c = bits.take(self.tail_bits);
                    if !positive(r, c) {
                        c ^= r & r.wrapping_neg();
                    }
                    beta * b + c
                };
                at += 1;
            }
        });
        Ok(())
    }

    fn validate(&self, reports: &[u64]) -> Result<(), RError> {
        // Every output below K is possible; the adapter checked the bits above log2(K).
        let _ = reports;
        Ok(())
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        for &y in reports {
            counts[y as usize] += 1;
        }
        Ok(())
    }

    fn estimate(&self, state: &State, items: Option<&[u64]>) -> Result<ItemEstimates, RError> {
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
        let n = state.reports as f64;
        let (t, mass) = self.transforms(state, items);
        let counts: Vec<f64> = t.iter().map(|&t| self.count_of(t)).collect();
        let variance = counts
            .iter()
            .zip(&mass)
            .map(|(&c, &m)| self.item_variance(c, self.block_count_of(m, n), n).max(0.0))
            .collect();
        Ok(ItemEstimates { counts, variance })
    }

    fn variance(&self, counts: &[f64]) -> Result<Vec<f64>, RError> {
        let n: f64 = counts.iter().sum();
        let per = (self.block_size() - 1) as usize;
        let block: Vec<f64> = counts.chunks(per).map(|c| c.iter().sum()).collect();
        Ok(counts
            .iter()
            .enumerate()
            .map(|(x, &c)| self.item_variance(c, block[x / per], n))
            .collect())
    }

    fn report_distribution(&self, value: u64) -> Result<ReportDistribution, RError> {
        let k = self.outputs();
        if k > 1 << 16 {
            return Err(RError::unsupported(format!(
                "{k} outputs are too many to list"
            )));
        }
        let b = self.block_size();
        let (beta, r) = self.place(value);
        let a = self.uniform.p();
        let probabilities = (0..k)
            .map(|y| {
                let in_set = y / b == beta && positive(r, y % b);
                a / k as f64
                    + if in_set {
                        self.uniform.q() * 2.0 / b as f64
                    } else {
                        0.0
                    }
            })
            .collect();
        Ok(ReportDistribution {
            report_len: 1,
            reports: (0..k).collect(),
            probabilities,
            complete: true,
        })
    }
}
