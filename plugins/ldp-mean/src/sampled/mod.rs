//! `piecewise` and `hybrid`: the Piecewise and Hybrid mechanisms, with each user reporting
//! `k` of the `d` attributes.
//!
//! Wang, Xiao, Yang, Zhao, Hui, Shin, Shin, Yu: "Collecting and Analyzing Multidimensional
//! Data with Local Differential Privacy", ICDE 2019, Algorithm 4.
//!
//! A user with `x ∈ [-1, 1]^d` samples `k` distinct attributes uniformly, reports for each
//! sampled `j` the value `(d/k)·M(x_j)` of the one-attribute mechanism `M` (Piecewise or
//! Hybrid, [`crate::scalar`]) at budget `ε/k`, and nothing for the others (an implicit 0).
//! By composition the report is ε-LDP; each coordinate is unbiased, with
//! `Var[t_j] = (d/k)·(Var_M(x_j) + x_j²) − x_j²`. The paper's choice of `k` (the default,
//! `k = 0`) is `max(1, min(d, ⌊ε/2.5⌋))`. With `d = 1` this is the one-attribute mechanism.
//!
//! Report: `k` words, each `(j << 40) | u`, attributes in increasing order, where `u` is the
//! value in fixed point: `t·2^20 + O` rounded stochastically to an integer (unbiased;
//! rounding is post-processing), with the offset `O = ⌈(d/k)·bound·2^20⌉` keeping it
//! non-negative. Server state: per attribute, the sum of its `u` and how many reports sampled
//! it (`2d` counters); the mean of `j` is `(Σu − m_j·O)/(2^20·n)`.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MeanMechanism, ParamMap, ParamSpec, RError, RngSeed, RNG_BLOCK,
};
use mosaic_ldp::params;
use mosaic_ldp::rng::{stream, uniform_below, Bits};

use crate::scalar::{unit, Base, Scalar};

#[cfg(test)]
mod tests;

/// Fractional bits of a reported value.
pub const FIXED_BITS: u32 = mosaic_abi::family::ldp::mean::FIXED_BITS;
/// Bits of the value field of a report word.
const VALUE_BITS: u32 = 40;
/// The most attributes (the index field has 24 bits).
pub const MAX_DIMS: u64 = 1 << 24;
/// The most attributes one user reports.
pub const MAX_K: u64 = 1024;

fn descriptor(base: Base, doc: &str) -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(Family::LdpMean, base.name(), doc)
        .param(params::epsilon_spec())
        .param(
            ParamSpec::i64(
                "dims",
                Some(1),
                "Attributes per user d, each in [-1, 1] (at most 2^24).",
            )
            .min(1.0),
        )
        .param(
            ParamSpec::i64(
                "k",
                Some(0),
                "Attributes each user reports, at budget ε/k (0: the paper's max(1, min(d, ⌊ε/2.5⌋))).",
            )
            .min(0.0),
        )
}

/// The descriptor of `piecewise`.
pub fn piecewise_descriptor() -> AlgorithmDescriptor {
    descriptor(
        Base::Piecewise,
        "Piecewise mechanism (Wang et al. 2019): a value uniform on a piece around (C+1)x/2 \
         with probability e^{ε/2}/(e^{ε/2}+1), else on the rest of [-C, C]; k of d attributes.",
    )
}

/// The descriptor of `hybrid`.
pub fn hybrid_descriptor() -> AlgorithmDescriptor {
    descriptor(
        Base::Hybrid,
        "Hybrid mechanism (Wang et al. 2019): Piecewise with probability 1 − e^{−ε/2} \
         (ε > 0.61), else Duchi's ±B; k of d attributes.",
    )
}

/// The paper's number of attributes to report: `max(1, min(d, ⌊ε/2.5⌋))`.
pub fn paper_k(epsilon: f64, dims: u64) -> u64 {
    ((epsilon / 2.5).floor() as u64).clamp(1, dims)
}

/// A one-attribute mechanism applied to `k` sampled attributes of `d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampled {
    dims: u32,
    k: u32,
    scalar: Scalar,
    scale: f64,
    offset: u64,
}

impl Sampled {
    /// `base` (Piecewise or Hybrid) at total budget `epsilon` over `dims` attributes, each user
    /// reporting `k` of them (`0`: [`paper_k`]).
    pub fn new(base: Base, epsilon: f64, dims: u64, k: u64) -> Result<Sampled, RError> {
        params::check_epsilon(epsilon)?;
        if !(1..=MAX_DIMS).contains(&dims) {
            return Err(RError::param(
                "dims",
                format!("must be in 1..={MAX_DIMS}, got {dims}"),
            ));
        }
        let k = if k == 0 { paper_k(epsilon, dims) } else { k };
        if k > dims.min(MAX_K) {
            return Err(RError::param(
                "k",
                format!("must be at most dims = {dims} (and {MAX_K}), got {k}"),
            ));
        }
        let scalar = Scalar::new(base, epsilon / k as f64);
        let scale = dims as f64 / k as f64;
        let offset = (scale * scalar.bound() * (1u64 << FIXED_BITS) as f64).ceil();
        let fits = 2.0 * offset + 1.0 < (1u64 << VALUE_BITS) as f64;
        if !fits {
            return Err(RError::param(
                "epsilon",
                format!(
                    "{epsilon} over {dims} attributes with k = {k} makes reports as large as ±{:.3e}, beyond the report's fixed-point range: raise epsilon or k",
                    scale * scalar.bound()
                ),
            ));
        }
        Ok(Sampled {
            dims: dims as u32,
            k: k as u32,
            scalar,
            scale,
            offset: offset as u64,
        })
    }

    /// Build from resolved parameters (`epsilon`, `dims`, `k`).
    pub fn from_params(base: Base, p: &ParamMap) -> Result<Sampled, RError> {
        Sampled::new(
            base,
            params::epsilon(p)?,
            params::int(p, "dims", 1, MAX_DIMS)?,
            params::int(p, "k", 0, MAX_K)?,
        )
    }

    /// The number of attributes each user reports.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// The one-attribute mechanism (at budget `ε/k`).
    pub fn scalar(&self) -> &Scalar {
        &self.scalar
    }

    /// Draw `k` distinct attributes of `d` (Floyd's algorithm), sorted.
    fn sample_attributes(&self, bits: &mut Bits, picked: &mut Vec<u64>) {
        picked.clear();
        let (d, k) = (self.dims as u64, self.k as u64);
        if k == d {
            picked.extend(0..d);
            return;
        }
        for j in d - k..d {
            let t = uniform_below(bits, j + 1);
            picked.push(if picked.contains(&t) { j } else { t });
        }
        picked.sort_unstable();
    }

    fn encode(&self, t: f64, bits: &mut Bits) -> u64 {
        let y = t * (1u64 << FIXED_BITS) as f64 + self.offset as f64;
        let low = y.floor();
        let up = (unit(bits) < y - low) as u64;
        (low as u64 + up).min((1 << VALUE_BITS) - 1)
    }
}

impl MeanMechanism for Sampled {
    fn dims(&self) -> u32 {
        self.dims
    }

    fn report_len(&self) -> u32 {
        self.k
    }

    fn state_len(&self) -> u64 {
        2 * self.dims as u64
    }

    fn perturb(
        &self,
        values: &[f64],
        first_index: u64,
        seed: RngSeed,
        out: &mut [u64],
    ) -> Result<(), RError> {
        let d = self.dims as usize;
        let k = self.k as usize;
        let block = RNG_BLOCK as usize;
        let mut picked = Vec::with_capacity(k);
        for (b, (xs, os)) in values
            .chunks(block * d)
            .zip(out.chunks_mut(block * k))
            .enumerate()
        {
            let mut bits = Bits::new(stream(&seed, first_index / RNG_BLOCK + b as u64));
            for (x, o) in xs.chunks_exact(d).zip(os.chunks_exact_mut(k)) {
                self.sample_attributes(&mut bits, &mut picked);
                for (w, &j) in o.iter_mut().zip(&picked) {
                    let t = self.scale * self.scalar.sample(x[j as usize], &mut bits);
                    *w = (j << VALUE_BITS) | self.encode(t, &mut bits);
                }
            }
        }
        Ok(())
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        let d = self.dims as u64;
        let (sums, seen) = counts.split_at_mut(self.dims as usize);
        let top = 2 * self.offset + 1;
        for (i, r) in reports.chunks_exact(self.k as usize).enumerate() {
            let mut last = None;
            for &w in r {
                let (j, u) = (w >> VALUE_BITS, w & ((1 << VALUE_BITS) - 1));
                if j >= d || last.is_some_and(|l| j <= l) {
                    return Err(RError::input(format!(
                        "report {i} names attribute {j}: attributes must be distinct, increasing and below {d}"
                    )));
                }
                if u > top {
                    return Err(RError::input(format!(
                        "report {i} carries the value {u}, above the largest encoding {top}"
                    )));
                }
                last = Some(j);
                sums[j as usize] = sums[j as usize].checked_add(u).ok_or_else(|| {
                    RError::input(format!("the sum of attribute {j} overflows at report {i}"))
                })?;
                seen[j as usize] += 1;
            }
        }
        Ok(())
    }

    fn estimate(&self, counts: &[u64], reports: u64) -> Result<Vec<f64>, RError> {
        let (sums, seen) = counts.split_at(self.dims as usize);
        let unit = (1u64 << FIXED_BITS) as f64;
        Ok(sums
            .iter()
            .zip(seen)
            .map(|(&s, &m)| {
                let centered = s as i128 - m as i128 * self.offset as i128;
                centered as f64 / unit / reports as f64
            })
            .collect())
    }

    fn report_variance(&self, x: f64) -> f64 {
        self.scale * (self.scalar.variance(x) + x * x) - x * x
    }
}
