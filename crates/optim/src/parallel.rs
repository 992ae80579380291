//! The host's parallel step: independent calls on a rayon pool, over tensors, and over
//! chunks of a tensor for optimizers tagged `elementwise`.
//!
//! Why the bits do not depend on the thread count: an optimizer not tagged `joint` updates
//! each tensor from that tensor's own parameters, gradients, state and `seed.derive(id)`, so
//! one call per tensor computes what one call over all tensors computes; an `elementwise`
//! one updates each element from that element alone (and its position, `offset`), so a
//! chunk computes what the whole tensor computes on those elements. Which thread runs which
//! call changes nothing.
//!
//! Atomicity: the learning rate and every gradient are checked before the first call, so a
//! step that fails the ABI's checks fails before anything is written.

use abi_stable::std_types::{ROption, RSliceMut, RStr};
use mosaic_abi::{
    family::optim::first_non_finite, AlgorithmDescriptor, OptimStep, RError, StateBuffer,
    TensorMut, TensorRef, TensorStep,
};
use rayon::prelude::*;

use crate::state::{check_len, plugin};
use crate::{OptimError, OptimizerBox, OptimizerState, Param, StepOptions};

/// Elements per chunk when the host splits a tensor of an `elementwise` optimizer
/// (64 Ki `f32`: a few streams of 256 KiB stay in the L2 cache).
pub const DEFAULT_CHUNK: usize = 1 << 16;

/// How the host may run a step in parallel, from the optimizer's descriptor tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parallelism {
    /// The optimizer couples the tensors of a call (`joint`): one call, no parallelism.
    pub joint: bool,
    /// The optimizer is `elementwise`: tensors may be split into chunks.
    pub elementwise: bool,
    /// Elements per chunk.
    pub chunk: usize,
}

impl Parallelism {
    /// From a descriptor's tags.
    pub fn of(descriptor: &AlgorithmDescriptor) -> Parallelism {
        Parallelism {
            joint: descriptor.has_tag("joint") || descriptor.has_tag("zeroth_order"),
            elementwise: descriptor.has_tag("elementwise"),
            chunk: DEFAULT_CHUNK,
        }
    }

    /// One call per tensor, no chunks (safe for any optimizer that is not `joint`).
    pub fn per_tensor() -> Parallelism {
        Parallelism {
            joint: false,
            elementwise: false,
            chunk: DEFAULT_CHUNK,
        }
    }
}

/// The per-call values of a step without an oracle (shared across threads).
#[derive(Clone, Copy)]
struct Hyper {
    lr: f64,
    momentum: Option<f64>,
    seed: mosaic_abi::RngSeed,
}

/// Most state buffers a tensor may declare for the parallel path (beyond, a step runs
/// sequentially): the pieces keep their buffers in fixed arrays, so a parallel step does not
/// allocate per chunk.
const MAX_BUFFERS: usize = 8;

/// One state buffer of a piece: its spec shape, or the piece's chunk shape (`None`).
struct BufPart<'a> {
    name: &'a str,
    dtype: mosaic_tensor::DType,
    shape: Option<&'a [u64]>,
    bytes: &'a mut [u8],
}

/// One independent call: a whole tensor or a chunk of one.
struct Piece<'a> {
    name: &'a str,
    id: u64,
    offset: u64,
    /// The tensor's shape, or `None` for a chunk (shape `[len]`).
    shape: Option<&'a [u64]>,
    params: &'a mut [f32],
    grads: Option<&'a [f32]>,
    buffers: [Option<BufPart<'a>>; MAX_BUFFERS],
    scalars: &'a mut [mosaic_abi::Scalar],
    step: u64,
    initialized: bool,
}

impl Piece<'_> {
    fn run(self, optimizer: &OptimizerBox, hyper: Hyper) -> Result<(), RError> {
        let Piece {
            name,
            id,
            offset,
            shape,
            params,
            grads,
            buffers,
            scalars,
            step,
            initialized,
        } = self;
        let chunk = [params.len() as u64];
        let shape = shape.unwrap_or(&chunk);
        let mut views: [StateBuffer<'_>; MAX_BUFFERS] = std::array::from_fn(|_| StateBuffer {
            name: RStr::from_str(""),
            data: TensorMut::new(mosaic_tensor::DType::U8, &[0], &mut []).expect("empty view"),
        });
        let mut count = 0;
        for (view, part) in views.iter_mut().zip(buffers.into_iter().flatten()) {
            *view = StateBuffer {
                name: RStr::from_str(part.name),
                data: TensorMut::new(part.dtype, part.shape.unwrap_or(&chunk), part.bytes)?,
            };
            count += 1;
        }
        let mut tensors = [TensorStep {
            name: RStr::from_str(name),
            id,
            offset,
            params: TensorMut::from_f32(shape, params)?,
            grads: match grads {
                Some(g) => ROption::RSome(TensorRef::from_f32(shape, g)?),
                None => ROption::RNone,
            },
            buffers: RSliceMut::from_mut_slice(&mut views[..count]),
            scalars: RSliceMut::from_mut_slice(scalars),
            step,
            initialized,
        }];
        let call = OptimStep {
            tensors: RSliceMut::from_mut_slice(&mut tensors),
            lr: hyper.lr,
            momentum: hyper.momentum.into(),
            seed: hyper.seed,
            oracle: ROption::RNone,
        };
        optimizer.step(call).into_result()
    }
}

impl OptimizerState {
    /// [`OptimizerState::step`] run as independent calls on `pool` (or rayon's current
    /// pool): one per tensor, and one per chunk of `parallelism.chunk` elements for an
    /// `elementwise` optimizer whose state is elementwise. The result is bit-identical to
    /// the sequential step for any thread count. A `joint` optimizer or a step with an
    /// oracle runs sequentially.
    pub fn step_parallel(
        &mut self,
        optimizer: &OptimizerBox,
        params: &mut [Param<'_>],
        options: &StepOptions<'_>,
        parallelism: Parallelism,
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<(), OptimError> {
        let wide = self
            .tensors()
            .iter()
            .any(|t| t.spec.buffers.len() > MAX_BUFFERS);
        if parallelism.joint || options.oracle.is_some() || wide {
            return self.step(optimizer, params, options);
        }
        if params.len() != self.len() {
            return Err(OptimError::Length {
                what: "the list of parameter tensors".into(),
                expected: self.len(),
                got: params.len(),
            });
        }
        for (p, t) in params.iter().zip(self.tensors()) {
            check_len(t, p)?;
        }
        if !options.lr.is_finite() || options.lr < 0.0 {
            return Err(plugin(RError::param(
                "lr",
                format!("must be finite and >= 0, got {}", options.lr),
            )));
        }
        let scan = |(i, p): (usize, &Param<'_>)| -> Option<(usize, usize, f32)> {
            let g = p.grads?;
            let bad = g
                .par_chunks(parallelism.chunk.max(1))
                .enumerate()
                .find_first(|(_, c)| first_non_finite(c).is_some())?;
            let j = bad.0 * parallelism.chunk.max(1) + first_non_finite(bad.1)?;
            Some((i, j, g[j]))
        };
        let found = match pool {
            Some(pool) => pool.install(|| params.iter().enumerate().find_map(scan)),
            None => params.iter().enumerate().find_map(scan),
        };
        if let Some((i, j, v)) = found {
            return Err(plugin(RError::input(format!(
                "tensor `{}`: gradient element {j} is {v} (non-finite gradients are never applied)",
                self.tensors()[i].name()
            ))));
        }
        let capacity: usize = self
            .tensors()
            .iter()
            .map(|t| t.numel().div_ceil(parallelism.chunk.max(1)).max(1))
            .sum();
        let mut pieces = Vec::with_capacity(capacity);
        for (id, (p, t)) in params.iter_mut().zip(self.tensors_mut()).enumerate() {
            let Some(grads) = p.grads else { continue };
            let chunked = parallelism.elementwise
                && t.spec.is_elementwise(&t.shape)
                && t.numel() > parallelism.chunk.max(1);
            let (name, shape, spec) = (&t.name, &t.shape, &t.spec);
            let (step, initialized) = (t.steps + 1, t.initialized);
            if !chunked {
                let mut buffers: [Option<BufPart<'_>>; MAX_BUFFERS] = Default::default();
                for (slot, (sp, b)) in buffers
                    .iter_mut()
                    .zip(spec.buffers.iter().zip(t.buffers.iter_mut()))
                {
                    *slot = Some(BufPart {
                        name: sp.name.as_str(),
                        dtype: b.dtype(),
                        shape: Some(sp.shape.as_slice()),
                        bytes: b.as_bytes_mut(),
                    });
                }
                pieces.push(Piece {
                    name,
                    id: id as u64,
                    offset: 0,
                    shape: Some(shape.as_slice()),
                    params: &mut *p.values,
                    grads: Some(grads),
                    buffers,
                    scalars: &mut t.scalars,
                    step,
                    initialized,
                });
                continue;
            }
            let chunk = parallelism.chunk;
            let mut bufs: [Option<(&str, std::slice::ChunksMut<'_, u8>)>; MAX_BUFFERS] =
                Default::default();
            for (slot, (sp, b)) in bufs
                .iter_mut()
                .zip(spec.buffers.iter().zip(t.buffers.iter_mut()))
            {
                *slot = Some((sp.name.as_str(), b.as_bytes_mut().chunks_mut(chunk * 4)));
            }
            let mut offset = 0;
            for (values, g) in p.values.chunks_mut(chunk).zip(grads.chunks(chunk)) {
                let len = values.len() as u64;
                let mut buffers: [Option<BufPart<'_>>; MAX_BUFFERS] = Default::default();
                for (slot, b) in buffers.iter_mut().zip(bufs.iter_mut()) {
                    if let Some((n, it)) = b {
                        *slot = Some(BufPart {
                            name: n,
                            dtype: mosaic_tensor::DType::F32,
                            shape: None,
                            bytes: it.next().expect("state buffers hold numel f32"),
                        });
                    }
                }
                pieces.push(Piece {
                    name,
                    id: id as u64,
                    offset,
                    shape: None,
                    params: values,
                    grads: Some(g),
                    buffers,
                    scalars: &mut [],
                    step,
                    initialized,
                });
                offset += len;
            }
        }
        let hyper = Hyper {
            lr: options.lr,
            momentum: options.momentum,
            seed: options.seed,
        };
        let run = || {
            pieces
                .into_par_iter()
                .map(|piece| piece.run(optimizer, hyper))
                .collect::<Vec<_>>()
        };
        let results = match pool {
            Some(pool) => pool.install(run),
            None => run(),
        };
        // Any error here is one the checks above did not foresee (a plugin's own); report
        // the first in tensor order.
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(plugin(e));
        }
        for (p, t) in params.iter().zip(self.tensors_mut()) {
            if p.grads.is_some() {
                t.steps += 1;
                t.initialized = true;
            }
        }
        Ok(())
    }
}
