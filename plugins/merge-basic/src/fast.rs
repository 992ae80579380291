//! The `f32` form of the chunked merges when the compute dtype is `float32`, `bfloat16` or
//! `float16`: the same values as the `f64` form, faster.
//!
//! Why the same bits: the `f64` form computes each elementary operation (`+ − × ÷`) exactly
//! enough in `f64` and rounds the result to `f32` (mergekit's accumulator) or through `f32` to
//! the half type ([`mosaic_tensor::convert::round_to`]). Rounding an `f64` result of `f32`
//! operands to `f32` equals the `f32` operation itself (53 ≥ 2·24 + 2 significand bits, so
//! the double rounding is innocuous), and the half types are then rounded from that `f32`
//! value in both forms.

use mosaic_abi::{RError, TensorMut, TensorRef};
use mosaic_tensor::convert::{self, round_bf16};
use mosaic_tensor::DType;

/// Rounding of `f32` results to a compute dtype that is not `float64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Round {
    F32,
    BF16,
    F16,
}

impl Round {
    /// The rounding of `dtype`, or `None` for `float64` (which keeps the `f64` form) and
    /// non-float dtypes.
    pub(crate) fn of(dtype: DType) -> Option<Round> {
        match dtype {
            DType::F32 => Some(Round::F32),
            DType::BF16 => Some(Round::BF16),
            DType::F16 => Some(Round::F16),
            _ => None,
        }
    }

    fn dtype(self) -> DType {
        match self {
            Round::F32 => DType::F32,
            Round::BF16 => DType::BF16,
            Round::F16 => DType::F16,
        }
    }

    /// Round every value of `xs` to the compute dtype (one loop per dtype, so each
    /// vectorizes).
    pub(crate) fn slice(self, xs: &mut [f32]) {
        match self {
            Round::F32 => {}
            Round::BF16 => xs.iter_mut().for_each(|x| *x = round_bf16(*x)),
            Round::F16 => xs
                .iter_mut()
                .for_each(|x| *x = half::f16::from_f32(*x).to_f32()),
        }
    }

    /// Elements `start..start + dst.len()` of `t`, cast to the compute dtype.
    pub(crate) fn load(
        self,
        t: &TensorRef<'_>,
        start: usize,
        dst: &mut [f32],
    ) -> Result<(), RError> {
        let (dt, sz) = (t.dtype(), t.dtype().size_of());
        let bytes = t
            .bytes()
            .get(start * sz..(start + dst.len()) * sz)
            .ok_or_else(|| RError::input(format!("elements {start}.. past the tensor's end")))?;
        if dt == DType::BF16 {
            convert::bf16_bytes_to_f32(bytes, dst);
        } else {
            convert::bytes_to_f32(dt, bytes, dst).map_err(|e| RError::input(e.to_string()))?;
        }
        // Inputs of another dtype are cast to the compute dtype (through `f32`, as
        // `round_to` does; for `f32` compute that cast is the conversion itself).
        if dt != self.dtype() {
            self.slice(dst);
        }
        Ok(())
    }
}

/// Write `src` into elements `start..start + src.len()` of `out`, converted to its dtype.
pub(crate) fn store(out: &mut TensorMut<'_>, start: usize, src: &[f32]) -> Result<(), RError> {
    let (dtype, sz) = (out.dtype(), out.dtype().size_of());
    let dst = out
        .bytes_mut()
        .get_mut(start * sz..(start + src.len()) * sz)
        .ok_or_else(|| RError::input(format!("output elements {start}.. past its end")))?;
    convert::f32_to_bytes(src, dtype, dst).map_err(|e| RError::input(e.to_string()))
}
