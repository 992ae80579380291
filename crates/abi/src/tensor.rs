use abi_stable::{
    std_types::{RSlice, RSliceMut},
    StableAbi,
};
use mosaic_tensor::DType;

use crate::RError;

/// [`DType`] as it crosses the ABI.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AbiDType {
    /// f32
    F32,
    /// f16
    F16,
    /// bf16
    BF16,
    /// f64
    F64,
    /// i64
    I64,
    /// u8
    U8,
    /// bool (one byte)
    Bool,
}

impl From<DType> for AbiDType {
    fn from(d: DType) -> AbiDType {
        match d {
            DType::F32 => AbiDType::F32,
            DType::F16 => AbiDType::F16,
            DType::BF16 => AbiDType::BF16,
            DType::F64 => AbiDType::F64,
            DType::I64 => AbiDType::I64,
            DType::U8 => AbiDType::U8,
            DType::Bool => AbiDType::Bool,
        }
    }
}

impl From<AbiDType> for DType {
    fn from(d: AbiDType) -> DType {
        match d {
            AbiDType::F32 => DType::F32,
            AbiDType::F16 => DType::F16,
            AbiDType::BF16 => DType::BF16,
            AbiDType::F64 => DType::F64,
            AbiDType::I64 => DType::I64,
            AbiDType::U8 => DType::U8,
            AbiDType::Bool => DType::Bool,
        }
    }
}

fn check_len(dtype: DType, dims: &[u64], bytes: usize) -> Result<(), RError> {
    let numel: u64 = dims.iter().product();
    let want = numel as usize * dtype.size_of();
    if want != bytes {
        return Err(RError::input(format!(
            "tensor view of dtype {dtype} and shape {dims:?} needs {want} bytes, got {bytes}"
        )));
    }
    Ok(())
}

/// Elements per chunk for merges that stream a tensor through small `f64` buffers
/// ([`TensorRef::read_f64_in`], [`TensorMut::write_f64_at`]): 8192 elements are 64 KiB of
/// `f64`, so a few models' chunks stay in the L2 cache.
pub const CHUNK_ELEMENTS: usize = 8192;

/// The ranges `start..start + len` that cover `0..n` in steps of [`CHUNK_ELEMENTS`].
pub fn chunk_ranges(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(CHUNK_ELEMENTS)
        .map(move |start| (start, CHUNK_ELEMENTS.min(n - start)))
}

/// A borrowed, read-only tensor crossing the ABI: little-endian bytes (possibly unaligned,
/// e.g. straight from a memory map), a dtype and a shape. Never copied across.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct TensorRef<'a> {
    data: RSlice<'a, u8>,
    dtype: AbiDType,
    shape: RSlice<'a, u64>,
}

impl<'a> TensorRef<'a> {
    /// A view over `data`; errors if the byte length does not match dtype × shape.
    pub fn new(dtype: DType, shape: &'a [u64], data: &'a [u8]) -> Result<TensorRef<'a>, RError> {
        check_len(dtype, shape, data.len())?;
        Ok(TensorRef {
            data: RSlice::from_slice(data),
            dtype: dtype.into(),
            shape: RSlice::from_slice(shape),
        })
    }

    /// A view of `f32` values.
    pub fn from_f32(shape: &'a [u64], values: &'a [f32]) -> Result<TensorRef<'a>, RError> {
        TensorRef::new(DType::F32, shape, bytemuck::cast_slice(values))
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype.into()
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &'a [u64] {
        self.shape.as_slice()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }

    /// The raw little-endian bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.data.as_slice()
    }

    /// The values as `f32` if the view is `F32` and suitably aligned (no copy).
    pub fn as_f32(&self) -> Option<&'a [f32]> {
        if self.dtype != AbiDType::F32 {
            return None;
        }
        bytemuck::try_cast_slice(self.data.as_slice()).ok()
    }

    /// The values converted to `f32` (any float dtype; integers and bools by value).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.numel()];
        mosaic_tensor::convert::bytes_to_f32(self.dtype(), self.bytes(), &mut out)
            .expect("length checked at construction");
        out
    }

    /// The values cast to `dtype` (as mergekit's loader casts a tensor to the merge dtype)
    /// and widened to `f64`; see [`mosaic_tensor::convert::round_to`].
    pub fn to_f64_in(&self, dtype: DType) -> Vec<f64> {
        let mut v = self.to_f64_vec();
        for x in &mut v {
            *x = mosaic_tensor::convert::round_to(dtype, *x);
        }
        v
    }

    /// Elements `start..start + dst.len()` cast to `dtype` and widened to `f64`, as
    /// [`TensorRef::to_f64_in`] gives them: for merges that read a tensor chunk by chunk
    /// instead of whole ([`CHUNK_ELEMENTS`] elements at a time keeps every buffer in cache). Errors
    /// when the range runs past the end.
    pub fn read_f64_in(&self, dtype: DType, start: usize, dst: &mut [f64]) -> Result<(), RError> {
        let bytes = self.range(start, dst.len())?;
        mosaic_tensor::convert::bytes_to_f64(self.dtype(), bytes, dst)
            .map_err(|e| RError::input(e.to_string()))?;
        for x in dst.iter_mut() {
            *x = mosaic_tensor::convert::round_to(dtype, *x);
        }
        Ok(())
    }

    /// Elements `start..start + dst.len()` as `f32`, cast to the compute dtype of `r` (the
    /// values [`TensorRef::read_f64_in`] gives, for merges that compute in `f32`; see
    /// [`Rounder`](mosaic_tensor::convert::Rounder)). Errors when the range runs past the end.
    pub fn read_f32_in(
        &self,
        r: mosaic_tensor::convert::Rounder,
        start: usize,
        dst: &mut [f32],
    ) -> Result<(), RError> {
        let bytes = self.range(start, dst.len())?;
        r.load(self.dtype(), bytes, dst)
            .map_err(|e| RError::input(e.to_string()))
    }

    /// The bytes of elements `start..start + len`, or an error naming the range.
    fn range(&self, start: usize, len: usize) -> Result<&'a [u8], RError> {
        let sz = self.dtype().size_of();
        start
            .checked_add(len)
            .filter(|&end| end <= self.numel())
            .map(|end| &self.bytes()[start * sz..end * sz])
            .ok_or_else(|| {
                RError::input(format!(
                    "elements {start}..{} of a tensor of {} elements",
                    start.saturating_add(len),
                    self.numel()
                ))
            })
    }

    /// The values converted to `f64`.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let mut out = vec![0f64; self.numel()];
        mosaic_tensor::convert::bytes_to_f64(self.dtype(), self.bytes(), &mut out)
            .expect("length checked at construction");
        out
    }
}

/// A borrowed, writable tensor crossing the ABI (the output of a merge, the parameters an
/// optimizer updates).
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct TensorMut<'a> {
    data: RSliceMut<'a, u8>,
    dtype: AbiDType,
    shape: RSlice<'a, u64>,
}

impl<'a> TensorMut<'a> {
    /// A writable view over `data`; errors if the byte length does not match dtype × shape.
    pub fn new(
        dtype: DType,
        shape: &'a [u64],
        data: &'a mut [u8],
    ) -> Result<TensorMut<'a>, RError> {
        check_len(dtype, shape, data.len())?;
        Ok(TensorMut {
            data: RSliceMut::from_mut_slice(data),
            dtype: dtype.into(),
            shape: RSlice::from_slice(shape),
        })
    }

    /// A writable view of `f32` values.
    pub fn from_f32(shape: &'a [u64], values: &'a mut [f32]) -> Result<TensorMut<'a>, RError> {
        TensorMut::new(DType::F32, shape, bytemuck::cast_slice_mut(values))
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype.into()
    }

    /// The shape.
    pub fn shape(&self) -> &[u64] {
        self.shape.as_slice()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        self.data.as_slice()
    }

    /// The raw bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.data.as_mut_slice()
    }

    /// A read-only view of the same data.
    pub fn as_ref(&self) -> TensorRef<'_> {
        TensorRef {
            data: RSlice::from_slice(self.data.as_slice()),
            dtype: self.dtype,
            shape: RSlice::from_slice(self.shape.as_slice()),
        }
    }

    /// The values as mutable `f32` if the view is `F32` and aligned.
    pub fn as_f32_mut(&mut self) -> Option<&mut [f32]> {
        if self.dtype != AbiDType::F32 {
            return None;
        }
        bytemuck::try_cast_slice_mut(self.data.as_mut_slice()).ok()
    }

    /// Write `values` into the view, converting to its dtype (round-to-nearest-even for
    /// f16/bf16). Errors if the length differs.
    pub fn write_f32(&mut self, values: &[f32]) -> Result<(), RError> {
        if values.len() != self.numel() {
            return Err(RError::input(format!(
                "output has {} elements, got {} values",
                self.numel(),
                values.len()
            )));
        }
        let dtype = self.dtype();
        mosaic_tensor::convert::f32_to_bytes(values, dtype, self.data.as_mut_slice())
            .map_err(|e| RError::input(e.to_string()))
    }

    /// The bytes of elements `start..start + len`, or an error naming the range.
    fn range_mut(&mut self, start: usize, len: usize) -> Result<&mut [u8], RError> {
        let (n, sz) = (self.numel(), self.dtype().size_of());
        let end = start
            .checked_add(len)
            .filter(|&end| end <= n)
            .ok_or_else(|| {
                RError::input(format!(
                    "output has {n} elements, got values for {start}..{}",
                    start.saturating_add(len)
                ))
            })?;
        Ok(&mut self.data.as_mut_slice()[start * sz..end * sz])
    }

    /// Write `f64` values into elements `start..start + values.len()`, converting to the
    /// view's dtype (the chunked form of [`TensorMut::write_f64`]). Errors when the range
    /// runs past the end.
    pub fn write_f64_at(&mut self, start: usize, values: &[f64]) -> Result<(), RError> {
        let dtype = self.dtype();
        mosaic_tensor::convert::f64_to_bytes(values, dtype, self.range_mut(start, values.len())?)
            .map_err(|e| RError::input(e.to_string()))
    }

    /// Write `f32` values into elements `start..start + values.len()`, converting to the
    /// view's dtype (the chunked form of [`TensorMut::write_f32`]). Errors when the range
    /// runs past the end.
    pub fn write_f32_at(&mut self, start: usize, values: &[f32]) -> Result<(), RError> {
        let dtype = self.dtype();
        mosaic_tensor::convert::f32_to_bytes(values, dtype, self.range_mut(start, values.len())?)
            .map_err(|e| RError::input(e.to_string()))
    }

    /// Write `f64` values into the view, converting to its dtype.
    pub fn write_f64(&mut self, values: &[f64]) -> Result<(), RError> {
        if values.len() != self.numel() {
            return Err(RError::input(format!(
                "output has {} elements, got {} values",
                self.numel(),
                values.len()
            )));
        }
        let dtype = self.dtype();
        mosaic_tensor::convert::f64_to_bytes(values, dtype, self.data.as_mut_slice())
            .map_err(|e| RError::input(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_reads_and_writes_equal_whole_ones() {
        let n = 2 * CHUNK_ELEMENTS + 5;
        let shape = [n as u64];
        let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 3.3).collect();
        let t = TensorRef::from_f32(&shape, &values).unwrap();
        let ranges: Vec<_> = chunk_ranges(n).collect();
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges[2], (2 * CHUNK_ELEMENTS, 5));
        let whole = t.to_f64_in(DType::BF16);
        let r = mosaic_tensor::convert::Rounder::BF16;
        let mut bytes = vec![0u8; 2 * n];
        let mut out = TensorMut::new(DType::BF16, &shape, &mut bytes).unwrap();
        for (start, len) in chunk_ranges(n) {
            let mut part = vec![0f64; len];
            t.read_f64_in(DType::BF16, start, &mut part).unwrap();
            assert_eq!(part, whole[start..start + len]);
            let mut narrow = vec![0f32; len];
            t.read_f32_in(r, start, &mut narrow).unwrap();
            assert!(narrow.iter().zip(&part).all(|(&a, &b)| a as f64 == b));
            out.write_f64_at(start, &part).unwrap();
        }
        let mut expect = vec![0u8; 2 * n];
        TensorMut::new(DType::BF16, &shape, &mut expect)
            .unwrap()
            .write_f64(&whole)
            .unwrap();
        assert_eq!(bytes, expect);
    }

    #[test]
    fn chunked_ranges_past_the_end_are_errors() {
        let shape = [4u64];
        let values = [1f32; 4];
        let t = TensorRef::from_f32(&shape, &values).unwrap();
        assert!(t.read_f64_in(DType::F32, 3, &mut [0.0; 2]).is_err());
        assert!(t
            .read_f64_in(DType::F32, usize::MAX, &mut [0.0; 2])
            .is_err());
        let r = mosaic_tensor::convert::Rounder::F32;
        assert!(t.read_f32_in(r, 3, &mut [0.0; 2]).is_err());
        let mut buf = [0f32; 4];
        let mut out = TensorMut::from_f32(&shape, &mut buf).unwrap();
        assert!(out.write_f64_at(3, &[0.0; 2]).is_err());
        out.write_f64_at(2, &[5.0, 6.0]).unwrap();
        assert!(out.write_f32_at(3, &[0.0; 2]).is_err());
        out.write_f32_at(0, &[7.0]).unwrap();
        assert_eq!(buf, [7.0, 0.0, 5.0, 6.0]);
    }
}
