//! Rounding that reproduces torch's CPU arithmetic in a merge's compute dtype.
//!
//! Values are carried as `f64`. After every elementary operation the result is rounded to
//! the dtype torch would have stored it in: an `f32` operation computed in `f64` and rounded
//! once is the correctly rounded `f32` result; torch computes `bf16`/`f16` operations in
//! `f32` and rounds the result, which is what rounding to `f32` and then to the half type
//! does here.

use half::{bf16, f16};
use mosaic_abi::{RError, TensorRef};
use mosaic_tensor::DType;

/// Round `x` to `dtype` (a floating-point dtype), returning it widened to `f64`.
pub(crate) fn round_to(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F64 => x,
        DType::BF16 => bf16::from_f32(x as f32).to_f64(),
        DType::F16 => f16::from_f32(x as f32).to_f64(),
        _ => x as f32 as f64,
    }
}

/// The dtype torch accumulates in for `dtype`: `f64` stays `f64`, everything else is `f32`.
pub(crate) fn accumulator(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// Check that the compute dtype is a floating-point type.
pub(crate) fn check_compute_dtype(dtype: DType, tensor: &str) -> Result<(), RError> {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 | DType::F64 => Ok(()),
        other => Err(RError::unsupported(format!(
            "tensor `{tensor}`: merge compute dtype {other} is not a floating-point type"
        ))),
    }
}

/// The tensor's values cast to `dtype`, as mergekit's loader does before merging.
pub(crate) fn load(t: &TensorRef<'_>, dtype: DType) -> Vec<f64> {
    let mut v = t.to_f64_vec();
    for x in &mut v {
        *x = round_to(dtype, *x);
    }
    v
}
