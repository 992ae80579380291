//! The discrete Gaussian distribution on the integers, `P(Y = y) ∝ e^{−y²/(2σ²)}`, sampled
//! exactly (Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy",
//! NeurIPS 2020 — the distribution, its privacy analysis and Algorithm 3).
//!
//! Two exact samplers of the same distribution:
//!
//! - [`discrete_gaussian`] (rational σ, the one every Mosaic mechanism uses): band rejection
//!   in the manner of Karney ("Sampling exactly from the normal distribution", ACM TOMS 2016,
//!   Algorithm D). The half-line is cut into bands of width `c = ⌈σ⌉`; a band `j` is chosen
//!   with `P(j) ∝ e^{−j²/2}` (a geometric run accepted with probability e^{−j(j−1)/2}), a
//!   point `y = jc + r` uniformly inside it, and `y` is kept with probability
//!   `e^{−(y² − j²σ²)/(2σ²)} ≤ 1`. Accepted points have `P(y) ∝ e^{−y²/(2σ²)}`; about two
//!   thirds of the proposals are accepted for σ ≥ 2, and the cost is dominated by the
//!   `log₂ c` bits of `r`.
//! - [`discrete_gaussian_cks`] (integer σ): CKS Algorithm 3, rejection from a discrete Laplace
//!   proposal with scale `⌊σ⌋ + 1`, kept as an independent reference (tests check that both
//!   have the same distribution; the benchmark compares their speed).
//!
//! The acceptance probabilities are products of Bernoulli(exp(−γ)) trials with exact
//! rational γ, split so that every numerator and denominator fits in `u128`.

use rand_core::RngCore;

use super::{
    bernoulli_exp_neg_half_square, bernoulli_exp_neg_ratio, discrete_laplace, uniform_below, Bits,
    Rational,
};
use crate::DpError;

#[cfg(test)]
mod tests;

/// The largest numerator or denominator of σ accepted by [`discrete_gaussian`] (so that
/// `2·numer²` fits in the 127 bits the Bernoulli trials compare against).
pub const MAX_SIGMA_PART: u64 = (1 << 63) - 1;

/// A discrete Gaussian sampler for one σ, with its band constants precomputed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscreteGaussian {
    /// σ = a / b.
    a: u128,
    b: u128,
    /// Band width c = ⌈σ⌉.
    c: u128,
    /// (cb)² − a², the numerator of the per-band excess g = ((cb)² − a²) / (2a²).
    g_numer: u128,
    /// 2a².
    two_a2: u128,
    /// a².
    a2: u128,
}

impl DiscreteGaussian {
    /// A sampler for σ = `sigma` (> 0, both parts at most [`MAX_SIGMA_PART`]).
    pub fn new(sigma: Rational) -> Result<DiscreteGaussian, DpError> {
        let (a, b) = (sigma.numer(), sigma.denom());
        if a == 0 {
            return Err(DpError::param("sigma", "must be positive"));
        }
        if a > MAX_SIGMA_PART || b > MAX_SIGMA_PART {
            return Err(DpError::param(
                "sigma",
                format!("{a}/{b}: numerator and denominator must be below 2^63"),
            ));
        }
        let (a, b) = (a as u128, b as u128);
        let c = a.div_ceil(b);
        let cb = c * b;
        Ok(DiscreteGaussian {
            a,
            b,
            c,
            g_numer: cb * cb - a * a,
            two_a2: 2 * a * a,
            a2: a * a,
        })
    }

    /// σ.
    pub fn sigma(&self) -> Rational {
        Rational::new(self.a as u64, self.b as u64).expect("b > 0")
    }

    /// One draw.
    #[inline]
    pub fn sample<R: RngCore>(&self, bits: &mut Bits<R>) -> i128 {
        loop {
            let j = half_gaussian_band(bits);
            let r = uniform_below(bits, self.c);
            // Keep y = jc + r with probability exp(-γ), γ = j²g + j·h + x²/2 where
            // g = ((cb)² − a²)/(2a²), h = (cb)(rb)/a², x = rb/a < 1.
            let rb = r * self.b;
            if !bernoulli_exp_neg_half_square(bits, rb, self.a) {
                continue;
            }
            if j > 0 {
                let h_numer = self.c * self.b * rb;
                if !(0..j).all(|_| bernoulli_exp_neg_ratio(bits, h_numer, self.a2)) {
                    continue;
                }
                if self.g_numer > 0
                    && !(0..j * j).all(|_| bernoulli_exp_neg_ratio(bits, self.g_numer, self.two_a2))
                {
                    continue;
                }
            }
            let y = (j * self.c + r) as i128;
            let negative = bits.bit();
            if negative && y == 0 {
                continue;
            }
            return if negative { -y } else { y };
        }
    }
}

/// A draw of the band index `j ≥ 0` with `P(j) ∝ e^{−j²/2}` (Karney 2016, Algorithm N
/// steps 1–2): `k` counts Bernoulli(e^{−1/2}) successes (`P(k) ∝ e^{−k/2}`) and is kept when
/// `k(k−1)` more such trials all succeed (probability e^{−k(k−1)/2}).
#[inline]
fn half_gaussian_band<R: RngCore>(bits: &mut Bits<R>) -> u128 {
    loop {
        let mut k: u128 = 0;
        while bernoulli_exp_neg_ratio(bits, 1, 2) {
            k += 1;
        }
        if k < 2 || (0..k * (k - 1)).all(|_| bernoulli_exp_neg_ratio(bits, 1, 2)) {
            return k;
        }
    }
}

/// One draw from the discrete Gaussian with parameter σ (see [`DiscreteGaussian`]).
pub fn discrete_gaussian<R: RngCore>(bits: &mut Bits<R>, sigma: Rational) -> Result<i128, DpError> {
    Ok(DiscreteGaussian::new(sigma)?.sample(bits))
}

/// The largest integer σ accepted by [`discrete_gaussian_cks`].
pub const MAX_CKS_SIGMA: u64 = 1 << 48;

/// One draw from the discrete Gaussian with integer parameter σ by CKS 2020, Algorithm 3:
/// Y ~ discrete Laplace with scale `t = σ + 1`, kept with probability
/// `exp(−(|Y| − σ²/t)²/(2σ²))`. With `A = ||Y|·t − σ²|` and `B = σ·t` the exponent is
/// `(A/B)²/2 = Q²/2 + Q·(R/B) + (R/B)²/2` for `A = QB + R`, drawn as independent trials.
pub fn discrete_gaussian_cks<R: RngCore>(bits: &mut Bits<R>, sigma: u64) -> Result<i128, DpError> {
    if sigma == 0 || sigma > MAX_CKS_SIGMA {
        return Err(DpError::param(
            "sigma",
            format!("must be an integer in [1, 2^48], got {sigma}"),
        ));
    }
    let s = sigma as u128;
    let t = s + 1;
    let scale = Rational::integer(t as u64);
    let (s2, big_b) = (s * s, s * t);
    loop {
        let y = discrete_laplace(bits, scale)?;
        // |Y|·t < 2^128 unless |Y| > 2^79, which has probability below e^{-2^30}.
        let yt = y.unsigned_abs().saturating_mul(t);
        let a = yt.abs_diff(s2);
        let (q, r) = (a / big_b, a % big_b);
        let keep = bernoulli_exp_neg_ratio(bits, q.saturating_mul(q), 2)
            && (0..q).all(|_| bernoulli_exp_neg_ratio(bits, r, big_b))
            && bernoulli_exp_neg_half_square(bits, r, big_b);
        if keep {
            return Ok(y);
        }
    }
}
