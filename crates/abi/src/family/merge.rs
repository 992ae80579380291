//! The merge family: one call merges one tensor (by name) across models.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RSlice, RStr},
    StableAbi,
};

use crate::{guard, AbiDType, ParamMap, RError, RngSeed, TensorMut, TensorRef};

/// Everything a merge method gets for one tensor. Parameters are already resolved and
/// validated by the host (mergekit filters and gradients applied for this tensor's name).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct MergeCall<'a> {
    /// The tensor's name in the checkpoint (`model.layers.0.mlp.up_proj.weight`).
    pub tensor_name: RStr<'a>,
    /// The base model's tensor, when the merge has a base model.
    pub base: ROption<TensorRef<'a>>,
    /// The models' tensors: the config's `models` entries, in config order. The base model
    /// appears here too when the config lists it among `models` (see `base_index`).
    pub models: RSlice<'a, TensorRef<'a>>,
    /// Index into `models` of the entry that is the base model, if the config lists it there.
    pub base_index: ROption<u32>,
    /// Per-model parameters (`weight`, `density`, ...), one map per entry of `models`.
    pub model_params: RSlice<'a, ParamMap>,
    /// Global parameters (`normalize`, `t`, `lambda`, ...).
    pub params: &'a ParamMap,
    /// The dtype the merge computes in (mergekit's `dtype`); methods that must match
    /// mergekit bit for bit round intermediates to it.
    pub compute_dtype: AbiDType,
    /// Seed for randomized methods (DARE, DELLA), already derived for this tensor.
    pub seed: RngSeed,
}

impl<'a> MergeCall<'a> {
    /// The base tensor, if any.
    pub fn base(&self) -> Option<TensorRef<'a>> {
        self.base.into_option()
    }

    /// The index of the base model within `models`, if listed there.
    pub fn base_index(&self) -> Option<usize> {
        self.base_index.into_option().map(|i| i as usize)
    }

    /// The tensor name.
    pub fn name(&self) -> &'a str {
        self.tensor_name.as_str()
    }

    /// The compute dtype, which must be a floating-point type; the error names the tensor.
    pub fn float_compute_dtype(&self) -> Result<mosaic_tensor::DType, RError> {
        let dtype: mosaic_tensor::DType = self.compute_dtype.into();
        if dtype.is_float() {
            Ok(dtype)
        } else {
            Err(RError::unsupported(format!(
                "tensor `{}`: merge compute dtype {dtype} is not a floating-point type",
                self.name()
            )))
        }
    }

    /// Check that every input has the shape of the output; the error names the tensor.
    pub fn check_shapes(&self, out_shape: &[u64]) -> Result<(), RError> {
        let all = self.base().into_iter().chain(self.models.iter().copied());
        for (i, t) in all.enumerate() {
            if t.shape() != out_shape {
                return Err(RError::input(format!(
                    "tensor `{}`: input {i} has shape {:?}, expected {:?}",
                    self.name(),
                    t.shape(),
                    out_shape
                )));
            }
        }
        if self.model_params.len() != self.models.len() {
            return Err(RError::input(format!(
                "tensor `{}`: {} models but {} per-model parameter maps",
                self.name(),
                self.models.len(),
                self.model_params.len()
            )));
        }
        Ok(())
    }
}

/// The merge interface as it crosses the ABI.
#[sabi_trait]
pub trait MergeMethodFfi: Send + Sync {
    /// Merge one tensor into `out` (shape = the inputs' shape, dtype chosen by the host).
    #[sabi(last_prefix_field)]
    fn merge(&self, call: MergeCall<'_>, out: TensorMut<'_>) -> RResult<(), RError>;
}

/// A loaded merge method.
pub type MergeMethodBox = MergeMethodFfi_TO<'static, RBox<()>>;

/// What a merge plugin implements. Do not spawn threads: the host merges several tensors at
/// once.
pub trait MergeMethod: Send + Sync + 'static {
    /// Merge one tensor into `out`.
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError>;
}

struct MergeAdapter(Box<dyn MergeMethod>);

impl MergeMethodFfi for MergeAdapter {
    fn merge(&self, call: MergeCall<'_>, mut out: TensorMut<'_>) -> RResult<(), RError> {
        guard("merge", || self.0.merge(&call, &mut out))
    }
}

/// Wrap a merge method into its ABI object (panics caught on every call).
pub fn into_ffi(method: Box<dyn MergeMethod>) -> MergeMethodBox {
    MergeMethodFfi_TO::from_value(MergeAdapter(method), abi_stable::sabi_trait::TD_Opaque)
}
