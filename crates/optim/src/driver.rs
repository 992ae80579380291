use abi_stable::std_types::{RSliceMut, RStr};

use crate::{LrSchedule, OptimError, OptimStep, OptimizerBox, OptimizerState, StateBuffer};
use mosaic_abi::{TensorMut, TensorRef};

/// Drives one flat parameter group: an optimizer (through the ABI), its host-owned state,
/// a base learning rate and a schedule. Steps are counted from 1.
pub struct Driver {
    optimizer: OptimizerBox,
    state: OptimizerState,
    base_lr: f64,
    schedule: LrSchedule,
    steps: u64,
}

impl Driver {
    /// A driver for `len` parameters, with zero state from the optimizer's `state_names`.
    pub fn new(
        optimizer: OptimizerBox,
        len: usize,
        base_lr: f64,
        schedule: LrSchedule,
    ) -> Result<Driver, OptimError> {
        if !base_lr.is_finite() || base_lr < 0.0 {
            return Err(OptimError::InvalidParameter {
                name: "lr",
                reason: format!("must be finite and >= 0, got {base_lr}"),
            });
        }
        schedule.validate()?;
        let state = OptimizerState::for_optimizer(&optimizer, len)?;
        Ok(Driver {
            optimizer,
            state,
            base_lr,
            schedule,
            steps: 0,
        })
    }

    /// Resume from a checkpoint: `state` and the number of steps already taken. The buffer
    /// names must be the optimizer's, in its order.
    pub fn restore(&mut self, state: OptimizerState, steps_taken: u64) -> Result<(), OptimError> {
        let fresh = OptimizerState::for_optimizer(&self.optimizer, self.state.len())?;
        if state.len() != fresh.len() || !state.names().eq(fresh.names()) {
            return Err(OptimError::State(format!(
                "checkpoint has buffers {:?} over {} parameters, optimizer needs {:?} over {}",
                state.names().collect::<Vec<_>>(),
                state.len(),
                fresh.names().collect::<Vec<_>>(),
                fresh.len()
            )));
        }
        self.state = state;
        self.steps = steps_taken;
        Ok(())
    }

    /// Steps taken so far.
    pub fn steps_taken(&self) -> u64 {
        self.steps
    }

    /// The learning rate the next step will use.
    pub fn next_lr(&self) -> f64 {
        self.schedule.lr_at(self.base_lr, self.steps + 1)
    }

    /// The optimizer state (to checkpoint it).
    pub fn state(&self) -> &OptimizerState {
        &self.state
    }

    /// The schedule.
    pub fn schedule(&self) -> LrSchedule {
        self.schedule
    }

    /// One step: `params` updated in place from `grads`, at the scheduled learning rate.
    /// On error the step counter does not advance.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let n = self.state.len();
        for (what, got) in [("parameters", params.len()), ("gradients", grads.len())] {
            if got != n {
                return Err(OptimError::Length {
                    what: what.to_string(),
                    expected: n,
                    got,
                });
            }
        }
        let step = self.steps + 1;
        let lr = self.schedule.lr_at(self.base_lr, step);
        let shape = [n as u64];
        let plugin_err = |source| OptimError::Plugin {
            call: "step",
            source,
        };
        let mut buffers: Vec<StateBuffer<'_>> = self
            .state
            .buffers_mut()
            .iter_mut()
            .map(|(name, data)| StateBuffer {
                name: RStr::from_str(name),
                data: RSliceMut::from_mut_slice(data),
            })
            .collect();
        let call = OptimStep {
            params: TensorMut::from_f32(&shape, params).map_err(plugin_err)?,
            grads: TensorRef::from_f32(&shape, grads).map_err(plugin_err)?,
            state: RSliceMut::from_mut_slice(&mut buffers),
            step,
            lr,
        };
        self.optimizer
            .step(call)
            .into_result()
            .map_err(plugin_err)?;
        self.steps = step;
        Ok(())
    }
}
