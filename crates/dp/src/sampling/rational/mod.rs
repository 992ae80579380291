//! [`Rational`]: exact non-negative rationals with `u64` parts, and the exact binary
//! decomposition of an `f64`.
//!
//! Every finite `f64` is a dyadic rational `m · 2^e`, so a float parameter converts to a
//! `Rational` without rounding whenever its parts fit in 64 bits.

use crate::DpError;

#[cfg(test)]
mod tests;

/// A non-negative rational `numer / denom` with `u64` parts and `denom > 0`. Not reduced:
/// the samplers only compare against it, so any representation of the value is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rational {
    numer: u64,
    denom: u64,
}

impl Rational {
    /// Zero.
    pub const ZERO: Rational = Rational { numer: 0, denom: 1 };
    /// One.
    pub const ONE: Rational = Rational { numer: 1, denom: 1 };

    /// `numer / denom`; errors if `denom` is zero.
    pub fn new(numer: u64, denom: u64) -> Result<Rational, DpError> {
        if denom == 0 {
            return Err(DpError::param("denominator", "must be positive"));
        }
        Ok(Rational { numer, denom })
    }

    /// The integer `n`.
    pub const fn integer(n: u64) -> Rational {
        Rational { numer: n, denom: 1 }
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
            return Ok(Rational::ZERO);
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

    /// `⌈self⌉`.
    pub fn ceil(&self) -> u64 {
        self.numer.div_ceil(self.denom)
    }

    /// The value as the nearest `f64` (for display and tests, never for sampling).
    pub fn to_f64(&self) -> f64 {
        self.numer as f64 / self.denom as f64
    }
}

/// A finite, non-zero `f64` as `mantissa · 2^exponent` with an integer mantissa (exact; the
/// sign is dropped).
pub fn decompose(x: f64) -> (u64, i32) {
    let bits = x.abs().to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    }
}

/// `2^k` as an `f64`: exact for every `k` in the `f64` range, `0` below it and `∞` above.
pub fn pow2(k: i32) -> f64 {
    if k > 1023 {
        f64::INFINITY
    } else if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else if k >= -1074 {
        f64::from_bits(1u64 << (k + 1074))
    } else {
        0.0
    }
}

/// `⌊log₂ x⌋` of a finite `x > 0` (exact: read from the binary exponent).
pub fn floor_log2(x: f64) -> i32 {
    let (m, e) = decompose(x);
    e + 63 - m.leading_zeros() as i32
}

/// The smallest `q ≥ num / den` among `f64`s, for finite `num ≥ 0` and `den > 0`: the
/// correctly rounded quotient, moved up one step when it fell below the exact value (the
/// sign of `q · den − num` is exact with a fused multiply-add).
pub fn div_up(num: f64, den: f64) -> f64 {
    let q = num / den;
    if q.is_finite() && q.mul_add(den, -num) < 0.0 {
        q.next_up()
    } else {
        q
    }
}

/// The largest `q ≤ num / den` among `f64`s, for finite `num ≥ 0` and `den > 0`.
pub fn div_down(num: f64, den: f64) -> f64 {
    let q = num / den;
    if q.is_finite() && q.mul_add(den, -num) > 0.0 {
        q.next_down()
    } else {
        q
    }
}
