//! The Laplace mechanism with exact noise on a power-of-two lattice.
//!
//! Release `x + Lap(b)` coordinate-wise with `b = scale`, which is (Δ/b, 0)-DP for a query
//! of L1 sensitivity Δ (Dwork, McSherry, Nissim and Smith, "Calibrating Noise to Sensitivity
//! in Private Data Analysis", TCC 2006).
//!
//! # How the noise is drawn (and why not with `ln(uniform)`)
//!
//! Sampling `-b·sign(u)·ln(1-2|u|)` in floating point produces a distribution with holes
//! that depend on `x`, and the holes reveal `x` (Mironov, CCS 2012). As OpenDP does for float
//! inputs, this mechanism instead:
//!
//! 1. picks a granularity `2^k` from the scale: `k` is the largest integer with
//!    `scale / 2^k >= 2^48` (so the lattice scale `scale / 2^k` lies in `[2^48, 2^49)` and is
//!    an exact rational with `u64` parts, because every `f64` is a dyadic rational);
//! 2. rounds each input exactly to the nearest multiple of `2^k` (ties to even), giving an
//!    integer `n_i = round(x_i / 2^k)` (an `i128`);
//! 3. adds discrete Laplace noise with scale `scale / 2^k` on the integers, drawn exactly by
//!    [`mosaic_dp::sampling::discrete_laplace`] (CKS 2020, Algorithm 2);
//! 4. returns `(n_i + noise_i) · 2^k` as `f64`.
//!
//! **Privacy argument.** On the lattice, step 3 is the discrete Laplace mechanism: for
//! integer vectors at L1 distance D it is (D / (scale / 2^k), 0)-DP, i.e. (D·2^k / scale)
//! in lattice units, which is (D_real / scale)-DP where D_real = D·2^k is the distance in
//! real units. Step 4 is post-processing and costs nothing.
//!
//! **Floating-point caveats.**
//! - Rounding (step 2) moves each coordinate by at most `2^(k-1)`, so two inputs at L1
//!   distance Δ map to lattice points at distance at most `Δ + m·2^k`, where `m` is the number
//!   of coordinates on which they differ. The exact guarantee is therefore
//!   ε = (Δ + m·2^k) / scale ≤ Δ/scale + m·2^-48. [`Laplace::cost`] charges the rounding to
//!   the sensitivity for every one of the `len` released coordinates: it reports a Laplace
//!   event with noise multiplier `scale / (Δ + len·2^k)`, rounded down, so the ε an accountant
//!   derives is never below the exact one.
//! - Step 4 rounds to the nearest `f64` when `|n_i + noise_i| > 2^53`; this is
//!   post-processing and does not affect privacy, only the last bits of large outputs.
//! - ε = Δ/scale is computed in `f64` (relative error at most 2^-53).
//! - Inputs must satisfy `|x| < scale · 2^77` so that the lattice integer fits in an `i128`;
//!   larger values are rejected with an error.

use mosaic_abi::{
    AlgorithmDescriptor, Family, Mechanism, ParamMap, ParamSpec, PrivacyEvent, RError, RngSeed,
    Sampling,
};
use mosaic_dp::sampling::{discrete_laplace, rng_from_seed, Rational};

#[cfg(test)]
mod tests;

/// The lattice scale `scale / 2^k` lies in `[2^GRANULARITY_BITS, 2^(GRANULARITY_BITS + 1))`.
pub const GRANULARITY_BITS: i32 = 48;

/// The descriptor of `laplace`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "laplace",
        "Laplace mechanism, exact discrete noise on a 2^k lattice: eps = sensitivity / scale.",
    )
    .param(ParamSpec::f64(
        "scale",
        None,
        "Noise scale b > 0 (the Laplace parameter).",
    ))
    .tag("random")
}

/// The Laplace mechanism with noise scale `scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Laplace {
    scale: f64,
    k: i32,
    lattice_scale: Rational,
}

/// A finite, non-zero `f64` as `mantissa * 2^exponent`, exactly.
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.abs().to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    }
}

/// `2^k` as an `f64` (exact for k in the normal range; clamped beyond it).
fn pow2(k: i32) -> f64 {
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

fn check_sensitivity(sensitivity: f64) -> Result<(), RError> {
    if !sensitivity.is_finite() || sensitivity < 0.0 {
        return Err(RError::param(
            "sensitivity",
            format!("must be finite and >= 0, got {sensitivity}"),
        ));
    }
    Ok(())
}

impl Laplace {
    /// A Laplace mechanism with noise scale `scale` (finite, > 0).
    pub fn new(scale: f64) -> Result<Laplace, RError> {
        if !scale.is_finite() || scale <= 0.0 {
            return Err(RError::param(
                "scale",
                format!("must be finite and > 0, got {scale}"),
            ));
        }
        let (mantissa, exponent) = decompose(scale);
        // Strip trailing zeros so that the lattice scale has the smallest denominator.
        let tz = mantissa.trailing_zeros();
        let (mantissa, exponent) = (mantissa >> tz, exponent + tz as i32);
        let len = 64 - mantissa.leading_zeros() as i32;
        // scale = mantissa * 2^exponent; dividing by 2^shift puts it in [2^48, 2^49).
        let shift = len - GRANULARITY_BITS - 1;
        let lattice_scale = if shift >= 0 {
            Rational::new(mantissa, 1u64 << shift)
        } else {
            Rational::new(mantissa << -shift, 1)
        }
        .map_err(RError::from)?;
        Ok(Laplace {
            scale,
            k: exponent + shift,
            lattice_scale,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Laplace, RError> {
        Laplace::new(p.f64("scale")?)
    }

    /// The noise scale b.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The granularity exponent k: outputs are multiples of `2^k`.
    pub fn granularity_exponent(&self) -> i32 {
        self.k
    }

    /// The noise scale in lattice units, `scale / 2^k`, exactly.
    pub fn lattice_scale(&self) -> Rational {
        self.lattice_scale
    }

    /// `x` rounded to the nearest multiple of `2^k` (ties to even), as a multiple of `2^k`.
    pub fn to_lattice(&self, x: f64) -> Option<i128> {
        if !x.is_finite() {
            return None;
        }
        if x == 0.0 {
            return Some(0);
        }
        let (mantissa, exponent) = decompose(x);
        let d = exponent - self.k;
        let magnitude: u128 = if d >= 0 {
            let len = 128 - (mantissa as u128).leading_zeros() as i32;
            if len + d > 126 {
                return None;
            }
            (mantissa as u128) << d
        } else {
            let sh = -d;
            if sh > 64 {
                0 // mantissa < 2^53 <= 2^(sh - 1): below half a step
            } else {
                let m = mantissa as u128;
                let q = m >> sh;
                let r = m & ((1u128 << sh) - 1);
                let half = 1u128 << (sh - 1);
                if r > half || (r == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            }
        };
        Some(if x < 0.0 {
            -(magnitude as i128)
        } else {
            magnitude as i128
        })
    }

    /// The lattice point `n · 2^k` as the nearest `f64` (post-processing).
    pub fn from_lattice(&self, n: i128) -> f64 {
        // Split the scaling so that 2^k never under/overflows on its own.
        let half = self.k / 2;
        (n as f64) * pow2(half) * pow2(self.k - half)
    }
}

impl Mechanism for Laplace {
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Vec<f64>, RError> {
        check_sensitivity(sensitivity)?;
        let mut rng = rng_from_seed(&seed);
        let mut out = Vec::with_capacity(values.len());
        for (i, &x) in values.iter().enumerate() {
            let n = self.to_lattice(x).ok_or_else(|| {
                RError::input(format!(
                    "value {x} at index {i} is not finite or too large for scale {} (|x| must be below scale * 2^77)",
                    self.scale
                ))
            })?;
            let noise = discrete_laplace(&mut rng, self.lattice_scale).map_err(RError::from)?;
            let noisy = n
                .checked_add(noise)
                .ok_or_else(|| RError::other(format!("lattice overflow at index {i}")))?;
            out.push(self.from_lattice(noisy));
        }
        Ok(out)
    }

    fn cost(&self, sensitivity: f64, len: u64) -> Result<PrivacyEvent, RError> {
        check_sensitivity(sensitivity)?;
        // Rounding to the lattice moves each coordinate by at most 2^(k-1): charge 2^k per
        // coordinate to the L1 sensitivity.
        let charged = sensitivity + len as f64 * pow2(self.k);
        if charged == 0.0 {
            return Ok(PrivacyEvent::Pure { epsilon: 0.0 });
        }
        Ok(PrivacyEvent::Laplace {
            // Rounded down so that 1 / noise_multiplier is never below the exact ε.
            noise_multiplier: (self.scale / charged).next_down(),
            sampling: Sampling::Full,
        })
    }
}
