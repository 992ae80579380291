//! Host-owned optimizer state: per parameter tensor, the buffers and scalars the optimizer
//! declared, a step counter and an `initialized` flag; and the plumbing that lends them to
//! one [`OptimStep`].

use abi_stable::std_types::{ROption, RSliceMut, RStr};
use mosaic_abi::{
    family::optim::FnOracle, OptimStep, RError, RngSeed, Scalar, StateBuffer, StateSpec, TensorMut,
    TensorRef, TensorStep,
};
use mosaic_tensor::{DType, Tensor};

use crate::{OptimError, OptimizerBox};

/// The state of one parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorState {
    pub(crate) name: String,
    pub(crate) shape: Vec<u64>,
    pub(crate) spec: StateSpec,
    pub(crate) buffers: Vec<Tensor>,
    pub(crate) scalars: Vec<Scalar>,
    pub(crate) steps: u64,
    pub(crate) initialized: bool,
}

impl TensorState {
    /// Zero state for a tensor of `shape`, as `spec` declares it.
    pub fn new(name: &str, shape: &[u64], spec: StateSpec) -> TensorState {
        let buffers = spec
            .buffers
            .iter()
            .map(|b| {
                let dims: Vec<usize> = b.shape.iter().map(|&d| d as usize).collect();
                Tensor::zeros(DType::from(b.dtype), dims)
            })
            .collect();
        let scalars = spec.scalars.iter().map(|s| Scalar::zero(s.kind)).collect();
        TensorState {
            name: name.to_string(),
            shape: shape.to_vec(),
            spec,
            buffers,
            scalars,
            steps: 0,
            initialized: false,
        }
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameter shape.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Number of parameters.
    pub fn numel(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }

    /// The declared state.
    pub fn spec(&self) -> &StateSpec {
        &self.spec
    }

    /// Steps applied to this tensor.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Whether a step has been applied since the state was created or reset.
    pub fn initialized(&self) -> bool {
        self.initialized
    }

    /// Buffer names, in order.
    pub fn buffer_names(&self) -> impl Iterator<Item = &str> {
        self.spec.buffers.iter().map(|b| b.name.as_str())
    }

    /// The buffer called `name`.
    pub fn buffer(&self, name: &str) -> Option<&Tensor> {
        let i = self.spec.buffers.iter().position(|b| b.name == name)?;
        Some(&self.buffers[i])
    }

    /// The buffer called `name` as `f32` values (`None` if absent or not `F32`).
    pub fn buffer_f32(&self, name: &str) -> Option<&[f32]> {
        self.buffer(name)?.as_slice::<f32>().ok()
    }

    /// The buffer called `name`, writable (to restore or edit state in place).
    pub fn buffer_mut(&mut self, name: &str) -> Option<&mut Tensor> {
        let i = self.spec.buffers.iter().position(|b| b.name == name)?;
        Some(&mut self.buffers[i])
    }

    /// All buffers with their names, in order.
    pub fn buffers(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.buffer_names().zip(self.buffers.iter())
    }

    /// The scalar called `name`.
    pub fn scalar(&self, name: &str) -> Option<Scalar> {
        let i = self.spec.scalars.iter().position(|s| s.name == name)?;
        Some(self.scalars[i])
    }

    /// All scalars with their names, in order.
    pub fn scalars(&self) -> impl Iterator<Item = (&str, Scalar)> {
        self.spec
            .scalars
            .iter()
            .map(|s| s.name.as_str())
            .zip(self.scalars.iter().copied())
    }

    /// Back to the state before the first step: zero buffers and scalars, no steps.
    pub fn reset(&mut self) {
        *self = TensorState::new(&self.name, &self.shape, self.spec.clone());
    }

    /// Bytes held by the buffers.
    pub fn nbytes(&self) -> usize {
        self.buffers.iter().map(|b| b.as_bytes().len()).sum()
    }
}

/// One parameter tensor handed to [`OptimizerState::step`]: its values, updated in place,
/// and its gradients. A tensor without gradients is skipped by first-order steps (its state
/// and step counter unchanged, as PyTorch skips a parameter whose `grad` is `None`).
#[derive(Debug)]
pub struct Param<'p> {
    /// The values, row-major, as many as the tensor's shape holds.
    pub values: &'p mut [f32],
    /// The gradients, same length.
    pub grads: Option<&'p [f32]>,
}

impl<'p> Param<'p> {
    /// A parameter with its gradient.
    pub fn new(values: &'p mut [f32], grads: &'p [f32]) -> Param<'p> {
        Param {
            values,
            grads: Some(grads),
        }
    }
}

/// A host loss function for zeroth-order steps (see [`StepOptions::oracle`]).
pub type LossFn<'o> = dyn Fn(&[TensorRef<'_>]) -> Result<f64, RError> + 'o;

/// What a step needs besides parameters and state.
#[derive(Clone, Copy)]
pub struct StepOptions<'o> {
    /// The learning rate of this step.
    pub lr: f64,
    /// A scheduled momentum replacing the constructed one (see [`OptimStep::momentum`]).
    pub momentum: Option<f64>,
    /// The seed of this step (for randomized optimizers).
    pub seed: RngSeed,
    /// The loss at given parameters (one view per stepped tensor, in order), for
    /// zeroth-order optimizers; with one, every tensor is stepped whether or not it has
    /// gradients.
    pub oracle: Option<&'o LossFn<'o>>,
}

impl StepOptions<'_> {
    /// A step at learning rate `lr`, no scheduled momentum, seed 0, no oracle.
    pub fn lr(lr: f64) -> StepOptions<'static> {
        StepOptions {
            lr,
            momentum: None,
            seed: RngSeed::from_u64(0),
            oracle: None,
        }
    }
}

/// The host-owned state of an optimizer over a list of parameter tensors, in a fixed order
/// (a tensor's index is its [`TensorStep::id`]).
#[derive(Debug, Default)]
pub struct OptimizerState {
    tensors: Vec<TensorState>,
    scratch: Scratch,
}

impl Clone for OptimizerState {
    fn clone(&self) -> Self {
        OptimizerState {
            tensors: self.tensors.clone(),
            scratch: Scratch::default(),
        }
    }
}

impl PartialEq for OptimizerState {
    fn eq(&self, other: &Self) -> bool {
        self.tensors == other.tensors
    }
}

impl OptimizerState {
    /// Zero state for `tensors` (name, shape), as `optimizer` declares it for each shape.
    pub fn new(
        optimizer: &OptimizerBox,
        tensors: &[(&str, &[u64])],
    ) -> Result<OptimizerState, OptimError> {
        let mut state = OptimizerState::default();
        for (name, shape) in tensors {
            state.push(optimizer, name, shape)?;
        }
        Ok(state)
    }

    /// Zero state for one flat tensor of `len` parameters named `params`.
    pub fn flat(optimizer: &OptimizerBox, len: usize) -> Result<OptimizerState, OptimError> {
        OptimizerState::new(optimizer, &[("params", &[len as u64])])
    }

    /// Add a tensor (its state starts at zero). Names must be unique.
    pub fn push(
        &mut self,
        optimizer: &OptimizerBox,
        name: &str,
        shape: &[u64],
    ) -> Result<(), OptimError> {
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(OptimError::State(format!("tensor `{name}` added twice")));
        }
        let spec = spec_of(optimizer, shape)?;
        self.tensors.push(TensorState::new(name, shape, spec));
        Ok(())
    }

    /// From per-tensor states (a checkpoint being restored).
    pub fn from_tensors(tensors: Vec<TensorState>) -> OptimizerState {
        OptimizerState {
            tensors,
            scratch: Scratch::default(),
        }
    }

    /// The tensors' states, in order.
    pub fn tensors(&self) -> &[TensorState] {
        &self.tensors
    }

    /// The tensors' states, writable.
    pub fn tensors_mut(&mut self) -> &mut [TensorState] {
        &mut self.tensors
    }

    /// The state of the tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorState> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Total bytes of state buffers.
    pub fn nbytes(&self) -> usize {
        self.tensors.iter().map(TensorState::nbytes).sum()
    }

    /// Check that this state fits `optimizer` (the spec of every tensor's shape is the one
    /// stored), e.g. after loading a checkpoint.
    pub fn check_against(&self, optimizer: &OptimizerBox) -> Result<(), OptimError> {
        for t in &self.tensors {
            let want = spec_of(optimizer, &t.shape)?;
            if want != t.spec {
                return Err(OptimError::State(format!(
                    "tensor `{}`: state holds {}, the optimizer needs {}",
                    t.name,
                    describe(&t.spec),
                    describe(&want)
                )));
            }
        }
        Ok(())
    }

    /// One step: `params[i]` is tensor `i`'s values and gradients. Tensors without gradients
    /// are left out unless `options` carries an oracle. On success every stepped tensor's
    /// counter advances and it is marked initialized; on error nothing changes.
    pub fn step(
        &mut self,
        optimizer: &OptimizerBox,
        params: &mut [Param<'_>],
        options: &StepOptions<'_>,
    ) -> Result<(), OptimError> {
        if params.len() != self.tensors.len() {
            return Err(OptimError::Length {
                what: "the list of parameter tensors".into(),
                expected: self.tensors.len(),
                got: params.len(),
            });
        }
        for (p, t) in params.iter().zip(&self.tensors) {
            check_len(t, p)?;
        }
        let zeroth = options.oracle.is_some();
        let stepped = |p: &Param<'_>| zeroth || p.grads.is_some();
        let mut buffers = self.scratch.take_buffers();
        let mut tensors = self.scratch.take_steps();
        let mut counts = std::mem::take(&mut self.scratch.counts);
        counts.clear();
        for (id, (p, t)) in params.iter_mut().zip(self.tensors.iter_mut()).enumerate() {
            if !stepped(p) {
                continue;
            }
            let TensorState {
                name,
                shape,
                spec,
                buffers: owned,
                scalars,
                steps,
                initialized,
            } = t;
            counts.push(owned.len());
            for (s, b) in spec.buffers.iter().zip(owned.iter_mut()) {
                buffers.push(StateBuffer {
                    name: RStr::from_str(s.name.as_str()),
                    data: TensorMut::new(b.dtype(), s.shape.as_slice(), b.as_bytes_mut())
                        .map_err(plugin)?,
                });
            }
            tensors.push(TensorStep {
                name: RStr::from_str(name),
                id: id as u64,
                offset: 0,
                params: TensorMut::from_f32(shape, p.values).map_err(plugin)?,
                grads: match p.grads {
                    Some(g) => ROption::RSome(TensorRef::from_f32(shape, g).map_err(plugin)?),
                    None => ROption::RNone,
                },
                buffers: RSliceMut::from_mut_slice(&mut []),
                scalars: RSliceMut::from_mut_slice(scalars),
                step: *steps + 1,
                initialized: *initialized,
            });
        }
        let oracle = options.oracle.map(FnOracle);
        let result = {
            let (mut rest, lent_buffers) = Lent::new(buffers);
            for (t, &n) in tensors.iter_mut().zip(&counts) {
                let (mine, tail) = std::mem::take(&mut rest).split_at_mut(n);
                t.buffers = RSliceMut::from_mut_slice(mine);
                rest = tail;
            }
            let (tensors, lent_steps) = Lent::new(tensors);
            let call = OptimStep {
                tensors: RSliceMut::from_mut_slice(tensors),
                lr: options.lr,
                momentum: options.momentum.into(),
                seed: options.seed,
                oracle: oracle.as_ref().map(FnOracle::as_oracle).into(),
            };
            let r = optimizer.step(call).into_result().map_err(plugin);
            // SAFETY: `call`, the only user of the lent slices, is gone.
            unsafe {
                self.scratch.buffers = lent_buffers.reclaim();
                self.scratch.steps = lent_steps.reclaim();
            }
            r
        };
        self.scratch.counts = counts;
        result?;
        for (p, t) in params.iter().zip(self.tensors.iter_mut()) {
            if stepped(p) {
                t.steps += 1;
                t.initialized = true;
            }
        }
        Ok(())
    }
}

fn check_len(t: &TensorState, p: &Param<'_>) -> Result<(), OptimError> {
    let n = t.numel();
    let lens = [
        ("parameters", Some(p.values.len())),
        ("gradients", p.grads.map(<[f32]>::len)),
    ];
    for (what, got) in lens {
        if let Some(got) = got {
            if got != n {
                return Err(OptimError::Length {
                    what: format!("{what} of tensor `{}`", t.name),
                    expected: n,
                    got,
                });
            }
        }
    }
    Ok(())
}

fn plugin(source: RError) -> OptimError {
    OptimError::Plugin {
        call: "step",
        source,
    }
}

/// The spec `optimizer` declares for `shape`.
pub(crate) fn spec_of(optimizer: &OptimizerBox, shape: &[u64]) -> Result<StateSpec, OptimError> {
    optimizer
        .state_spec(shape.into())
        .into_result()
        .map_err(|source| OptimError::Plugin {
            call: "state_spec",
            source,
        })
}

fn describe(spec: &StateSpec) -> String {
    let b: Vec<String> = spec
        .buffers
        .iter()
        .map(|b| {
            format!(
                "{} {} {:?}",
                b.name,
                mosaic_tensor::DType::from(b.dtype),
                b.shape.as_slice()
            )
        })
        .collect();
    let s: Vec<String> = spec
        .scalars
        .iter()
        .map(|s| format!("{}: {}", s.name, s.kind))
        .collect();
    format!("buffers [{}] scalars [{}]", b.join(", "), s.join(", "))
}

/// Allocations reused from step to step, so a step allocates nothing once warm. The vectors
/// are empty between steps.
#[derive(Debug, Default)]
struct Scratch {
    buffers: Vec<StateBuffer<'static>>,
    steps: Vec<TensorStep<'static>>,
    counts: Vec<usize>,
}

impl Scratch {
    fn take_buffers<'b>(&mut self) -> Vec<StateBuffer<'b>> {
        // SAFETY: empty vector; the element types differ only in lifetime (same layout).
        unsafe { relabel(std::mem::take(&mut self.buffers)) }
    }

    fn take_steps<'b>(&mut self) -> Vec<TensorStep<'b>> {
        // SAFETY: as above.
        unsafe { relabel(std::mem::take(&mut self.steps)) }
    }
}

/// Move an empty vector's allocation to an element type of the same layout.
///
/// # Safety
/// `T` and `U` must have the same size and alignment (here: one type at two lifetimes).
unsafe fn relabel<T, U>(v: Vec<T>) -> Vec<U> {
    debug_assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<U>());
    debug_assert_eq!(std::mem::align_of::<T>(), std::mem::align_of::<U>());
    let mut v = std::mem::ManuallyDrop::new(v);
    v.clear();
    Vec::from_raw_parts(v.as_mut_ptr().cast(), 0, v.capacity())
}

/// A vector's allocation lent out as a slice whose lifetime the caller chooses (an
/// [`OptimStep`] needs `&'a mut [T<'a>]`, which would otherwise borrow the vector for good),
/// then taken back empty. Only for element types without drop glue.
struct Lent {
    ptr: *mut u8,
    cap: usize,
}

impl Lent {
    fn new<'s, T>(v: Vec<T>) -> (&'s mut [T], Lent) {
        const { assert!(!std::mem::needs_drop::<T>()) };
        let mut v = std::mem::ManuallyDrop::new(v);
        let (ptr, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
        // SAFETY: the allocation stays alive (not dropped) until `reclaim`.
        let slice = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        (
            slice,
            Lent {
                ptr: ptr.cast(),
                cap,
            },
        )
    }

    /// # Safety
    /// The slice from `new` must no longer be used, and `U` must have the layout of the lent
    /// element type.
    unsafe fn reclaim<U>(self) -> Vec<U> {
        Vec::from_raw_parts(self.ptr.cast(), 0, self.cap)
    }
}
