//! Conversions between dtypes: little-endian bytes ↔ `f32`/`f64`.
//!
//! Input and output byte slices may be unaligned (e.g. slices of a memory map). Narrowing
//! float conversions (`f32`/`f64` → `bf16`/`f16`) round to nearest, ties to even; NaN stays
//! NaN. Float → integer conversions use Rust's saturating `as` casts (NaN → 0); `Bool` is
//! `x != 0`.
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

use crate::{DType, Result, TensorError};

fn len_err(op: &str, dtype: DType, want: usize, got: usize) -> TensorError {
    TensorError::Invalid(format!(
        "{op}: {dtype} buffer must be {want} bytes, got {got}"
    ))
}

#[inline(always)]
fn le2(c: &[u8]) -> [u8; 2] {
    [c[0], c[1]]
}

#[inline(always)]
fn le4(c: &[u8]) -> [u8; 4] {
    [c[0], c[1], c[2], c[3]]
}

#[inline(always)]
fn le8(c: &[u8]) -> [u8; 8] {
    [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]
}

/// Widen little-endian bf16 bytes to `f32`, pairwise (`dst.len()` values; extra bytes of
/// `src` are ignored). Always inlined, so that a caller compiled for wider vector units (a
/// `#[target_feature]` function) gets a loop vectorized for them.
#[inline(always)]
pub fn bf16_bytes_to_f32(src: &[u8], dst: &mut [f32]) {
    for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *d = bf16_bits_to_f32(u16::from_le_bytes(le2(c)));
    }
}

/// Exact widening of a bf16 bit pattern to f32 (bf16 is the top half of an f32).
#[inline(always)]
fn bf16_bits_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// `f64` → `f32` with round-to-odd: truncate toward zero, then set the lowest mantissa bit
/// if the result is inexact. A following round-to-nearest-even to a format with at most 22
/// significand bits (`bf16`, `f16`) then equals a single correct rounding of the `f64`.
/// (`half`'s own `from_f64` drops low bits before rounding, which can round ties wrongly.)
#[inline(always)]
fn f64_to_f32_round_odd(x: f64) -> f32 {
    let t = x as f32;
    if x.is_nan() || t as f64 == x {
        return t;
    }
    let mut bits = t.to_bits();
    if (t as f64).abs() > x.abs() {
        // Rounded away from zero (possibly to infinity): step back toward zero.
        bits -= 1;
    }
    f32::from_bits(bits | 1)
}

/// Convert little-endian `src` bytes of `dtype` into `dst` (`src.len()` must be
/// `dst.len() * dtype.size_of()`). `src` may be unaligned.
pub fn bytes_to_f32(dtype: DType, src: &[u8], dst: &mut [f32]) -> Result<()> {
    let sz = dtype.size_of();
    if src.len() != dst.len() * sz {
        return Err(len_err("bytes_to_f32", dtype, dst.len() * sz, src.len()));
    }
    match dtype {
        DType::F32 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes(le4(c));
            }
        }
        DType::F16 => {
            if let (Ok(s), true) = (
                bytemuck::try_cast_slice::<u8, f16>(src),
                cfg!(target_endian = "little"),
            ) {
                s.convert_to_f32_slice(dst);
            } else {
                for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                    *d = f16::from_le_bytes(le2(c)).to_f32();
                }
            }
        }
        DType::BF16 => bf16_bytes_to_f32(src, dst),
        DType::F64 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
                *d = f64::from_le_bytes(le8(c)) as f32;
            }
        }
        DType::I64 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
                *d = i64::from_le_bytes(le8(c)) as f32;
            }
        }
        DType::U8 => {
            for (d, &b) in dst.iter_mut().zip(src) {
                *d = b as f32;
            }
        }
        DType::Bool => {
            for (d, &b) in dst.iter_mut().zip(src) {
                *d = (b != 0) as u8 as f32;
            }
        }
    }
    Ok(())
}

/// Convert little-endian `src` bytes of `dtype` into `dst` (`src.len()` must be
/// `dst.len() * dtype.size_of()`). `src` may be unaligned.
pub fn bytes_to_f64(dtype: DType, src: &[u8], dst: &mut [f64]) -> Result<()> {
    let sz = dtype.size_of();
    if src.len() != dst.len() * sz {
        return Err(len_err("bytes_to_f64", dtype, dst.len() * sz, src.len()));
    }
    match dtype {
        DType::F32 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes(le4(c)) as f64;
            }
        }
        DType::F16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = f16::from_le_bytes(le2(c)).to_f64();
            }
        }
        DType::BF16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = bf16_bits_to_f32(u16::from_le_bytes(le2(c))) as f64;
            }
        }
        DType::F64 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
                *d = f64::from_le_bytes(le8(c));
            }
        }
        DType::I64 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
                *d = i64::from_le_bytes(le8(c)) as f64;
            }
        }
        DType::U8 => {
            for (d, &b) in dst.iter_mut().zip(src) {
                *d = b as f64;
            }
        }
        DType::Bool => {
            for (d, &b) in dst.iter_mut().zip(src) {
                *d = (b != 0) as u8 as f64;
            }
        }
    }
    Ok(())
}

/// Convert `src` into little-endian bytes of `dtype` (`dst.len()` must be
/// `src.len() * dtype.size_of()`). `dst` may be unaligned.
pub fn f32_to_bytes(src: &[f32], dtype: DType, dst: &mut [u8]) -> Result<()> {
    let sz = dtype.size_of();
    if dst.len() != src.len() * sz {
        return Err(len_err("f32_to_bytes", dtype, src.len() * sz, dst.len()));
    }
    match dtype {
        DType::F32 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(4)) {
                c.copy_from_slice(&s.to_le_bytes());
            }
        }
        DType::F16 => {
            if cfg!(target_endian = "little") {
                if let Ok(d) = bytemuck::try_cast_slice_mut::<u8, f16>(dst) {
                    d.convert_from_f32_slice(src);
                    return Ok(());
                }
            }
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(2)) {
                c.copy_from_slice(&f16::from_f32(*s).to_le_bytes());
            }
        }
        DType::BF16 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(2)) {
                c.copy_from_slice(&bf16::from_f32(*s).to_le_bytes());
            }
        }
        DType::F64 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(8)) {
                c.copy_from_slice(&(*s as f64).to_le_bytes());
            }
        }
        DType::I64 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(8)) {
                c.copy_from_slice(&(*s as i64).to_le_bytes());
            }
        }
        DType::U8 => {
            for (s, d) in src.iter().zip(dst.iter_mut()) {
                *d = *s as u8;
            }
        }
        DType::Bool => {
            for (s, d) in src.iter().zip(dst.iter_mut()) {
                *d = (*s != 0.0) as u8;
            }
        }
    }
    Ok(())
}

/// Convert `src` into little-endian bytes of `dtype` (`dst.len()` must be
/// `src.len() * dtype.size_of()`). `dst` may be unaligned. `f64` → `bf16`/`f16` rounds once,
/// directly from `f64` (no double rounding through `f32`).
pub fn f64_to_bytes(src: &[f64], dtype: DType, dst: &mut [u8]) -> Result<()> {
    let sz = dtype.size_of();
    if dst.len() != src.len() * sz {
        return Err(len_err("f64_to_bytes", dtype, src.len() * sz, dst.len()));
    }
    match dtype {
        DType::F32 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(4)) {
                c.copy_from_slice(&(*s as f32).to_le_bytes());
            }
        }
        DType::F16 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(2)) {
                c.copy_from_slice(&f16::from_f32(f64_to_f32_round_odd(*s)).to_le_bytes());
            }
        }
        DType::BF16 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(2)) {
                c.copy_from_slice(&bf16::from_f32(f64_to_f32_round_odd(*s)).to_le_bytes());
            }
        }
        DType::F64 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(8)) {
                c.copy_from_slice(&s.to_le_bytes());
            }
        }
        DType::I64 => {
            for (s, c) in src.iter().zip(dst.chunks_exact_mut(8)) {
                c.copy_from_slice(&(*s as i64).to_le_bytes());
            }
        }
        DType::U8 => {
            for (s, d) in src.iter().zip(dst.iter_mut()) {
                *d = *s as u8;
            }
        }
        DType::Bool => {
            for (s, d) in src.iter().zip(dst.iter_mut()) {
                *d = (*s != 0.0) as u8;
            }
        }
    }
    Ok(())
}

/// Convert `n` elements of `src` (bytes of `from`) into bytes of `to`, written to `dst`.
/// Works in fixed-size chunks so no full-size temporary is allocated.
pub(crate) fn convert_bytes(from: DType, src: &[u8], to: DType, dst: &mut [u8]) -> Result<()> {
    const CHUNK: usize = 4096;
    let (fs, ts) = (from.size_of(), to.size_of());
    let n = src.len() / fs;
    if src.len() != n * fs || dst.len() != n * ts {
        return Err(TensorError::Invalid(format!(
            "convert {from} -> {to}: buffer sizes {} and {} disagree",
            src.len(),
            dst.len()
        )));
    }
    if from == to {
        dst.copy_from_slice(src);
        return Ok(());
    }
    let via_f64 = matches!(to, DType::F64 | DType::I64) || from == DType::F64;
    if via_f64 {
        let mut tmp = vec![0f64; CHUNK.min(n)];
        for (s, d) in src.chunks(CHUNK * fs).zip(dst.chunks_mut(CHUNK * ts)) {
            let t = &mut tmp[..s.len() / fs];
            bytes_to_f64(from, s, t)?;
            f64_to_bytes(t, to, d)?;
        }
    } else {
        let mut tmp = vec![0f32; CHUNK.min(n)];
        for (s, d) in src.chunks(CHUNK * fs).zip(dst.chunks_mut(CHUNK * ts)) {
            let t = &mut tmp[..s.len() / fs];
            bytes_to_f32(from, s, t)?;
            f32_to_bytes(t, to, d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bf16_round(x: f32) -> f32 {
        let mut b = [0u8; 2];
        f32_to_bytes(&[x], DType::BF16, &mut b).unwrap();
        let mut o = [0f32];
        bytes_to_f32(DType::BF16, &b, &mut o).unwrap();
        o[0]
    }

    #[test]
    fn bf16_ties_to_even() {
        assert_eq!(bf16_round(1.0 + 2f32.powi(-8)), 1.0);
        assert_eq!(bf16_round(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2f32.powi(-6));
        assert!(bf16_round(f32::NAN).is_nan());
        assert_eq!(bf16_round(f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn f16_ties_to_even() {
        let r = |x: f32| {
            let mut b = [0u8; 2];
            f32_to_bytes(&[x], DType::F16, &mut b).unwrap();
            let mut o = [0f32];
            bytes_to_f32(DType::F16, &b, &mut o).unwrap();
            o[0]
        };
        // f16 has 10 mantissa bits: ulp(1) = 2^-10.
        assert_eq!(r(1.0 + 2f32.powi(-11)), 1.0);
        assert_eq!(r(1.0 + 3.0 * 2f32.powi(-11)), 1.0 + 2f32.powi(-9));
        assert!(r(f32::NAN).is_nan());
    }

    #[test]
    fn f64_single_rounding() {
        let cases = [
            1.0 + 2f64.powi(-8) + 2f64.powi(-40),
            -(1.0 + 2f64.powi(-8) + 2f64.powi(-40)),
            1.0 + 2f64.powi(-8),
            -1e-300,
            0.0,
            f64::INFINITY,
            65519.99,
            3.0e38,
        ];
        for x in cases {
            let mut b = [0u8; 2];
            f64_to_bytes(&[x], DType::BF16, &mut b).unwrap();
            let got = bf16::from_le_bytes(b).to_f64();
            // Reference: nearest bf16 by exhaustive neighbour check.
            let lo = bf16::from_f32(x as f32);
            let mut best = lo;
            for c in [lo.to_bits().wrapping_sub(1), lo.to_bits(), lo.to_bits() + 1] {
                let c = bf16::from_bits(c);
                let (dc, db) = ((c.to_f64() - x).abs(), (best.to_f64() - x).abs());
                if dc < db || (dc == db && c.to_bits() & 1 == 0) {
                    best = c;
                }
            }
            assert_eq!(got, best.to_f64(), "{x}");
        }
        let mut b = [0u8; 2];
        f64_to_bytes(&[1e300], DType::BF16, &mut b).unwrap();
        assert_eq!(bf16::from_le_bytes(b), bf16::INFINITY);
        f64_to_bytes(&[1.0 + 2f64.powi(-11) + 2f64.powi(-40)], DType::F16, &mut b).unwrap();
        assert_eq!(f16::from_le_bytes(b).to_f64(), 1.0 + 2f64.powi(-10));
        f64_to_bytes(&[f64::NAN], DType::F16, &mut b).unwrap();
        assert!(f16::from_le_bytes(b).is_nan());
    }

    #[test]
    fn unaligned_input() {
        let vals = [1.5f32, -2.25, 3.0, 0.0, 7.0];
        for dt in [DType::F32, DType::F16, DType::BF16, DType::F64] {
            let mut buf = vec![0u8; 1 + vals.len() * dt.size_of()];
            f32_to_bytes(&vals, dt, &mut buf[1..]).unwrap();
            let mut out = [0f32; 5];
            bytes_to_f32(dt, &buf[1..], &mut out).unwrap();
            assert_eq!(out, vals, "{dt}");
            let mut out64 = [0f64; 5];
            bytes_to_f64(dt, &buf[1..], &mut out64).unwrap();
            assert_eq!(out64.map(|v| v as f32), vals, "{dt}");
        }
    }

    #[test]
    fn length_mismatch_is_error() {
        let mut out = [0f32; 2];
        assert!(bytes_to_f32(DType::F32, &[0u8; 7], &mut out).is_err());
        assert!(f32_to_bytes(&out, DType::BF16, &mut [0u8; 3]).is_err());
    }
}

/// The value torch stores in `dtype` for a result computed exactly (in `f64`) from operands
/// of that dtype, widened back to `f64`: `f64` unchanged; `f32` correctly rounded; `bf16` and
/// `f16` rounded to `f32` first and then to the half type, because torch's CPU kernels compute
/// half-precision operations in `f32` and round the result. Merge methods that must match
/// mergekit bit for bit round after every elementary operation with this. Integer and bool
/// dtypes are treated like `f32`.
#[inline(always)]
pub fn round_to(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F64 => x,
        DType::BF16 => round_bf16(x as f32) as f64,
        DType::F16 => f16::from_f32(x as f32).to_f64(),
        _ => x as f32 as f64,
    }
}

/// `x` rounded to the nearest bfloat16 (ties to even), as an `f32`; NaN stays NaN (quieted),
/// overflow goes to infinity. The same value as `half::bf16::from_f32(x).to_f32()`, without
/// branches, so that loops over it vectorize.
#[inline(always)]
pub fn round_bf16(x: f32) -> f32 {
    let b = x.to_bits();
    let nan = (b | 0x0040_0000) & 0xffff_0000;
    let rounded = b.wrapping_add(0x7fff + ((b >> 16) & 1)) & 0xffff_0000;
    f32::from_bits(if x.is_nan() { nan } else { rounded })
}

/// Rounding of `f32` results to a compute dtype that is `float32`, `bfloat16` or `float16`,
/// as torch's CPU kernels round each operation's result. Computing a merge in `f32` and
/// rounding with this gives the bits of [`round_to`] after each `f64` operation: an `f64`
/// operation on `f32` operands rounded to `f32` is the `f32` operation (53 ≥ 2·24 + 2
/// significand bits), and the half types round from that `f32` in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounder {
    /// `float32`: no rounding.
    F32,
    /// `bfloat16`: round to nearest even on the upper 16 bits.
    BF16,
    /// `float16`.
    F16,
}

impl Rounder {
    /// The rounder of `dtype`, or `None` for `float64` and non-float dtypes.
    pub fn of(dtype: DType) -> Option<Rounder> {
        match dtype {
            DType::F32 => Some(Rounder::F32),
            DType::BF16 => Some(Rounder::BF16),
            DType::F16 => Some(Rounder::F16),
            _ => None,
        }
    }

    /// The compute dtype.
    pub fn dtype(self) -> DType {
        match self {
            Rounder::F32 => DType::F32,
            Rounder::BF16 => DType::BF16,
            Rounder::F16 => DType::F16,
        }
    }

    /// `x` rounded to the compute dtype.
    #[inline(always)]
    pub fn round(self, x: f32) -> f32 {
        match self {
            Rounder::F32 => x,
            Rounder::BF16 => round_bf16(x),
            Rounder::F16 => f16::from_f32(x).to_f32(),
        }
    }

    /// Every value of `xs` rounded to the compute dtype (one loop per dtype, so each
    /// vectorizes).
    #[inline(always)]
    pub fn round_slice(self, xs: &mut [f32]) {
        match self {
            Rounder::F32 => {}
            Rounder::BF16 => xs.iter_mut().for_each(|x| *x = round_bf16(*x)),
            Rounder::F16 => xs.iter_mut().for_each(|x| *x = f16::from_f32(*x).to_f32()),
        }
    }

    /// Little-endian `src` bytes of `dtype` into `dst` as `f32`, cast to the compute dtype
    /// (through `f32`, as [`round_to`] casts): the values a merge reads its inputs as. Always
    /// inlined, so that callers compiled for wider vector units vectorize it for them.
    #[inline(always)]
    pub fn load(self, dtype: DType, src: &[u8], dst: &mut [f32]) -> Result<()> {
        if dtype == DType::BF16 && src.len() == 2 * dst.len() {
            bf16_bytes_to_f32(src, dst);
        } else {
            bytes_to_f32(dtype, src, dst)?;
        }
        if dtype != self.dtype() {
            self.round_slice(dst);
        }
        Ok(())
    }
}

/// The dtype torch accumulates sums in for `dtype`: `f64` for `f64`, `f32` otherwise.
#[inline]
pub fn accumulator(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

#[cfg(test)]
mod torch_rounding_tests {
    use super::*;

    #[test]
    fn bf16_rounding_matches_half() {
        let mut state = 1u64;
        let specials = [
            0.0f32,
            -0.0,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
            1.0 + f32::EPSILON,
            f32::from_bits(0x3f80_8000),
            f32::from_bits(0x3f81_8000),
            f32::from_bits(1),
        ];
        let randoms = (0..100_000).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            f32::from_bits(state as u32)
        });
        for x in specials.into_iter().chain(randoms) {
            let want = bf16::from_f32(x).to_f32();
            let got = round_bf16(x);
            if want.is_nan() {
                assert!(got.is_nan(), "{x:e}");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{x:e}");
            }
        }
    }

    #[test]
    fn round_to_matches_torch_storage() {
        let x = 1.0 + 2f64.powi(-9) + 2f64.powi(-30);
        assert_eq!(round_to(DType::F64, x), x);
        assert_eq!(round_to(DType::F32, x), (x as f32) as f64);
        // bf16 keeps 8 significant bits: 1 + 2^-9 + tiny rounds via f32 to 1 + 2^-9, a tie,
        // then to even (1.0) — double rounding, as torch does it.
        assert_eq!(round_to(DType::BF16, x), 1.0);
        assert_eq!(round_to(DType::F16, 1.0 + 2f64.powi(-11)), 1.0);
        assert_eq!(accumulator(DType::BF16), DType::F32);
        assert_eq!(accumulator(DType::F64), DType::F64);
    }
}
