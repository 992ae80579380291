//! The discrete Laplace (two-sided geometric) distribution on the integers, exactly
//! (Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy",
//! NeurIPS 2020, Algorithm 2).

use rand_core::RngCore;

use super::{geometric, Bits, Rational};
use crate::DpError;

#[cfg(test)]
mod tests;

/// A draw from the discrete Laplace distribution with scale `t = a/b > 0`:
/// `P(Y = y) = (1 − e^{−1/t}) / (1 + e^{−1/t}) · e^{−|y|/t}`.
///
/// |Y| is [`geometric`] with rate `1/t`, given a fair sign; "minus zero" is rejected so that 0
/// is not counted twice. Every decision is an integer comparison.
///
/// **Privacy**: for integers x, x' with |x − x'| ≤ Δ, the probabilities of x + Y and x' + Y
/// differ by a factor of at most e^{Δ/t} at every point, so adding Y to an integer query of
/// L1 sensitivity Δ is (Δ/t)-DP. Exactness of the sampler is what makes this hold for the
/// implementation and not only on paper.
pub fn discrete_laplace<R: RngCore>(bits: &mut Bits<R>, scale: Rational) -> Result<i128, DpError> {
    if scale.numer() == 0 {
        return Err(DpError::param("scale", "must be positive"));
    }
    let rate = Rational::new(scale.denom(), scale.numer())?;
    loop {
        let magnitude = geometric(bits, rate)?;
        let negative = bits.bit();
        if negative && magnitude == 0 {
            continue;
        }
        // Capped at i128::MAX (unreachable: the geometric count would need ~2^63 iterations).
        let y = magnitude.min(i128::MAX as u128) as i128;
        return Ok(if negative { -y } else { y });
    }
}
