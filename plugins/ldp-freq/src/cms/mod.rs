//! Apple's count mean sketch (`cms`).
//!
//! Apple's Differential Privacy Team: "Learning with Privacy at Scale", Apple Machine
//! Learning Journal, 2017 (Algorithms 1–3); the estimator of pure-ldp's `CMSServer`.
//!
//! A client holding `v` picks one of `k` public hash functions `h_j` uniformly, encodes the
//! vector `−1^m` with `+1` at `h_j(v)`, flips each coordinate independently with probability
//! `φ = 1/(1 + e^{ε/2})`, and sends the `m` signs (as bits, 1 for `+1`) with `j`.
//! Privacy: two inputs differ in at most two coordinates: ratio `((1−φ)/φ)² = e^ε`. The
//! sampler flips with the smallest grid `φ ≥` the ideal one.
//!
//! Server: with `c_ε = 1/(1 − 2φ)`, each report contributes `c_ε(bit − ½) + ½` to its row's
//! column — unbiased for the one-hot coordinate — and `f(x) = m/(m−1)·(Σ_j Y[j][h_j(x)] − n/m)`
//! (`mosaic_ldp::sketch`). The state counts, per row and column, the reports with the bit set,
//! and the reports per row: `k·(m + 1)` counters whatever the domain. Variance (over the noise,
//! the rows drawn and random hash functions):
//! `Var = (m/(m−1))²·n(c_ε² − 1)/4 + (n − c_x)(1 − 1/k)/(m − 1) + (F₂ − c_x²)/(k(m − 1))`.

use mosaic_abi::{
    AlgorithmDescriptor, Family, FrequencyOracle, ItemEstimates, OracleLayout, ParamMap, ParamSpec,
    RError, ReportDistribution, RngSeed, State, StateKind,
};
use mosaic_ldp::bits::{product_distribution, RowVectors};
use mosaic_ldp::rng::{bernoulli_bits, for_each_block, uniform_below, Bernoulli};
use mosaic_ldp::sketch::{estimates, SketchHashes, SketchVariance};
use mosaic_ldp::{params, WHOLE_DOMAIN_LIMIT};

#[cfg(test)]
mod tests;

/// The parameters of the sketch shape shared by `cms` and `hcms`.
pub(crate) fn sketch_params(d: AlgorithmDescriptor) -> AlgorithmDescriptor {
    d.param(params::epsilon_spec())
        .param(params::domain_size_spec(2))
        .param(
            ParamSpec::i64("hashes", Some(256), "Number k of hash functions (rows).")
                .range(1.0, (1u64 << 16) as f64),
        )
        .param(
            ParamSpec::i64(
                "width",
                Some(1024),
                "Columns m per row, a power of two ≥ 2.",
            )
            .range(2.0, (1u64 << 16) as f64),
        )
        .param(ParamSpec::i64(
            "hash_seed",
            Some(0),
            "Picks the public hash functions (clients and server must agree).",
        ))
}

/// `k`, `m` and the hash seed, checked.
pub(crate) fn sketch_shape(p: &ParamMap) -> Result<(u64, u64, u64), RError> {
    let k = params::int(p, "hashes", 1, 1 << 16)?;
    let m = params::int(p, "width", 2, 1 << 16)?;
    if !m.is_power_of_two() {
        return Err(RError::param(
            "width",
            format!("must be a power of two, got {m}"),
        ));
    }
    Ok((k, m, p.i64("hash_seed")? as u64))
}

/// The descriptor of `cms`.
pub fn descriptor() -> AlgorithmDescriptor {
    sketch_params(AlgorithmDescriptor::new(
        Family::LdpOracle,
        "cms",
        "Apple's count mean sketch: a random one of k hashes, the one-hot m-vector of the \
         hashed value with each sign flipped w.p. 1/(1+e^(ε/2)).",
    ))
}

/// Apple's count mean sketch.
#[derive(Clone, Debug, PartialEq)]
pub struct Cms {
    d: u64,
    hashes: SketchHashes,
    layout: RowVectors,
    flip: Bernoulli,
    c: f64,
    var: SketchVariance,
}

impl Cms {
    /// A sketch of `k` rows of `m` columns (a power of two) with budget `epsilon`.
    pub fn new(epsilon: f64, d: u64, k: u64, m: u64, hash_seed: u64) -> Result<Cms, RError> {
        params::check_epsilon(epsilon)?;
        let layout = RowVectors::new(m, k).map_err(|e| RError::param("hashes", e))?;
        let e = (-epsilon / 2.0).exp();
        let flip = Bernoulli::at_least(e / (1.0 + e));
        let phi = flip.p();
        let c = 1.0 / (1.0 - 2.0 * phi);
        let (kf, mf) = (k as f64, m as f64);
        let s = (mf / (mf - 1.0)).powi(2);
        let other = (1.0 - 1.0 / kf) / (mf - 1.0);
        Ok(Cms {
            d,
            hashes: SketchHashes::new(hash_seed, k, m),
            layout,
            flip,
            c,
            var: SketchVariance {
                a: s * (c * c - 1.0) / 4.0 + other,
                b: -other,
                f: 1.0 / (kf * (mf - 1.0)),
            },
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Cms, RError> {
        let (k, m, seed) = sketch_shape(p)?;
        Cms::new(params::epsilon(p)?, params::domain_size(p, 2)?, k, m, seed)
    }

    fn m(&self) -> u64 {
        self.hashes.m()
    }

    fn k(&self) -> u64 {
        self.hashes.k()
    }

    /// The contributions `Y` (k × m) from a state.
    fn contributions(&self, state: &State) -> Vec<f64> {
        let (k, m) = (self.k() as usize, self.m() as usize);
        let mut y = vec![0.0; k * m];
        for j in 0..k {
            let rows = state.words[k * m + j] as f64;
            for col in 0..m {
                let ones = state.words[j * m + col] as f64;
                y[j * m + col] = self.c * (ones - rows / 2.0) + rows / 2.0;
            }
        }
        y
    }
}

impl FrequencyOracle for Cms {
    fn domain_size(&self) -> u64 {
        self.d
    }

    fn state_len(&self) -> u64 {
        self.k() * (self.m() + 1)
    }

    fn layout(&self) -> OracleLayout {
        OracleLayout {
            report_len: self.layout.report_len() as u32,
            report_bits: self.layout.report_bits(),
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
        let (l, m) = (self.layout.report_len(), self.m());
        let mut reports = out.chunks_exact_mut(l);
        for_each_block(values, first_index, &seed, |bits, chunk| {
            for &v in chunk {
                let r = reports.next().expect("one report per value");
                let j = uniform_below(bits, self.k());
                let col = self.hashes.bucket(j, v);
                // Flips of the all −1 vector, then the hashed coordinate starts at +1.
                bernoulli_bits(
                    bits,
                    self.flip.threshold,
                    &mut r[..self.layout.vector_words()],
                    m as usize,
                );
                r[(col / 64) as usize] ^= 1 << (col % 64);
                self.layout.set_index(r, j);
            }
        });
        Ok(())
    }

    fn validate(&self, reports: &[u64]) -> Result<(), RError> {
        match self.layout.bad_index(reports) {
            Some((i, j)) => Err(RError::input(format!(
                "report {i}: hash index {j} is outside 0..{}",
                self.k()
            ))),
            None => Ok(()),
        }
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        self.layout.count(reports, counts);
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
        if m > 12 || (k << m) > 1 << 16 {
            return Err(RError::unsupported(format!(
                "{k}·2^{m} reports are too many to list"
            )));
        }
        let mut reports = Vec::new();
        let mut probabilities = Vec::new();
        for j in 0..k {
            let col = self.hashes.bucket(j, value);
            let one: Vec<f64> = (0..m)
                .map(|i| {
                    if i == col {
                        self.flip.q()
                    } else {
                        self.flip.p()
                    }
                })
                .collect();
            for (x, p) in product_distribution(&one) {
                reports.push(x | j << m);
                probabilities.push(p / k as f64);
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
