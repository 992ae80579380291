//! RAPPOR (`rappor`).
//!
//! Erlingsson, Pihur, Korolova: "RAPPOR: Randomized Aggregatable Privacy-Preserving Ordinal
//! Response", CCS 2014.
//!
//! Clients are split into `C` cohorts (a uniformly random cohort per report); each cohort has
//! `h` hash functions into a Bloom filter of `m` bits. A client holding `v`:
//! 1. sets the bits `B` of `v`'s Bloom filter in its cohort;
//! 2. permanent randomized response (PRR): each bit becomes `B'ᵢ = Bᵢ` with probability
//!    `1 − f`, else a fair coin (`P[B'=1 | B=1] = 1 − f/2`, `P[B'=1 | B=0] = f/2`);
//! 3. instantaneous randomized response (IRR): reports `Sᵢ = 1` with probability `q` if
//!    `B'ᵢ = 1`, `p` if `B'ᵢ = 0` (`irr_p`, `irr_q`; `p = 0, q = 1` turns it off);
//!
//! and sends the `m` bits with its cohort. `epsilon` is the PRR's budget
//! `ε∞ = 2h·ln((1 − f/2)/(f/2))`, so `f = 2/(1 + e^{ε/(2h)})` (grid: the smallest `f/2 ≥` the
//! ideal one): two values differ in at most `2h` Bloom bits, each with ratio at most
//! `(1 − f/2)/(f/2)`, and the IRR only post-processes `B'`, so every report is ε-LDP (one
//! report's own budget, `h·ln(q*(1−p*)/(p*(1−q*)))`, is smaller when the IRR is on). This
//! oracle draws the PRR afresh for each report; a deployment that collects one value
//! repeatedly memoizes `B'` per client and value, as the paper does, to keep `ε∞` over time.
//!
//! Server: per cohort the count `N_c` of reports and `c_{c,j}` of reports with bit `j` set. With
//! `p* = (f/2)q + (1 − f/2)p` and `q* = (1 − f/2)q + (f/2)p`, `t_{c,j} = (c_{c,j} − p*·N_c)/(q* − p*)`
//! estimates the number of cohort-`c` clients whose Bloom bit `j` is set. Decoding regresses
//! `t` on the design matrix `X` (rows: cohort bits; columns: candidate values; `X = 1` where a
//! value sets the bit in that cohort): least squares `ĉ = C·(XᵀX)⁻¹Xᵀt` is unbiased when
//! the candidates include every value held (the paper's regression, without its selection);
//! `decode = "lasso"` first selects the candidates with a non-negative lasso (the paper's
//! step 2), then refits least squares on them (step 3), which is biased towards 0 for the
//! values it drops. The variance of each estimate is computed exactly (`decode` module): the
//! randomized-response noise and the multinomial spread of each value over the cohorts, both
//! linear in the true counts; it differs per item (through `X`).

mod decode;

use std::sync::OnceLock;

use mosaic_abi::{
    AlgorithmDescriptor, Family, FrequencyOracle, ItemEstimates, OracleLayout, ParamMap, ParamSpec,
    RError, ReportDistribution, RngSeed, State, StateKind,
};
use mosaic_ldp::bits::{product_distribution, RowVectors};
use mosaic_ldp::hash::ItemHash;
use mosaic_ldp::params;
use mosaic_ldp::rng::{bernoulli_bits, for_each_block, uniform_below, Bernoulli};

pub use decode::Design;

#[cfg(test)]
mod tests;

/// Largest set of candidates decoded at once (the normal equations are dense).
pub const MAX_CANDIDATES: u64 = 4096;

/// The descriptor of `rappor`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::LdpOracle,
        "rappor",
        "RAPPOR: Bloom filter per cohort, permanent then instantaneous randomized response; \
         least-squares (or lasso) decoding.",
    )
    .param(ParamSpec::f64(
        "epsilon",
        None,
        "Budget ε∞ of the permanent randomized response: f = 2/(1 + e^(ε/2h)) (finite, > 0).",
    ))
    .param(params::domain_size_spec(2))
    .param(
        ParamSpec::i64("bloom_bits", Some(128), "Bloom filter bits m, a power of two.")
            .range(1.0, 4096.0),
    )
    .param(ParamSpec::i64("hashes", Some(2), "Hash functions h per cohort.").range(1.0, 64.0))
    .param(ParamSpec::i64("cohorts", Some(64), "Cohorts C.").range(1.0, 65536.0))
    .param(
        ParamSpec::f64(
            "irr_p",
            Some(0.5),
            "Instantaneous randomized response: P[report 1 | PRR bit 0].",
        )
        .range(0.0, 1.0),
    )
    .param(
        ParamSpec::f64(
            "irr_q",
            Some(0.75),
            "Instantaneous randomized response: P[report 1 | PRR bit 1] (> irr_p).",
        )
        .range(0.0, 1.0),
    )
    .param(ParamSpec::i64(
        "hash_seed",
        Some(0),
        "Picks the cohorts' Bloom hash functions (clients and server must agree).",
    ))
    // Estimates of candidates are one regression over the set: they depend on the set.
    .tag("joint_estimate")
    .param(ParamSpec::str(
        "decode",
        Some("ls"),
        "`ls`: least squares over the candidates (unbiased); `lasso`: non-negative lasso selection, then least squares.",
    ))
}

/// RAPPOR over `0..d`.
pub struct Rappor {
    d: u64,
    m: u64,
    h: u64,
    cohorts: u64,
    layout: RowVectors,
    hashes: Vec<ItemHash>,
    prr: Bernoulli,
    irr_p: Bernoulli,
    irr_q: Bernoulli,
    p_star: f64,
    q_star: f64,
    lasso: bool,
    /// The decoding of the whole domain, computed once.
    whole: OnceLock<Result<Design, RError>>,
}

impl Rappor {
    /// RAPPOR with PRR budget `epsilon` over `domain_size` values.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        epsilon: f64,
        domain_size: u64,
        bloom_bits: u64,
        hashes: u64,
        cohorts: u64,
        irr: (f64, f64),
        hash_seed: u64,
        lasso: bool,
    ) -> Result<Rappor, RError> {
        params::check_epsilon(epsilon)?;
        if !bloom_bits.is_power_of_two() {
            return Err(RError::param(
                "bloom_bits",
                format!("must be a power of two, got {bloom_bits}"),
            ));
        }
        let layout =
            RowVectors::new(bloom_bits, cohorts).map_err(|e| RError::param("cohorts", e))?;
        let (p, q) = irr;
        if p.partial_cmp(&q) != Some(std::cmp::Ordering::Less) {
            return Err(RError::param(
                "irr_q",
                format!("must exceed irr_p = {p}, got {q}"),
            ));
        }
        let e = (-epsilon / (2.0 * hashes as f64)).exp();
        // f/2 = 1/(1 + e^{ε/2h}): the PRR XORs each Bloom bit with a coin of that probability.
        let prr = Bernoulli::at_least(e / (1.0 + e));
        let (irr_p, irr_q) = (Bernoulli::at_most(p), Bernoulli::at_most(q));
        let half_f = prr.p();
        let (pp, qq) = (irr_p.p(), irr_q.p());
        Ok(Rappor {
            d: domain_size,
            m: bloom_bits,
            h: hashes,
            cohorts,
            layout,
            hashes: (0..cohorts * hashes)
                .map(|i| ItemHash::new(hash_seed, i))
                .collect(),
            prr,
            irr_p,
            irr_q,
            p_star: half_f * qq + (1.0 - half_f) * pp,
            q_star: (1.0 - half_f) * qq + half_f * pp,
            lasso,
            whole: OnceLock::new(),
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Rappor, RError> {
        let lasso = match p.str("decode")? {
            "ls" => false,
            "lasso" => true,
            other => {
                return Err(RError::param(
                    "decode",
                    format!("must be `ls` or `lasso`, got `{other}`"),
                ))
            }
        };
        Rappor::new(
            params::epsilon(p)?,
            params::domain_size(p, 2)?,
            params::int(p, "bloom_bits", 1, 4096)?,
            params::int(p, "hashes", 1, 64)?,
            params::int(p, "cohorts", 1, 65536)?,
            (p.f64("irr_p")?, p.f64("irr_q")?),
            p.i64("hash_seed")? as u64,
            lasso,
        )
    }

    /// The Bloom bits of `x` in cohort `c` (with repeats when two hashes collide).
    pub fn bloom(&self, c: u64, x: u64) -> impl Iterator<Item = u64> + '_ {
        (0..self.h).map(move |i| self.hashes[(c * self.h + i) as usize].bucket(x, self.m))
    }

    /// `P[report bit 1 | Bloom bit 0]` and `P[report bit 1 | Bloom bit 1]`.
    pub fn bit_probabilities(&self) -> (f64, f64) {
        (self.p_star, self.q_star)
    }

    fn design(&self, items: &[u64]) -> Result<Design, RError> {
        Design::new(self, items)
    }
}

impl FrequencyOracle for Rappor {
    fn domain_size(&self) -> u64 {
        self.d
    }

    fn state_len(&self) -> u64 {
        self.cohorts * (self.m + 1)
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
        let (l, w, m) = (
            self.layout.report_len(),
            self.layout.vector_words(),
            self.m as usize,
        );
        let mut reports = out.chunks_exact_mut(l);
        let mut prr = vec![0u64; w];
        let mut ones = vec![0u64; w];
        let mut zeros = vec![0u64; w];
        let mut bloom = vec![0u64; w];
        for_each_block(values, first_index, &seed, |bits, chunk| {
            for &v in chunk {
                let r = reports.next().expect("one report per value");
                let c = uniform_below(bits, self.cohorts);
                // PRR: B' = B XOR coin(f/2) (a bit set by two hashes is set once).
                bernoulli_bits(bits, self.prr.threshold, &mut prr, m);
                bloom.fill(0);
                for b in self.bloom(c, v) {
                    bloom[(b / 64) as usize] |= 1 << (b % 64);
                }
                // IRR: S = B' ? coin(q) : coin(p).
                bernoulli_bits(bits, self.irr_q.threshold, &mut ones, m);
                bernoulli_bits(bits, self.irr_p.threshold, &mut zeros, m);
                for i in 0..w {
                    let b_prime = bloom[i] ^ prr[i];
                    r[i] = (b_prime & ones[i]) | (!b_prime & zeros[i]);
                }
                self.layout.set_index(r, c);
            }
        });
        Ok(())
    }

    fn validate(&self, reports: &[u64]) -> Result<(), RError> {
        match self.layout.bad_index(reports) {
            Some((i, c)) => Err(RError::input(format!(
                "report {i}: cohort {c} is outside 0..{}",
                self.cohorts
            ))),
            None => Ok(()),
        }
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        self.layout.count(reports, counts);
        Ok(())
    }

    fn estimate(&self, state: &State, items: Option<&[u64]>) -> Result<ItemEstimates, RError> {
        let (cn, m) = (self.cohorts as usize, self.m as usize);
        let t: Vec<f64> = (0..cn * m)
            .map(|r| {
                let n_c = state.words[cn * m + r / m] as f64;
                (state.words[r] as f64 - self.p_star * n_c) / (self.q_star - self.p_star)
            })
            .collect();
        let n = state.reports as f64;
        match items {
            None => {
                if self.d > MAX_CANDIDATES {
                    return Err(RError::unsupported(format!(
                        "decoding all {} values at once is too large (at most {MAX_CANDIDATES}): ask for candidates",
                        self.d
                    )));
                }
                let design = self
                    .whole
                    .get_or_init(|| self.design(&(0..self.d).collect::<Vec<_>>()));
                match design {
                    Ok(design) => design.estimate(self, &t, n, self.lasso),
                    Err(e) => Err(e.clone()),
                }
            }
            Some(items) => {
                if items.len() as u64 > MAX_CANDIDATES {
                    return Err(RError::unsupported(format!(
                        "{} candidates are too many to decode at once (at most {MAX_CANDIDATES})",
                        items.len()
                    )));
                }
                // Decode the distinct candidates, then answer in the order asked.
                let mut distinct = items.to_vec();
                distinct.sort_unstable();
                distinct.dedup();
                let design = self.design(&distinct)?;
                let e = design.estimate(self, &t, n, self.lasso)?;
                let at = |x: &u64| distinct.binary_search(x).expect("a candidate");
                Ok(ItemEstimates {
                    counts: items.iter().map(|x| e.counts[at(x)]).collect(),
                    variance: items.iter().map(|x| e.variance[at(x)]).collect(),
                })
            }
        }
    }

    fn variance(&self, counts: &[f64]) -> Result<Vec<f64>, RError> {
        if self.d > MAX_CANDIDATES {
            return Err(RError::unsupported(format!(
                "the variance over all {} values needs their joint decoding (at most {MAX_CANDIDATES})",
                self.d
            )));
        }
        let design = self
            .whole
            .get_or_init(|| self.design(&(0..self.d).collect::<Vec<_>>()));
        match design {
            Ok(design) => Ok(design.variance(self, counts)),
            Err(e) => Err(e.clone()),
        }
    }

    fn report_distribution(&self, value: u64) -> Result<ReportDistribution, RError> {
        if self.m > 12 || (self.cohorts << self.m) > 1 << 16 {
            return Err(RError::unsupported(format!(
                "{}·2^{} reports are too many to list",
                self.cohorts, self.m
            )));
        }
        let mut reports = Vec::new();
        let mut probabilities = Vec::new();
        for c in 0..self.cohorts {
            let bloom: Vec<u64> = self.bloom(c, value).collect();
            let one: Vec<f64> = (0..self.m)
                .map(|j| {
                    if bloom.contains(&j) {
                        self.q_star
                    } else {
                        self.p_star
                    }
                })
                .collect();
            for (x, p) in product_distribution(&one) {
                reports.push(x | c << self.m);
                probabilities.push(p / self.cohorts as f64);
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
