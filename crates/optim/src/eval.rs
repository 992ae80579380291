//! The evaluation point of averaging optimizers (Schedule-Free): what to evaluate and ship
//! instead of the training iterate, computed by the optimizer from the host-owned state.

use abi_stable::std_types::{ROption, RSliceMut, RStr};
use mosaic_abi::{OptimStep, RngSeed, StateBuffer, TensorMut, TensorStep};

use crate::{OptimError, OptimizerBox, OptimizerState};

impl OptimizerState {
    /// Overwrite `params[i]` (a copy of tensor `i`'s values) with the point the optimizer
    /// evaluates at (Schedule-Free's average `x`); `false`, with `params` untouched, when the
    /// parameters are that point. The state is lent read-only in intent: optimizers must not
    /// change it here, and the step counters do not move.
    pub fn evaluation_point(
        &mut self,
        optimizer: &OptimizerBox,
        params: &mut [&mut [f32]],
    ) -> Result<bool, OptimError> {
        if params.len() != self.tensors().len() {
            return Err(OptimError::Length {
                what: "the list of parameter tensors".into(),
                expected: self.tensors().len(),
                got: params.len(),
            });
        }
        let plugin = |source| OptimError::Plugin {
            call: "evaluation_point",
            source,
        };
        for (p, t) in params.iter().zip(self.tensors()) {
            if p.len() != t.numel() {
                return Err(OptimError::Length {
                    what: format!("parameters of tensor `{}`", t.name),
                    expected: t.numel(),
                    got: p.len(),
                });
            }
        }
        let mut buffers: Vec<Vec<StateBuffer<'_>>> = Vec::with_capacity(self.tensors().len());
        let mut rest = Vec::with_capacity(self.tensors().len());
        for t in self.tensors_mut().iter_mut() {
            let mut mine = Vec::with_capacity(t.buffers.len());
            for (s, b) in t.spec.buffers.iter().zip(t.buffers.iter_mut()) {
                mine.push(StateBuffer {
                    name: RStr::from_str(s.name.as_str()),
                    data: TensorMut::new(b.dtype(), s.shape.as_slice(), b.as_bytes_mut())
                        .map_err(plugin)?,
                });
            }
            buffers.push(mine);
            rest.push((
                t.name.as_str(),
                t.shape.as_slice(),
                &mut t.scalars,
                t.steps,
                t.initialized,
            ));
        }
        let mut tensors = Vec::with_capacity(rest.len());
        for (id, ((p, (name, shape, scalars, steps, initialized)), bufs)) in params
            .iter_mut()
            .zip(rest)
            .zip(buffers.iter_mut())
            .enumerate()
        {
            tensors.push(TensorStep {
                name: RStr::from_str(name),
                id: id as u64,
                offset: 0,
                params: TensorMut::from_f32(shape, p).map_err(plugin)?,
                grads: ROption::RNone,
                buffers: RSliceMut::from_mut_slice(bufs),
                scalars: RSliceMut::from_mut_slice(scalars),
                step: steps.max(1),
                initialized,
            });
        }
        let call = OptimStep {
            tensors: RSliceMut::from_mut_slice(&mut tensors),
            lr: 0.0,
            momentum: ROption::RNone,
            seed: RngSeed::from_u64(0),
            oracle: ROption::RNone,
        };
        optimizer
            .evaluation_point(call)
            .into_result()
            .map_err(plugin)
    }
}
