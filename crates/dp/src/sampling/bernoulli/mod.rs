//! Bernoulli trials with exact rational probabilities: Bernoulli(p) for rational p, and
//! Bernoulli(exp(−γ)) for rational γ (Canonne, Kamath and Steinke, "The Discrete Gaussian for
//! Differential Privacy", NeurIPS 2020, Algorithm 1).
//!
//! Bernoulli(a/b) compares a uniform real U ∈ [0, 1), revealed one random bit at a time,
//! with the binary expansion of a/b computed by long division; it stops at the first bit
//! where they differ, so it costs two random bits on average whatever the size of b, and
//! `P(U < a/b) = a/b` exactly.

use rand_core::RngCore;

use super::{Bits, Rational};
use crate::DpError;

#[cfg(test)]
mod tests;

/// Bernoulli(`numer / denom`) for `numer ≤ denom ≤ 2^127`, `denom > 0` (values above one
/// count as one).
#[inline]
pub fn bernoulli_ratio<R: RngCore>(bits: &mut Bits<R>, numer: u128, denom: u128) -> bool {
    debug_assert!(denom > 0 && denom <= 1 << 127);
    if numer >= denom {
        return true;
    }
    let mut r = numer;
    loop {
        if r == 0 {
            // The expansion ended: U ≥ a/b unless U equals it, which has probability zero.
            return false;
        }
        r <<= 1;
        let digit = r >= denom;
        if digit {
            r -= denom;
        }
        if bits.bit() != digit {
            // U's bit is 0 where a/b's is 1: U < a/b.
            return digit;
        }
    }
}

/// Bernoulli(`p`) for a rational `p ∈ [0, 1]`.
pub fn bernoulli<R: RngCore>(bits: &mut Bits<R>, p: Rational) -> Result<bool, DpError> {
    if p.numer() > p.denom() {
        return Err(DpError::param(
            "p",
            format!("{}/{} is above 1", p.numer(), p.denom()),
        ));
    }
    Ok(bernoulli_ratio(bits, p.numer() as u128, p.denom() as u128))
}

/// Bernoulli(exp(−γ)) for a rational `γ = numer / denom ≥ 0` with `0 < denom ≤ 2^127`.
///
/// For γ ≤ 1 (CKS Algorithm 1): draw A_k ~ Bernoulli(γ/k) for k = 1, 2, ... until the first
/// failure at step K; `P(K > k) = γ^k / k!`, so `P(K odd) = Σ_k (−γ)^k / k! = exp(−γ)`. Each
/// A_k is Bernoulli(γ) ∧ Bernoulli(1/k), so no product overflows. For γ > 1 the event is split
/// as exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)), independent draws that stop at the first
/// failure. Expected cost O(1) random bits.
pub fn bernoulli_exp_neg_ratio<R: RngCore>(bits: &mut Bits<R>, numer: u128, denom: u128) -> bool {
    debug_assert!(denom > 0 && denom <= 1 << 127);
    let whole = numer / denom;
    let rest = numer % denom;
    let mut i = 0u128;
    while i < whole {
        if !exp_neg_at_most_one(bits, 1, 1) {
            return false;
        }
        i += 1;
    }
    exp_neg_at_most_one(bits, rest, denom)
}

/// Bernoulli(exp(−γ)) for a rational `γ ≥ 0`.
pub fn bernoulli_exp_neg<R: RngCore>(bits: &mut Bits<R>, gamma: Rational) -> bool {
    bernoulli_exp_neg_ratio(bits, gamma.numer() as u128, gamma.denom() as u128)
}

/// Bernoulli(exp(−x²/2)) for `x = numer / denom ∈ [0, 1]`: CKS Algorithm 1 with
/// γ = x²/2, each trial Bernoulli(γ/k) drawn as Bernoulli(x) ∧ Bernoulli(x) ∧ Bernoulli(1/2k).
pub fn bernoulli_exp_neg_half_square<R: RngCore>(
    bits: &mut Bits<R>,
    numer: u128,
    denom: u128,
) -> bool {
    debug_assert!(numer <= denom);
    let mut k: u128 = 1;
    while bernoulli_ratio(bits, 1, 2 * k)
        && bernoulli_ratio(bits, numer, denom)
        && bernoulli_ratio(bits, numer, denom)
    {
        k += 1;
    }
    k % 2 == 1
}

/// Bernoulli(exp(−n/d)) for `n ≤ d` (the γ ≤ 1 case of CKS Algorithm 1).
#[inline]
fn exp_neg_at_most_one<R: RngCore>(bits: &mut Bits<R>, n: u128, d: u128) -> bool {
    debug_assert!(n <= d && d > 0);
    let mut k: u128 = 1;
    while bernoulli_ratio(bits, n, d) && bernoulli_ratio(bits, 1, k) {
        k += 1;
    }
    k % 2 == 1
}
