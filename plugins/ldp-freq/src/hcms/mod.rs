//! Apple's Hadamard count mean sketch (`hcms`).
//!
//! Apple's Differential Privacy Team: "Learning with Privacy at Scale", Apple Machine
//! Learning Journal, 2017 (Algorithms 4–5); the estimator of pure-ldp's `CMSServer` with
//! `is_hadamard`.
//!
//! A client holding `v` picks one of `k` public hash functions `h_j` and one of the `m`
//! Hadamard coefficients `l`, both uniformly, and sends the single sign
//! `w = H[l][h_j(v)]` flipped with probability `φ = 1/(1 + e^ε)`, with `j` and `l`:
//! `1 + log₂ m + ⌈log₂ k⌉` bits. Privacy: for fixed `(j, l)` the sign is randomized response
//! on one bit: ratio `(1−φ)/φ = e^ε` (grid `φ ≥` the ideal one).
//!
//! Server: with `c_ε = 1/(1 − 2φ)`, row `j`'s coefficients accumulate `k·c_ε·sign`; one fast
//! Walsh–Hadamard transform per row turns them into the row's column contributions, and
//! `f(x) = m/(m−1)·(Σ_j Y[j][h_j(x)] − n/m)` as in CMS (`mosaic_ldp::sketch`). The state
//! counts the `+1` and `−1` signs per row and coefficient: `2·k·m` counters. Variance, with
//! `e₂ = (1 − 1/m)/(km) + 1/m²`:
//! `Var = (m/(m−1))²·[n(c_ε² − e₂) − c_x(1 − e₂)] + (F₂ − c_x²)/(k(m − 1))`.

use mosaic_abi::{
    AlgorithmDescriptor, Family, FrequencyOracle, ItemEstimates, OracleLayout, ParamMap, RError,
    ReportDistribution, RngSeed, State, StateKind,
};
use mosaic_ldp::rng::{for_each_block, uniform_below, Bernoulli};
use mosaic_ldp::sketch::{estimates, SketchHashes, SketchVariance};
use mosaic_ldp::{params, WHOLE_DOMAIN_LIMIT};

use crate::cms::{sketch_params, sketch_shape};
use crate::hadamard::fwht;

#[cfg(test)]
mod tests;

/// The descriptor of `hcms`.
pub fn descriptor() -> AlgorithmDescriptor {
    sketch_params(AlgorithmDescriptor::new(
        Family::LdpOracle,
        "hcms",
        "Apple's Hadamard count mean sketch: one random Hadamard coefficient of the hashed \
         one-hot vector, its sign flipped w.p. 1/(1+e^ε).",
    ))
}

/// Apple's Hadamard count mean sketch.
#[derive(Clone, Debug, PartialEq)]
pub struct Hcms {
    d: u64,
    hashes: SketchHashes,
    lbits: u32,
    flip: Bernoulli,
    c: f64,
    var: SketchVariance,
}

impl Hcms {
    /// A sketch of `k` rows of `m` columns (a power of two) with budget `epsilon`.
    pub fn new(epsilon: f64, d: u64, k: u64, m: u64, hash_seed: u64) -> Result<Hcms, RError> {
        params::check_epsilon(epsilon)?;
        let e = (-epsilon).exp();
        let flip = Bernoulli::at_least(e / (1.0 + e));
        let c = 1.0 / (1.0 - 2.0 * flip.p());
        let (kf, mf) = (k as f64, m as f64);
        let s = (mf / (mf - 1.0)).powi(2);
        let e2 = (1.0 - 1.0 / mf) / (kf * mf) + 1.0 / (mf * mf);
        Ok(Hcms {
            d,
            hashes: SketchHashes::new(hash_seed, k, m),
            lbits: m.trailing_zeros(),
            flip,
            c,
            var: SketchVariance {
                a: s * (c * c - e2),
                b: -s * (1.0 - e2),
                f: 1.0 / (kf * (mf - 1.0)),
            },
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Hcms, RError> {
        let (k, m, seed) = sketch_shape(p)?;
        Hcms::new(params::epsilon(p)?, params::domain_size(p, 2)?, k, m, seed)
    }

    fn m(&self) -> u64 {
        self.hashes.m()
    }

    fn k(&self) -> u64 {
        self.hashes.k()
    }

    fn jbits(&self) -> u32 {
        params::bits_for(self.k())
    }

    /// `(sign, l, j)` of a report: bit 0 the sign (1 for +1), then `l`, then `j`.
    fn split(&self, r: u64) -> (u64, u64, u64) {
        (
            r & 1,
            (r >> 1) & ((1 << self.lbits) - 1),
            r >> (1 + self.lbits),
        )
    }

    fn contributions(&self, state: &State) -> Vec<f64> {
        let (k, m) = (self.k() as usize, self.m() as usize);
        let scale = k as f64 * self.c;
        let mut y = vec![0.0; k * m];
        for (j, row) in y.chunks_exact_mut(m).enumerate() {
            for (l, v) in row.iter_mut().enumerate() {
                let (plus, minus) = (state.words[j * m + l], state.words[k * m + j * m + l]);
                *v = scale * (plus as f64 - minus as f64);
            }
            fwht(row);
            // Y[j][col] = (1/k)·Σ_l M[j][l]·H[l][col]: the 1/k of the row average.
            for v in row.iter_mut() {
                *v /= k as f64;
            }
        }
        y
    }
}

impl FrequencyOracle for Hcms {
    fn domain_size(&self) -> u64 {
        self.d
    }

    fn state_len(&self) -> u64 {
        2 * self.k() * self.m()
    }

    fn layout(&self) -> OracleLayout {
        OracleLayout {
            report_len: 1,
            report_bits: 1 + self.lbits + self.jbits(),
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
        let mut at = 0;
        for_each_block(values, first_index, &seed, |bits, chunk| {
            for &v in chunk {
                let j = uniform_below(bits, self.k());
                let l = if self.lbits == 0 {
                    0
                } else {
                    bits.take(self.lbits)
                };
                let col = self.hashes.bucket(j, v);
                let w = (l & col).count_ones().is_multiple_of(2) as u64;
                let sign = w ^ self.flip.sample(bits) as u64;
                out[at] = sign | l << 1 | j << (1 + self.lbits);
                at += 1;
            }
        });
        Ok(())
    }

    fn validate(&self, reports: &[u64]) -> Result<(), RError> {
        for (i, &r) in reports.iter().enumerate() {
            let (_, _, j) = self.split(r);
            if j >= self.k() {
                return Err(RError::input(format!(
                    "report {i}: hash index {j} is outside 0..{}",
                    self.k()
                )));
            }
        }
        Ok(())
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        let km = (self.k() * self.m()) as usize;
        let m = self.m() as usize;
        for &r in reports {
            let (sign, l, j) = self.split(r);
            let at = j as usize * m + l as usize;
            counts[if sign == 1 { at } else { km + at }] += 1;
        }
        Ok(())
    }

    fn estimate(&self, state: &State, items: Option<&[u64]>) -> Result<ItemEstimates, RError> {
        let y = self.contributions(state);
        Ok(match items {
            Some(items) => estimates(
                &y,
                &self.hashes,
                items.iter().copied(),
                state.reports,
                &self.var,
            ),
            None if self.d <= WHOLE_DOMAIN_LIMIT => {
                estimates(&y, &self.hashes, 0..self.d, state.reports, &self.var)
            }
            None => {
                return Err(RError::unsupported(format!(
                    "a domain of {} items is too large to estimate whole: ask for candidates",
                    self.d
                )))
            }
        })
    }

    fn variance(&self, counts: &[f64]) -> Result<Vec<f64>, RError> {
        Ok(self.var.variances(counts))
    }

    fn report_distribution(&self, value: u64) -> Result<ReportDistribution, RError> {
        let (k, m) = (self.k(), self.m());
        if 2 * k * m > 1 << 16 {
            return Err(RError::unsupported(format!(
                "{} reports are too many to list",
                2 * k * m
            )));
        }
        let mut reports = Vec::new();
        let mut probabilities = Vec::new();
        for j in 0..k {
            let col = self.hashes.bucket(j, value);
            for l in 0..m {
                let w = (l & col).count_ones().is_multiple_of(2) as u64;
                for sign in 0..2u64 {
                    reports.push(sign | l << 1 | j << (1 + self.lbits));
                    let p = if sign == w {
                        self.flip.q()
                    } else {
                        self.flip.p()
                    };
                    probabilities.push(p / (k * m) as f64);
                }
            }
        }
        Ok(ReportDistribution {
            report_len: 1,
            reports: reports.into(),
            probabilities: probabilities.into(),
            complete: true,
        })
    }
}
