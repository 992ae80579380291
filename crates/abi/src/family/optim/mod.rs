//! The optimizer family (ABI v2): one call updates the tensors of a parameter group in place.
//!
//! - An optimizer declares, per parameter tensor shape, the state it needs
//!   ([`StateSpec`]: named buffers of any dtype and shape, named scalars). The host allocates
//!   that state (zeroed), owns it between steps and checkpoints it.
//! - A step ([`OptimStep`]) carries the group's tensors ([`TensorStep`]: parameters, gradients,
//!   the tensor's shape, its state, its step counter and an explicit `initialized` flag), the
//!   learning rate (the host applies schedules), an optional scheduled momentum, a seed for
//!   randomized optimizers and, for zeroth-order optimizers, a [`LossOracle`].
//! - The adapter built by [`into_ffi`] checks every call before the optimizer sees it: a
//!   negative or non-finite learning rate, a gradient whose shape differs from its
//!   parameter's, a non-finite gradient element, or state that does not match the declared
//!   spec is an error naming the tensor, and nothing is updated.
//!
//! Descriptor tags the host reads for this family:
//! - `elementwise`: each element's update depends only on that element's parameter, gradient
//!   and state; with a spec that [`StateSpec::is_elementwise`], the host may split a tensor
//!   into chunks and step them in parallel ([`TensorStep::offset`] says where a chunk starts).
//! - `joint`: the update couples the tensors of a call (one perturbation across the model,
//!   a global norm), so the host passes a whole group in one call; otherwise it may step any
//!   subset of tensors in a call.
//! - `zeroth_order`: the optimizer evaluates the loss through the step's oracle and needs no
//!   gradients.
//! - `random`: the optimizer draws from the step's seed.

mod check;
mod oracle;
mod state;

use std::sync::RwLock;

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RSlice, RSliceMut, RStr},
    StableAbi,
};

pub use check::first_non_finite;
pub use oracle::{FnOracle, LossOracle, LossOracleRef, LossOracle_TO};
pub use state::{
    BufferSpec, Scalar, ScalarKind, ScalarSpec, StateBuffer, StateSpec, RESERVED_STATE_NAMES,
};

use crate::{guard, RError, RngSeed, TensorMut, TensorRef};

/// One parameter tensor's part of a step: its values, gradients and host-owned state.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct TensorStep<'a> {
    /// The tensor's name in the host's model (`0.weight`), for error messages.
    pub name: RStr<'a>,
    /// A stable index of the tensor in the host's optimizer state. Per-tensor randomness
    /// comes from `seed.derive(id)`, so results do not depend on how the host splits
    /// tensors over calls.
    pub id: u64,
    /// Index of the first element of `params` within the whole tensor: 0, except when the
    /// host splits the tensor of an `elementwise` optimizer into chunks.
    pub offset: u64,
    /// The parameters, updated in place (`F32`, aligned). Their shape is the tensor's shape
    /// (`[rows, cols]` for a matrix), or `[len]` for a chunk.
    pub params: TensorMut<'a>,
    /// The gradients, same shape, `F32`; absent for zeroth-order optimizers.
    pub grads: ROption<TensorRef<'a>>,
    /// The state buffers, in the order of the [`StateSpec`] for this tensor's shape.
    pub buffers: RSliceMut<'a, StateBuffer<'a>>,
    /// The state scalars, in the order of the [`StateSpec`].
    pub scalars: RSliceMut<'a, Scalar>,
    /// This tensor's step number, from 1: the host counts the steps applied to each tensor
    /// (a tensor without a gradient in some step is not stepped, as in PyTorch).
    pub step: u64,
    /// `false` on the first step after the state was created or reset (buffers and scalars
    /// are still zero); the host sets it once a step has been applied.
    pub initialized: bool,
}

/// A tensor's values, gradients and state buffers as `f32` slices (see
/// [`TensorStep::split_f32`]).
pub type SplitF32<'s, const N: usize> = (&'s mut [f32], &'s [f32], [&'s mut [f32]; N]);

impl<'a> TensorStep<'a> {
    /// The tensor's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The parameter shape.
    pub fn shape(&self) -> &[u64] {
        self.params.shape()
    }

    /// The parameters as `f32`.
    pub fn params_f32(&mut self) -> Result<&mut [f32], RError> {
        let name = self.name;
        self.params.as_f32_mut().ok_or_else(|| {
            RError::input(format!("tensor `{name}`: parameters must be aligned F32"))
        })
    }

    /// The gradients as `f32`; an error if the step carries none.
    pub fn grads_f32(&self) -> Result<&'a [f32], RError> {
        let g = self.grads.into_option().ok_or_else(|| {
            RError::input(format!(
                "tensor `{}`: this optimizer needs gradients, the step has none",
                self.name
            ))
        })?;
        g.as_f32().ok_or_else(|| {
            RError::input(format!(
                "tensor `{}`: gradients must be aligned F32",
                self.name
            ))
        })
    }

    /// Parameters, gradients and all `N` state buffers as `f32` slices, for optimizers whose
    /// state is `N` `F32` buffers (SGD's momentum, Adam's moments). Errors if the tensor has
    /// no gradients, another number of buffers, or a buffer that is not aligned `F32`.
    pub fn split_f32<const N: usize>(&mut self) -> Result<SplitF32<'_, N>, RError> {
        let grads = self.grads_f32()?;
        let name = self.name;
        if self.buffers.len() != N {
            return Err(RError::input(format!(
                "tensor `{name}`: expected {N} state buffers, got {}",
                self.buffers.len()
            )));
        }
        for b in self.buffers.iter_mut() {
            b.f32_mut()?;
        }
        let params = self.params.as_f32_mut().ok_or_else(|| {
            RError::input(format!("tensor `{name}`: parameters must be aligned F32"))
        })?;
        let mut it = self.buffers.iter_mut();
        let bufs = std::array::from_fn(|_| {
            it.next()
                .and_then(|b| b.data.as_f32_mut())
                .expect("buffers counted and checked above")
        });
        Ok((params, grads, bufs))
    }

    /// The scalar at `index` of the spec, as `f64`; errors name the tensor.
    pub fn scalar_f64(&self, index: usize) -> Result<f64, RError> {
        self.scalars
            .get(index)
            .and_then(Scalar::as_f64)
            .ok_or_else(|| self.bad_scalar(index, "f64"))
    }

    /// The scalar at `index`, as `i64`.
    pub fn scalar_i64(&self, index: usize) -> Result<i64, RError> {
        self.scalars
            .get(index)
            .and_then(Scalar::as_i64)
            .ok_or_else(|| self.bad_scalar(index, "i64"))
    }

    fn bad_scalar(&self, index: usize, kind: &str) -> RError {
        RError::input(format!(
            "tensor `{}`: state scalar {index} is not a {kind}",
            self.name
        ))
    }
}

/// One optimizer step over the tensors of a parameter group.
#[repr(C)]
#[derive(StableAbi)]
pub struct OptimStep<'a> {
    /// The tensors to update.
    pub tensors: RSliceMut<'a, TensorStep<'a>>,
    /// The learning rate for this step (the host applies any schedule); finite, `>= 0`.
    pub lr: f64,
    /// A scheduled momentum for this step (PyTorch's `OneCycleLR` with `cycle_momentum`):
    /// replaces the constructed `momentum` of SGD-style optimizers or the first of the
    /// `betas` of Adam-style ones. `RNone`: the constructed value.
    pub momentum: ROption<f64>,
    /// The step's seed for randomized optimizers, derived by the host from its run seed and
    /// the group's step. Derive per tensor with `seed.derive(tensor.id)`.
    pub seed: RngSeed,
    /// The loss oracle, for zeroth-order optimizers.
    pub oracle: ROption<LossOracleRef<'a>>,
}

impl<'a> OptimStep<'a> {
    /// The learning rate as `f32` (what PyTorch's `float32` arithmetic uses).
    pub fn lr_f32(&self) -> f32 {
        self.lr as f32
    }

    /// The scheduled momentum, or `constructed` when the step carries none.
    pub fn momentum_or(&self, constructed: f64) -> f64 {
        self.momentum.into_option().unwrap_or(constructed)
    }

    /// The loss at `params` (one view per tensor) through the step's oracle; an error if
    /// the step carries none.
    pub fn loss_at(&self, params: &[TensorRef<'_>]) -> Result<f64, RError> {
        match &self.oracle {
            ROption::RSome(o) => o.loss(RSlice::from_slice(params)).into_result(),
            ROption::RNone => Err(RError::input(
                "this optimizer evaluates the loss: the step needs a loss oracle",
            )),
        }
    }
}

/// The optimizer interface as it crosses the ABI.
#[sabi_trait]
pub trait OptimizerFfi: Send + Sync {
    /// The state one parameter tensor of `shape` needs (buffers zero-filled and scalars zero
    /// before the first step). A pure function of the shape and the hyperparameters.
    fn state_spec(&self, shape: RSlice<'_, u64>) -> RResult<StateSpec, RError>;

    /// One step. The call is checked first (learning rate, shapes, finite gradients, state
    /// against the spec); on any error nothing is updated.
    #[sabi(last_prefix_field)]
    fn step(&self, step: OptimStep<'_>) -> RResult<(), RError>;
}

/// A loaded optimizer.
pub type OptimizerBox = OptimizerFfi_TO<'static, RBox<()>>;

/// What an optimizer plugin implements. Hyperparameters are fixed at construction; the
/// learning rate (and a scheduled momentum) arrive with each step.
///
/// `step` is called only on calls that passed the adapter's checks: the learning rate is
/// finite and `>= 0`, every tensor's parameters are aligned `F32`, its gradients (present
/// unless [`Optimizer::needs_gradients`] is `false`) have the parameters' shape and only finite values, and its buffers and scalars
/// match [`Optimizer::state_spec`] for its shape in number, order, name, dtype, shape and
/// kind. An optimizer that returns an error must not have changed anything: check what can
/// fail (a missing oracle, an unsupported shape) before the first write.
pub trait Optimizer: Send + Sync + 'static {
    /// The state a parameter tensor of `shape` needs, e.g. one `F32` buffer of the same shape
    /// per moment. Must depend only on `shape` and the hyperparameters.
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError>;
    /// Update every tensor of `step` in place.
    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError>;
    /// Whether every tensor of a step must carry gradients (checked before `step`); `false`
    /// for zeroth-order optimizers.
    fn needs_gradients(&self) -> bool {
        true
    }
}

/// The adapter between [`Optimizer`] and [`OptimizerFfi`]: catches panics, checks calls and
/// caches the spec of each shape it has seen (so a step allocates nothing).
struct OptimAdapter {
    optimizer: Box<dyn Optimizer>,
    specs: RwLock<Vec<(Vec<u64>, StateSpec)>>,
}

impl OptimAdapter {
    fn spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        if let Some((_, s)) = self
            .specs
            .read()
            .expect("spec cache poisoned")
            .iter()
            .find(|(k, _)| k == shape)
        {
            return Ok(s.clone());
        }
        self.cache(shape)
    }

    fn cache(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let spec = self.optimizer.state_spec(shape)?;
        spec.validate()?;
        let mut specs = self.specs.write().expect("spec cache poisoned");
        if !specs.iter().any(|(k, _)| k == shape) {
            specs.push((shape.to_vec(), spec.clone()));
        }
        Ok(spec)
    }

    fn check(&self, step: &OptimStep<'_>) -> Result<(), RError> {
        // Learn unseen shapes first, so the checks below run under one read lock.
        for t in step.tensors.iter() {
            let known = self
                .specs
                .read()
                .expect("spec cache poisoned")
                .iter()
                .any(|(k, _)| k.as_slice() == t.shape());
            if !known {
                self.cache(t.shape())?;
            }
        }
        if self.optimizer.needs_gradients() {
            if let Some(t) = step.tensors.iter().find(|t| t.grads.is_none()) {
                return Err(RError::input(format!(
                    "tensor `{}`: this optimizer needs gradients, the step has none",
                    t.name
                )));
            }
        }
        let specs = self.specs.read().expect("spec cache poisoned");
        check::call(step, |shape| {
            specs
                .iter()
                .find(|(k, _)| k.as_slice() == shape)
                .map(|(_, s)| s)
                .expect("cached above")
        })
    }
}

impl OptimizerFfi for OptimAdapter {
    fn state_spec(&self, shape: RSlice<'_, u64>) -> RResult<StateSpec, RError> {
        guard("state_spec", || self.spec(shape.as_slice()))
    }

    fn step(&self, mut step: OptimStep<'_>) -> RResult<(), RError> {
        guard("step", || {
            self.check(&step)?;
            self.optimizer.step(&mut step)
        })
    }
}

/// Wrap an optimizer into its ABI object (panics caught and calls checked on every call).
pub fn into_ffi(opt: Box<dyn Optimizer>) -> OptimizerBox {
    let adapter = OptimAdapter {
        optimizer: opt,
        specs: RwLock::new(Vec::new()),
    };
    OptimizerFfi_TO::from_value(adapter, abi_stable::sabi_trait::TD_Opaque)
}
