//! Exact samplers for DP noise.
//!
//! Every sampler here consumes only uniformly random bits from an [`RngCore`] and makes its
//! decisions with integer comparisons against exact rationals. There is no floating-point
//! `ln(uniform)`: the textbook inverse-CDF Laplace sampler leaks through the gaps of the
//! floating-point grid (Mironov, "On Significance of the Least Significant Bits for
//! Differential Privacy", CCS 2012), so, as in OpenDP, noise is sampled exactly on the integers
//! and mechanisms map values onto an integer lattice before adding it.
//!
//! The algorithms are those of Canonne, Kamath and Steinke, "The Discrete Gaussian for
//! Differential Privacy" (NeurIPS 2020), Algorithm 1 (Bernoulli(exp(-γ))) and Algorithm 2
//! (discrete Laplace).
//!
//! Arithmetic bounds: a [`Rational`] has `u64` parts. The largest product formed is a `u64`
//! denominator times a loop counter (in [`bernoulli_exp_neg`]) or the lattice scale times a
//! geometric count (in [`discrete_laplace`]); both counters grow by one per loop iteration,
//! so they stay below 2^64 for any run that terminates in practice, and the products fit in
//! `u128`. The geometric count saturates rather than wraps, as a last line of defence.

use mosaic_abi::RngSeed;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::DpError;

#[cfg(test)]
mod tests;

/// The ChaCha20 generator for `seed` (the only way randomness enters a Mosaic mechanism).
pub fn rng_from_seed(seed: &RngSeed) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(seed.bytes)
}

/// A non-negative rational `numer / denom` with `u64` parts and `denom > 0`. Not reduced:
/// the samplers only compare against it, so any representation of the value is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rational {
    numer: u64,
    denom: u64,
}

impl Rational {
    /// One.
    pub const ONE: Rational = Rational { numer: 1, denom: 1 };

    /// `numer / denom`; errors if `denom` is zero.
    pub fn new(numer: u64, denom: u64) -> Result<Rational, DpError> {
        if denom == 0 {
            return Err(DpError::param("denominator", "must be positive"));
        }
        Ok(Rational { numer, denom })
    }

    /// The exact value of a finite, non-negative `f64`, if its parts fit in `u64` (every `f64`
    /// in `[2^-63, 2^11]` does, and many more). `name` is used in the error.
    pub fn from_f64(name: &str, x: f64) -> Result<Rational, DpError> {
        if !x.is_finite() || x < 0.0 {
            return Err(DpError::param(
                name,
                format!("must be finite and non-negative, got {x}"),
            ));
        }
        if x == 0.0 {
            return Ok(Rational { numer: 0, denom: 1 });
        }
        let (mut mantissa, mut exponent) = decompose(x);
        let tz = mantissa.trailing_zeros();
        mantissa >>= tz;
        exponent += tz as i32;
        if exponent >= 0 {
            let bits = 64 - mantissa.leading_zeros() as i32;
            if bits + exponent > 64 {
                return Err(DpError::param(name, format!("{x} is too large")));
            }
            Ok(Rational {
                numer: mantissa << exponent,
                denom: 1,
            })
        } else if -exponent <= 63 {
            Ok(Rational {
                numer: mantissa,
                denom: 1u64 << (-exponent),
            })
        } else {
            Err(DpError::param(
                name,
                format!("{x} is too small to represent exactly"),
            ))
        }
    }

    /// The numerator.
    pub fn numer(&self) -> u64 {
        self.numer
    }

    /// The denominator.
    pub fn denom(&self) -> u64 {
        self.denom
    }

    /// The value as the nearest `f64` (for display and tests, never for sampling).
    pub fn to_f64(&self) -> f64 {
        self.numer as f64 / self.denom as f64
    }
}

/// A finite, non-zero `f64` as `mantissa * 2^exponent` with an integer mantissa (exact).
pub(crate) fn decompose(x: f64) -> (u64, i32) {
    let bits = x.abs().to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    }
}

/// A uniform integer in `[0, n)`, by rejection on the smallest enclosing power of two
/// (exactly uniform; fewer than two draws on average).
///
/// # Panics
/// If `n` is zero.
pub fn uniform_below<R: RngCore + ?Sized>(rng: &mut R, n: u128) -> u128 {
    assert!(n > 0, "uniform_below(0) has no outcome");
    let bits = 128 - (n - 1).leading_zeros();
    let mask = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    loop {
        let x = if bits <= 64 {
            rng.next_u64() as u128
        } else {
            ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128
        } & mask;
        if x < n {
            return x;
        }
    }
}

/// Bernoulli(`p`) for a rational `p` in `[0, 1]`: true iff a uniform integer below
/// `p.denom()` is below `p.numer()`, which has probability exactly `p`.
pub fn bernoulli<R: RngCore + ?Sized>(rng: &mut R, p: Rational) -> Result<bool, DpError> {
    if p.numer > p.denom {
        return Err(DpError::param(
            "p",
            format!("{}/{} is above 1", p.numer, p.denom),
        ));
    }
    Ok(uniform_below(rng, p.denom as u128) < p.numer as u128)
}

/// Bernoulli(exp(-γ)) for a rational `γ >= 0`, exactly (CKS 2020, Algorithm 1).
///
/// For γ ≤ 1: draw A_k ~ Bernoulli(γ/k) for k = 1, 2, ... until the first failure at step K;
/// `P(K > k) = γ^k / k!`, so `P(K odd) = Σ_k (-γ)^k / k! = exp(-γ)`. For γ > 1 the event
/// is split as exp(-γ) = exp(-1)^⌊γ⌋ · exp(-(γ - ⌊γ⌋)), each factor an independent draw.
/// Only integer comparisons are made; expected cost is O(1) draws.
pub fn bernoulli_exp_neg<R: RngCore + ?Sized>(rng: &mut R, gamma: Rational) -> bool {
    let whole = gamma.numer / gamma.denom;
    let rest = gamma.numer % gamma.denom;
    for _ in 0..whole {
        if !bernoulli_exp_neg_unit(rng, 1, 1) {
            return false;
        }
    }
    bernoulli_exp_neg_unit(rng, rest, gamma.denom)
}

/// Bernoulli(exp(-n/d)) for `n <= d` (the γ ≤ 1 case of CKS Algorithm 1).
fn bernoulli_exp_neg_unit<R: RngCore + ?Sized>(rng: &mut R, n: u64, d: u64) -> bool {
    debug_assert!(n <= d && d > 0);
    // k counts the successes so far plus one; d * k fits in u128 while k < 2^64.
    let mut k: u128 = 1;
    while uniform_below(rng, d as u128 * k) < n as u128 {
        k += 1;
    }
    k % 2 == 1
}

/// A draw from the discrete Laplace distribution on the integers with scale `t > 0`:
/// `P(Y = y) = (1 - e^{-1/t}) / (1 + e^{-1/t}) · e^{-|y|/t}` (CKS 2020, Algorithm 2).
///
/// With `t = a/b`: draw U uniform in `{0..a-1}` and accept it with probability
/// exp(-U/a); draw V ~ Geometric(1 - e^{-1}) by counting Bernoulli(exp(-1)) successes; then
/// `X = U + a·V` is geometric with `P(X = x) ∝ e^{-x/a}`, and `Y = ⌊X / b⌋` is geometric
/// with `P(Y = y) ∝ e^{-y b / a} = e^{-y/t}`. A fair sign is attached, rejecting "minus
/// zero" so that 0 is not counted twice. Every decision is an integer comparison.
///
/// **Privacy**: for integer inputs x, x' with |x - x'| ≤ Δ, the densities of x + Y and
/// x' + Y differ by a factor of at most e^{Δ/t} at every point, so adding Y to an integer
/// query of sensitivity Δ is (Δ/t, 0)-DP. Exactness of the sampler is what makes this hold
/// for the implementation and not only on paper.
pub fn discrete_laplace<R: RngCore + ?Sized>(
    rng: &mut R,
    scale: Rational,
) -> Result<i128, DpError> {
    if scale.numer == 0 {
        return Err(DpError::param("scale", "must be positive"));
    }
    let (a, b) = (scale.numer, scale.denom);
    loop {
        let u = uniform_below(rng, a as u128) as u64;
        if !bernoulli_exp_neg(rng, Rational { numer: u, denom: a }) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp_neg_unit(rng, 1, 1) {
            v += 1;
        }
        let x = (u as u128).saturating_add((a as u128).saturating_mul(v));
        // x / b < 2^128 / 1; capped at i128::MAX (unreachable: v would need ~2^63 iterations).
        let y = (x / b as u128).min(i128::MAX as u128) as i128;
        let negative = uniform_below(rng, 2) == 1;
        if negative && y == 0 {
            continue;
        }
        return Ok(if negative { -y } else { y });
    }
}
