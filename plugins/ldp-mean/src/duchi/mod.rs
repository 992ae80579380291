//! `duchi`: Duchi, Jordan and Wainwright's mechanism for bounded vectors.
//!
//! Duchi, Jordan, Wainwright: "Minimax optimal procedures for locally private estimation",
//! JASA 2018; as restated by Wang et al., ICDE 2019, Algorithm 3.
//!
//! A user with `x ∈ [-1, 1]^d` draws a sign vector `v` with `P[v_j = 1] = 1/2 + x_j/2`, then
//! reports a vector `t ∈ {−B, B}^d` drawn uniformly from the half of the cube on the side of
//! `v` (`t·v > 0`) with probability `π = e^ε/(e^ε + 1)`, and from the other half otherwise.
//! With `d = 1` this is the one-attribute mechanism `±B`, `B = (e^ε + 1)/(e^ε − 1)`.
//!
//! Ties (`t·v = 0`, even `d` only) are split evenly between the halves: the client draws `t`
//! uniformly from the cube, decides its side (a fair coin on a tie), and negates `t` when the
//! side is not the one drawn. Each half then has mass `2^{d−1}`, so
//! `P[t | v] ∈ {2π/2^d, 2(1 − π)/2^d, 1/2^d}` and the privacy ratio is exactly `π/(1 − π) =
//! e^ε`. The scale that makes `t` unbiased is then `B = (e^ε + 1)/(e^ε − 1) · C_d` with
//! `C_d = 2^{d−1} / binom(d − 1, ⌊(d − 1)/2⌋)` for every `d` — the paper's constant for odd
//! `d`. (Wang et al. print a larger constant for even `d` together with ties counted in the
//! far half; exact enumeration shows that pairing is neither unbiased nor ε-LDP, so the tie
//! rule and constant here are the ones that are both.) Each coordinate of `t` is `±B`, so
//! `Var[t_j] = B² − x_j²`.
//!
//! Report: `d` bits (bit `j` set: `t_j = +B`). Server state: for each attribute, how many
//! reports had `+B`; the mean is `B·(2·c_j/n − 1)`.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MeanMechanism, ParamMap, ParamSpec, RError, RngSeed, RNG_BLOCK,
};
use mosaic_ldp::params;
use mosaic_ldp::rng::{stream, Bernoulli, Bits};

#[cfg(test)]
mod tests;

/// The most attributes `duchi` takes (a report is at most 64 words).
pub const MAX_DIMS: u64 = 4096;

/// The descriptor of `duchi`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::LdpMean,
        "duchi",
        "Duchi et al.: report a vector of ±B on the side of a randomized sign vector \
         (one attribute: ±B with P[+B] = 1/2 + x/2B).",
    )
    .param(params::epsilon_spec())
    .param(
        ParamSpec::i64(
            "dims",
            Some(1),
            "Attributes per user, each in [-1, 1] (at most 4096).",
        )
        .min(1.0),
    )
}

/// `C_d = 2^{d−1} / binom(d − 1, ⌊(d − 1)/2⌋)` (see the module doc), computed as a product
/// so that it stays finite for large `d`.
pub fn c_d(d: u64) -> f64 {
    let n = d - 1;
    let m = n / 2;
    let mut log = n as f64 * std::f64::consts::LN_2;
    for i in 0..m {
        log -= ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    log.exp()
}

/// Duchi et al.'s mechanism over `dims` attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Duchi {
    epsilon: f64,
    dims: u32,
    b: f64,
    near: Bernoulli,
}

impl Duchi {
    /// The mechanism at budget `epsilon` (finite, > 0) over `dims` attributes (1..=4096).
    pub fn new(epsilon: f64, dims: u64) -> Result<Duchi, RError> {
        params::check_epsilon(epsilon)?;
        if !(1..=MAX_DIMS).contains(&dims) {
            return Err(RError::param(
                "dims",
                format!("must be in 1..={MAX_DIMS}, got {dims}"),
            ));
        }
        Ok(Duchi {
            epsilon,
            dims: dims as u32,
            b: crate::scalar::duchi_bound(epsilon) * c_d(dims),
            // π = 1/(1 + e^−ε), rounded down on the 2^-64 grid: π/(1 − π) ≤ e^ε.
            near: Bernoulli::at_most(1.0 / (1.0 + (-epsilon).exp())),
        })
    }

    /// Build from resolved parameters (`epsilon`, `dims`).
    pub fn from_params(p: &ParamMap) -> Result<Duchi, RError> {
        Duchi::new(params::epsilon(p)?, params::int(p, "dims", 1, MAX_DIMS)?)
    }

    /// The report magnitude `B`.
    pub fn bound(&self) -> f64 {
        self.b
    }

    /// `π`, the probability of the near half (on the sampler's grid).
    pub fn near_probability(&self) -> f64 {
        self.near.p()
    }

    fn words(&self) -> usize {
        (self.dims as usize).div_ceil(64)
    }

    /// The report (`words()` words) of `x` from `bits`.
    fn report(&self, x: &[f64], bits: &mut Bits, out: &mut [u64]) {
        let d = self.dims as usize;
        let mut agree = 0u64; // popcount of t XNOR v over the d bits
        for (w, o) in out.iter_mut().enumerate() {
            let lanes = (d - 64 * w).min(64);
            let mut v = 0u64;
            for (j, &xj) in x[64 * w..64 * w + lanes].iter().enumerate() {
                if Bernoulli::at_most(0.5 + xj / 2.0).sample(bits) {
                    v |= 1 << j;
                }
            }
            let t = bits.take(lanes as u32);
            let mask = if lanes == 64 {
                u64::MAX
            } else {
                (1 << lanes) - 1
            };
            agree += (!(t ^ v) & mask).count_ones() as u64;
            *o = t;
        }
        // t·v = agree − (d − agree).
        let dot = 2 * agree as i64 - d as i64;
        let near_side = match dot.signum() {
            1 => true,
            -1 => false,
            _ => bits.take(1) == 1,
        };
        if near_side != self.near.sample(bits) {
            for (w, o) in out.iter_mut().enumerate() {
                let lanes = (d - 64 * w).min(64);
                let mask = if lanes == 64 {
                    u64::MAX
                } else {
                    (1 << lanes) - 1
                };
                *o = !*o & mask;
            }
        }
    }
}

impl MeanMechanism for Duchi {
    fn dims(&self) -> u32 {
        self.dims
    }

    fn report_len(&self) -> u32 {
        self.words() as u32
    }

    fn state_len(&self) -> u64 {
        self.dims as u64
    }

    fn perturb(
        &self,
        values: &[f64],
        first_index: u64,
        seed: RngSeed,
        out: &mut [u64],
    ) -> Result<(), RError> {
        let d = self.dims as usize;
        let l = self.words();
        let per_block = RNG_BLOCK as usize;
        for (b, (xs, os)) in values
            .chunks(per_block * d)
            .zip(out.chunks_mut(per_block * l))
            .enumerate()
        {
            let mut bits = Bits::new(stream(&seed, first_index / RNG_BLOCK + b as u64));
            for (x, o) in xs.chunks_exact(d).zip(os.chunks_exact_mut(l)) {
                self.report(x, &mut bits, o);
            }
        }
        Ok(())
    }

    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        let d = self.dims as usize;
        let l = self.words();
        for (i, r) in reports.chunks_exact(l).enumerate() {
            let tail = d - 64 * (l - 1);
            if tail < 64 && r[l - 1] >> tail != 0 {
                return Err(RError::input(format!(
                    "report {i} has bits set above its {d} attributes"
                )));
            }
            for (j, c) in counts.iter_mut().enumerate() {
                *c += (r[j / 64] >> (j % 64)) & 1;
            }
        }
        Ok(())
    }

    fn estimate(&self, counts: &[u64], reports: u64) -> Result<Vec<f64>, RError> {
        let n = reports as f64;
        Ok(counts
            .iter()
            .map(|&c| self.b * (2.0 * c as f64 - n) / n)
            .collect())
    }

    fn report_variance(&self, x: f64) -> f64 {
        self.b * self.b - x * x
    }
}
