//! Owned tensors and borrowed views.
use std::fmt;

use half::{bf16, f16};

use crate::convert;
use crate::{DType, Result, Shape, TensorError};

/// A plain-old-data element type with a [`DType`]. `Bool` has no element type: read a `Bool`
/// tensor as `u8` (values 0/1).
pub trait Element: bytemuck::Pod + Send + Sync {
    /// The dtype of this element type.
    const DTYPE: DType;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for f16 {
    const DTYPE: DType = DType::F16;
}
impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
}
impl Element for f64 {
    const DTYPE: DType = DType::F64;
}
impl Element for i64 {
    const DTYPE: DType = DType::I64;
}
impl Element for u8 {
    const DTYPE: DType = DType::U8;
}

/// Whether elements of type `T` may be read from data of `dtype` (`u8` reads `Bool` too).
fn readable_as<T: Element>(dtype: DType) -> bool {
    T::DTYPE == dtype || (T::DTYPE == DType::U8 && dtype == DType::Bool)
}

fn size_err(what: &str, dtype: DType, shape: &Shape, got: usize) -> TensorError {
    TensorError::Invalid(format!(
        "{what}: {dtype} tensor of shape {shape} needs {} bytes, got {got}",
        shape.numel() * dtype.size_of()
    ))
}

/// An owned, contiguous, row-major tensor. Storage is 8-byte aligned (backed by `Vec<u64>`),
/// so typed slices of every [`Element`] type can be borrowed from it. `Bool` is one byte, 0
/// or 1. Equality compares dtype, shape and the raw bytes (so NaNs with equal bits are equal).
#[derive(Clone, PartialEq)]
pub struct Tensor {
    dtype: DType,
    shape: Shape,
    data: Vec<u64>,
    nbytes: usize,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW: usize = 8;
        let n = self.numel().min(SHOW);
        let mut head = vec![0f64; n];
        // Cannot fail: sizes agree by construction.
        let _ = convert::bytes_to_f64(
            self.dtype,
            &self.as_bytes()[..n * self.dtype.size_of()],
            &mut head,
        );
        f.debug_struct("Tensor")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("head", &head)
            .field("truncated", &(self.numel() > SHOW))
            .finish()
    }
}

impl Tensor {
    fn alloc(dtype: DType, shape: Shape) -> Tensor {
        let nbytes = shape.numel() * dtype.size_of();
        Tensor {
            dtype,
            shape,
            data: vec![0u64; nbytes.div_ceil(8)],
            nbytes,
        }
    }

    /// A tensor of zeros (`false` for `Bool`).
    pub fn zeros(dtype: DType, shape: impl Into<Shape>) -> Tensor {
        Tensor::alloc(dtype, shape.into())
    }

    /// A tensor from typed data; `data.len()` must equal the shape's element count.
    pub fn from_vec<T: Element>(shape: impl Into<Shape>, data: Vec<T>) -> Result<Tensor> {
        let shape = shape.into();
        if shape.numel() != data.len() {
            return Err(TensorError::ShapeMismatch {
                name: format!("from_vec::<{}>", T::DTYPE),
                expected: shape,
                found: Shape(vec![data.len()]),
            });
        }
        let mut t = Tensor::alloc(T::DTYPE, shape);
        t.as_bytes_mut()
            .copy_from_slice(bytemuck::cast_slice(&data));
        Ok(t)
    }

    /// An `F32` tensor from `data`.
    pub fn from_f32(shape: impl Into<Shape>, data: Vec<f32>) -> Result<Tensor> {
        Tensor::from_vec(shape, data)
    }

    /// A tensor copied from little-endian bytes (which may be unaligned). For `Bool`, every
    /// non-zero byte becomes 1.
    pub fn from_bytes(dtype: DType, shape: impl Into<Shape>, bytes: &[u8]) -> Result<Tensor> {
        let shape = shape.into();
        if bytes.len() != shape.numel() * dtype.size_of() {
            return Err(size_err("Tensor::from_bytes", dtype, &shape, bytes.len()));
        }
        let mut t = Tensor::alloc(dtype, shape);
        let dst = t.as_bytes_mut();
        if dtype == DType::Bool {
            for (d, &s) in dst.iter_mut().zip(bytes) {
                *d = (s != 0) as u8;
            }
        } else {
            dst.copy_from_slice(bytes);
        }
        Ok(t)
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// The raw little-endian bytes (8-byte aligned).
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.data)[..self.nbytes]
    }

    /// The raw little-endian bytes, mutable (8-byte aligned).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.data)[..self.nbytes]
    }

    /// The data as a typed slice. `T::DTYPE` must be the tensor's dtype (`u8` also reads
    /// `Bool`), else [`TensorError::UnsupportedDType`].
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        if !readable_as::<T>(self.dtype) {
            return Err(self.dtype_err::<T>("as_slice"));
        }
        Ok(bytemuck::cast_slice(self.as_bytes()))
    }

    /// The data as a mutable typed slice. `T::DTYPE` must be the tensor's dtype exactly.
    pub fn as_slice_mut<T: Element>(&mut self) -> Result<&mut [T]> {
        if T::DTYPE != self.dtype {
            return Err(self.dtype_err::<T>("as_slice_mut"));
        }
        Ok(bytemuck::cast_slice_mut(self.as_bytes_mut()))
    }

    fn dtype_err<T: Element>(&self, op: &str) -> TensorError {
        TensorError::UnsupportedDType {
            name: format!("tensor of shape {}", self.shape),
            dtype: self.dtype,
            op: format!("{op}::<{}>", T::DTYPE),
        }
    }

    /// A borrowed view of this tensor.
    pub fn view(&self) -> TensorView<'_> {
        TensorView {
            dtype: self.dtype,
            dims: self.shape.dims(),
            data: self.as_bytes(),
        }
    }

    /// A mutable borrowed view of this tensor.
    pub fn view_mut(&mut self) -> TensorViewMut<'_> {
        let nbytes = self.nbytes;
        TensorViewMut {
            dtype: self.dtype,
            dims: &self.shape.0,
            data: &mut bytemuck::cast_slice_mut(&mut self.data)[..nbytes],
        }
    }

    /// A copy converted to `dtype` (see [`crate::convert`] for rounding rules; a same-dtype
    /// conversion is a plain copy).
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        self.view().to_dtype(dtype)
    }

    /// The elements converted to `f32`.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.view().to_f32_vec()
    }

    /// The elements converted to `f64`.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.view().to_f64_vec()
    }

    /// Consume the tensor and return its shape.
    pub fn into_shape(self) -> Shape {
        self.shape
    }

    /// The same data with a new shape of equal element count.
    pub fn reshape(mut self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if shape.numel() != self.numel() {
            return Err(TensorError::ShapeMismatch {
                name: "reshape".into(),
                expected: self.shape,
                found: shape,
            });
        }
        self.shape = shape;
        Ok(self)
    }
}

/// A borrowed tensor over little-endian bytes that may be unaligned (e.g. a slice of a memory
/// map). Cheap to copy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorView<'a> {
    dtype: DType,
    dims: &'a [usize],
    data: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// A view; `data.len()` must be `numel(dims) * dtype.size_of()`.
    pub fn new(dtype: DType, dims: &'a [usize], data: &'a [u8]) -> Result<TensorView<'a>> {
        let n: usize = dims.iter().product();
        if data.len() != n * dtype.size_of() {
            return Err(size_err(
                "TensorView::new",
                dtype,
                &Shape::from(dims),
                data.len(),
            ));
        }
        Ok(TensorView { dtype, dims, data })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The dimensions.
    pub fn dims(&self) -> &'a [usize] {
        self.dims
    }

    /// The shape (allocates).
    pub fn shape(&self) -> Shape {
        Shape::from(self.dims)
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// The raw little-endian bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The data as a typed slice, if the dtype matches (`u8` also reads `Bool`) and the bytes
    /// are suitably aligned; `None` otherwise (then use [`TensorView::read_f32_into`] or
    /// [`TensorView::to_owned`]).
    pub fn try_as_slice<T: Element>(&self) -> Option<&'a [T]> {
        if !readable_as::<T>(self.dtype) {
            return None;
        }
        bytemuck::try_cast_slice(self.data).ok()
    }

    /// An owned, aligned copy.
    pub fn to_owned(&self) -> Tensor {
        // Sizes agree by construction.
        Tensor::from_bytes(self.dtype, self.dims, self.data).expect("view size invariant")
    }

    /// An owned copy converted to `dtype`.
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        let mut t = Tensor::zeros(dtype, self.dims);
        convert::convert_bytes(self.dtype, self.data, dtype, t.as_bytes_mut())
            .expect("view size invariant");
        t
    }

    /// The elements converted to `f32`.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let mut v = vec![0f32; self.numel()];
        convert::bytes_to_f32(self.dtype, self.data, &mut v).expect("view size invariant");
        v
    }

    /// The elements converted to `f64`.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let mut v = vec![0f64; self.numel()];
        convert::bytes_to_f64(self.dtype, self.data, &mut v).expect("view size invariant");
        v
    }

    /// Convert the elements to `f32` into `out`, whose length must equal `numel()`.
    pub fn read_f32_into(&self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.numel() {
            return Err(TensorError::ShapeMismatch {
                name: "read_f32_into output".into(),
                expected: self.shape(),
                found: Shape(vec![out.len()]),
            });
        }
        convert::bytes_to_f32(self.dtype, self.data, out)
    }
}

/// A mutable borrowed tensor over little-endian bytes that may be unaligned.
#[derive(Debug)]
pub struct TensorViewMut<'a> {
    dtype: DType,
    dims: &'a [usize],
    data: &'a mut [u8],
}

impl<'a> TensorViewMut<'a> {
    /// A mutable view; `data.len()` must be `numel(dims) * dtype.size_of()`.
    pub fn new(dtype: DType, dims: &'a [usize], data: &'a mut [u8]) -> Result<TensorViewMut<'a>> {
        let n: usize = dims.iter().product();
        if data.len() != n * dtype.size_of() {
            return Err(size_err(
                "TensorViewMut::new",
                dtype,
                &Shape::from(dims),
                data.len(),
            ));
        }
        Ok(TensorViewMut { dtype, dims, data })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The dimensions.
    pub fn dims(&self) -> &'a [usize] {
        self.dims
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// The raw little-endian bytes.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.data
    }

    /// A read-only view of the same data.
    pub fn as_view(&self) -> TensorView<'_> {
        TensorView {
            dtype: self.dtype,
            dims: self.dims,
            data: self.data,
        }
    }

    /// Overwrite the elements with `src` converted to this view's dtype (length must equal
    /// `numel()`).
    pub fn write_f32_from(&mut self, src: &[f32]) -> Result<()> {
        if src.len() != self.numel() {
            return Err(TensorError::ShapeMismatch {
                name: "write_f32_from source".into(),
                expected: Shape::from(self.dims),
                found: Shape(vec![src.len()]),
            });
        }
        convert::f32_to_bytes(src, self.dtype, self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let t = Tensor::from_f32([2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        assert_eq!(t.numel(), 6);
        assert_eq!(t.as_slice::<f32>().unwrap()[4], 5.0);
        assert!(t.as_slice::<f64>().is_err());
        let b = t.to_dtype(DType::BF16);
        assert_eq!(b.to_f32_vec(), t.to_f32_vec());
        assert_eq!(b.view().to_owned(), b);
        assert!(Tensor::from_f32([2], vec![1.0]).is_err());
        let z = Tensor::zeros(DType::Bool, [3]);
        assert_eq!(z.as_slice::<u8>().unwrap(), &[0, 0, 0]);
        let i = Tensor::from_vec([2], vec![-3i64, 1 << 40]).unwrap();
        assert_eq!(
            i.to_dtype(DType::F64).to_f64_vec(),
            vec![-3.0, (1u64 << 40) as f64]
        );
    }

    #[test]
    fn unaligned_view() {
        let vals = [1.0f32, 2.0, -3.0];
        let mut buf = [0u8; 13];
        for (i, v) in vals.iter().enumerate() {
            buf[1 + 4 * i..5 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        let dims = [3usize];
        let v = TensorView::new(DType::F32, &dims, &buf[1..]).unwrap();
        assert_eq!(v.to_f32_vec(), vals);
        let mut out = [0f32; 3];
        v.read_f32_into(&mut out).unwrap();
        assert_eq!(out, vals);
        assert_eq!(v.to_owned().as_slice::<f32>().unwrap(), &vals);
        let mut vm = TensorViewMut::new(DType::F32, &dims, &mut buf[1..]).unwrap();
        vm.write_f32_from(&[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(vm.as_view().to_f32_vec(), vec![4.0, 5.0, 6.0]);
        assert!(TensorView::new(DType::F32, &dims, &buf[..5]).is_err());
    }
}
