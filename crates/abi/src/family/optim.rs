//! The optimizer family: one call updates a whole flat parameter group.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RSliceMut, RStr, RString, RVec},
    StableAbi,
};

use crate::{guard, RError, TensorMut, TensorRef};

/// A named state buffer owned by the host (so it can be checkpointed), one `f32` per
/// parameter (e.g. `momentum`).
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct StateBuffer<'a> {
    /// The buffer's name, as declared by [`Optimizer::state_names`].
    pub name: RStr<'a>,
    /// The values.
    pub data: RSliceMut<'a, f32>,
}

/// Parameters, gradients and state buffers of a step, as `f32` slices.
pub type SplitStep<'s> = (&'s mut [f32], &'s [f32], Vec<&'s mut [f32]>);

/// One optimizer step over a flat parameter group.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct OptimStep<'a> {
    /// The parameters, updated in place (`F32`).
    pub params: TensorMut<'a>,
    /// The gradients, same shape (`F32`).
    pub grads: TensorRef<'a>,
    /// The state buffers, in the order of [`Optimizer::state_names`].
    pub state: RSliceMut<'a, StateBuffer<'a>>,
    /// The step number, starting at 1.
    pub step: u64,
    /// The learning rate for this step (the host applies any schedule).
    pub lr: f64,
}

impl<'a> OptimStep<'a> {
    /// The parameters, gradients and the named state buffers as `f32` slices, after checking
    /// dtypes, lengths and alignment. Errors name what is wrong.
    pub fn split(&mut self) -> Result<SplitStep<'_>, RError> {
        let n = self.params.numel();
        if self.grads.shape() != self.params.shape() {
            return Err(RError::input(format!(
                "gradient shape {:?} differs from parameter shape {:?}",
                self.grads.shape(),
                self.params.shape()
            )));
        }
        let grads = self
            .grads
            .as_f32()
            .ok_or_else(|| RError::input("gradients must be aligned F32"))?;
        let mut state = Vec::with_capacity(self.state.len());
        for b in self.state.iter_mut() {
            if b.data.len() != n {
                return Err(RError::input(format!(
                    "state buffer `{}` has {} values, expected {n}",
                    b.name,
                    b.data.len()
                )));
            }
            state.push(b.data.as_mut_slice());
        }
        let params = self
            .params
            .as_f32_mut()
            .ok_or_else(|| RError::input("parameters must be aligned F32"))?;
        Ok((params, grads, state))
    }
}

/// The optimizer interface as it crosses the ABI.
#[sabi_trait]
pub trait OptimizerFfi: Send + Sync {
    /// Names of the per-parameter state buffers the host must allocate (zero-initialised).
    fn state_names(&self) -> RResult<RVec<RString>, RError>;

    /// One step.
    #[sabi(last_prefix_field)]
    fn step(&self, step: OptimStep<'_>) -> RResult<(), RError>;
}

/// A loaded optimizer.
pub type OptimizerBox = OptimizerFfi_TO<'static, RBox<()>>;

/// What an optimizer plugin implements. Hyperparameters are fixed at construction; the
/// learning rate arrives per step.
pub trait Optimizer: Send + Sync + 'static {
    /// Names of the state buffers, e.g. `["momentum"]`.
    fn state_names(&self) -> Vec<String>;
    /// Update `step.params` in place.
    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError>;
}

struct OptimAdapter(Box<dyn Optimizer>);

impl OptimizerFfi for OptimAdapter {
    fn state_names(&self) -> RResult<RVec<RString>, RError> {
        guard("state_names", || {
            Ok(self
                .0
                .state_names()
                .into_iter()
                .map(RString::from)
                .collect())
        })
    }

    fn step(&self, mut step: OptimStep<'_>) -> RResult<(), RError> {
        guard("step", || self.0.step(&mut step))
    }
}

/// Wrap an optimizer into its ABI object.
pub fn into_ffi(opt: Box<dyn Optimizer>) -> OptimizerBox {
    OptimizerFfi_TO::from_value(OptimAdapter(opt), abi_stable::sabi_trait::TD_Opaque)
}
