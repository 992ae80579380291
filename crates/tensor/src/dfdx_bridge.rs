//! `f32` bridge to [dfdx](https://docs.rs/dfdx) CPU tensors (feature `dfdx`).
use dfdx::shapes::{HasShape, Shape as DfdxShape};
use dfdx::tensor::{Cpu, TensorFromVec};

use crate::{DType, Result, Shape, Tensor, TensorError};

impl Tensor {
    /// Copy into a dfdx CPU tensor of shape `S` (e.g. `(usize,)` or `(usize, usize)`, or
    /// const dims), converting to `f32`. The rank and (for const dims) sizes must match.
    pub fn to_dfdx<S: DfdxShape>(&self, dev: &Cpu) -> Result<dfdx::tensor::Tensor<S, f32, Cpu>> {
        let dims = self.shape().dims();
        let mismatch = || {
            TensorError::Invalid(format!(
                "to_dfdx: tensor of shape {} does not fit a rank-{} dfdx shape {}",
                self.shape(),
                S::NUM_DIMS,
                std::any::type_name::<S>()
            ))
        };
        if dims.len() != S::NUM_DIMS {
            return Err(mismatch());
        }
        let mut c = S::Concrete::default();
        for (i, &d) in dims.iter().enumerate() {
            c[i] = d;
        }
        let shape = S::from_concrete(&c).ok_or_else(mismatch)?;
        dev.try_tensor_from_vec(self.to_f32_vec(), shape)
            .map_err(|e| TensorError::Invalid(format!("to_dfdx: {e:?}")))
    }

    /// Copy an `f32` dfdx CPU tensor into an owned `F32` [`Tensor`].
    pub fn from_dfdx<S: DfdxShape, T>(t: &dfdx::tensor::Tensor<S, f32, Cpu, T>) -> Tensor {
        let dims: Vec<usize> = t.shape().concrete().into();
        let mut out = Tensor::zeros(DType::F32, Shape(dims));
        out.as_slice_mut::<f32>()
            .expect("F32 tensor")
            .copy_from_slice(&t.as_vec());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::tensor::AsArray;

    #[test]
    fn round_trip_1d_2d() {
        let dev = Cpu::default();
        let t = Tensor::from_f32([2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        let d = t.to_dfdx::<(usize, usize)>(&dev).unwrap();
        assert_eq!(Tensor::from_dfdx(&d), t);
        let c = t
            .to_dfdx::<(dfdx::shapes::Const<2>, dfdx::shapes::Const<3>)>(&dev)
            .unwrap();
        assert_eq!(c.array(), [[1., 2., 3.], [4., 5., 6.]]);
        assert!(t.to_dfdx::<(usize,)>(&dev).is_err());
        let v = Tensor::from_f32([3], vec![1., -2., 3.])
            .unwrap()
            .to_dtype(DType::BF16);
        let d1 = v.to_dfdx::<(usize,)>(&dev).unwrap();
        assert_eq!(Tensor::from_dfdx(&d1), v.to_dtype(DType::F32));
    }
}
