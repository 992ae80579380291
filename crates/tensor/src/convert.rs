//! Conversions between dtypes (little-endian bytes ↔ f32/f64). Placeholder replaced by the
//! full module on the tensor branch.
use half::{bf16, f16};

use crate::{DType, Result, TensorError};

fn len_err(op: &str, want: usize, got: usize) -> TensorError {
    TensorError::Invalid(format!("{op}: expected {want} bytes, got {got}"))
}

/// Convert little-endian `src` bytes of `dtype` into `dst`.
pub fn bytes_to_f32(dtype: DType, src: &[u8], dst: &mut [f32]) -> Result<()> {
    let mut tmp = vec![0f64; dst.len()];
    bytes_to_f64(dtype, src, &mut tmp)?;
    for (d, t) in dst.iter_mut().zip(tmp) {
        *d = t as f32;
    }
    Ok(())
}

/// Convert little-endian `src` bytes of `dtype` into `dst`.
pub fn bytes_to_f64(dtype: DType, src: &[u8], dst: &mut [f64]) -> Result<()> {
    let sz = dtype.size_of();
    if src.len() != dst.len() * sz {
        return Err(len_err("bytes_to_f64", dst.len() * sz, src.len()));
    }
    for (d, c) in dst.iter_mut().zip(src.chunks_exact(sz)) {
        *d = match dtype {
            DType::F32 => f32::from_le_bytes(c.try_into().unwrap()) as f64,
            DType::F16 => f16::from_le_bytes(c.try_into().unwrap()).to_f64(),
            DType::BF16 => bf16::from_le_bytes(c.try_into().unwrap()).to_f64(),
            DType::F64 => f64::from_le_bytes(c.try_into().unwrap()),
            DType::I64 => i64::from_le_bytes(c.try_into().unwrap()) as f64,
            DType::U8 => c[0] as f64,
            DType::Bool => (c[0] != 0) as u8 as f64,
        };
    }
    Ok(())
}

/// Convert `src` into little-endian bytes of `dtype`.
pub fn f32_to_bytes(src: &[f32], dtype: DType, dst: &mut [u8]) -> Result<()> {
    if dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16 {
        let sz = dtype.size_of();
        if dst.len() != src.len() * sz {
            return Err(len_err("f32_to_bytes", src.len() * sz, dst.len()));
        }
        for (s, c) in src.iter().zip(dst.chunks_exact_mut(sz)) {
            match dtype {
                DType::F32 => c.copy_from_slice(&s.to_le_bytes()),
                DType::F16 => c.copy_from_slice(&f16::from_f32(*s).to_le_bytes()),
                _ => c.copy_from_slice(&bf16::from_f32(*s).to_le_bytes()),
            }
        }
        return Ok(());
    }
    let tmp: Vec<f64> = src.iter().map(|&v| v as f64).collect();
    f64_to_bytes(&tmp, dtype, dst)
}

/// Convert `src` into little-endian bytes of `dtype`.
pub fn f64_to_bytes(src: &[f64], dtype: DType, dst: &mut [u8]) -> Result<()> {
    let sz = dtype.size_of();
    if dst.len() != src.len() * sz {
        return Err(len_err("f64_to_bytes", src.len() * sz, dst.len()));
    }
    for (s, c) in src.iter().zip(dst.chunks_exact_mut(sz)) {
        match dtype {
            DType::F32 => c.copy_from_slice(&(*s as f32).to_le_bytes()),
            DType::F16 => c.copy_from_slice(&f16::from_f64(*s).to_le_bytes()),
            DType::BF16 => c.copy_from_slice(&bf16::from_f64(*s).to_le_bytes()),
            DType::F64 => c.copy_from_slice(&s.to_le_bytes()),
            DType::I64 => c.copy_from_slice(&(*s as i64).to_le_bytes()),
            DType::U8 => c[0] = *s as u8,
            DType::Bool => c[0] = (*s != 0.0) as u8,
        }
    }
    Ok(())
}
