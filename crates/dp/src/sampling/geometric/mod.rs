//! The geometric distribution with a rational rate, exactly: `P(X = x) = (1 − e^{−γ}) e^{−γx}`
//! for `x = 0, 1, 2, ...` (Canonne, Kamath and Steinke 2020, the core of Algorithm 2).

use rand_core::RngCore;

use super::{bernoulli_exp_neg_ratio, uniform_below, Bits, Rational};
use crate::DpError;

#[cfg(test)]
mod tests;

/// A draw of X with `P(X = x) ∝ e^{−x·s/t}` where `rate = s/t > 0`.
///
/// Draw U uniform in `{0, …, t−1}` and keep it with probability e^{−U/t} (else start over);
/// draw V by counting Bernoulli(e^{−1}) successes before the first failure; then
/// `X' = U + t·V` has `P(X' = x) ∝ e^{−x/t}` (U and V are its remainder and quotient by t), and
/// `X = ⌊X'/s⌋` has `P(X = x) ∝ Σ_{j<s} e^{−(xs+j)/t} ∝ e^{−xs/t}`. Only integer comparisons
/// are made; the expected number of random bits is O(log t).
pub fn geometric<R: RngCore>(bits: &mut Bits<R>, rate: Rational) -> Result<u128, DpError> {
    if rate.numer() == 0 {
        return Err(DpError::param("rate", "must be positive"));
    }
    let (s, t) = (rate.numer() as u128, rate.denom() as u128);
    loop {
        let u = uniform_below(bits, t);
        if !bernoulli_exp_neg_ratio(bits, u, t) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp_neg_ratio(bits, 1, 1) {
            v += 1;
        }
        // v would need ~2^63 successes of probability 1/e to overflow; saturate regardless.
        let x = u.saturating_add(t.saturating_mul(v));
        return Ok(x / s);
    }
}
