use mosaic_abi::RngSeed;

use crate::{LossFn, LrSchedule, OptimError, OptimizerBox, OptimizerState, Param, StepOptions};

/// Drives one parameter group: an optimizer (through the ABI), its host-owned state, a base
/// learning rate, a schedule and a seed. Steps are counted from 1; step `s` uses the
/// schedule's rate at `s` and the seed `seed.derive(s)`.
pub struct Driver {
    optimizer: OptimizerBox,
    state: OptimizerState,
    base_lr: f64,
    schedule: LrSchedule,
    seed: RngSeed,
    steps: u64,
}

impl Driver {
    /// A driver for the tensors `(name, shape)`, with zero state as the optimizer declares it.
    pub fn new(
        optimizer: OptimizerBox,
        tensors: &[(&str, &[u64])],
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
        let state = OptimizerState::new(&optimizer, tensors)?;
        Ok(Driver {
            optimizer,
            state,
            base_lr,
            schedule,
            seed: RngSeed::from_u64(0),
            steps: 0,
        })
    }

    /// A driver for one flat tensor of `len` parameters (named `params`).
    pub fn flat(
        optimizer: OptimizerBox,
        len: usize,
        base_lr: f64,
        schedule: LrSchedule,
    ) -> Result<Driver, OptimError> {
        Driver::new(optimizer, &[("params", &[len as u64])], base_lr, schedule)
    }

    /// Use `seed` for randomized optimizers (default: `RngSeed::from_u64(0)`).
    pub fn with_seed(mut self, seed: RngSeed) -> Driver {
        self.seed = seed;
        self
    }

    /// Resume from a checkpoint: `state` and the number of steps already taken. The state
    /// must fit the optimizer and this driver's tensors.
    pub fn restore(&mut self, state: OptimizerState, steps_taken: u64) -> Result<(), OptimError> {
        state.check_against(&self.optimizer)?;
        let shapes = |s: &OptimizerState| -> Vec<(String, Vec<u64>)> {
            s.tensors()
                .iter()
                .map(|t| (t.name().to_string(), t.shape().to_vec()))
                .collect()
        };
        if shapes(&state) != shapes(&self.state) {
            return Err(OptimError::State(format!(
                "checkpoint has tensors {:?}, the driver has {:?}",
                shapes(&state),
                shapes(&self.state)
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

    /// The optimizer state (to checkpoint it or read it through a typed view).
    pub fn state(&self) -> &OptimizerState {
        &self.state
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &OptimizerBox {
        &self.optimizer
    }

    /// The schedule.
    pub fn schedule(&self) -> LrSchedule {
        self.schedule
    }

    fn options<'o>(&self, oracle: Option<&'o LossFn<'o>>) -> StepOptions<'o> {
        let step = self.steps + 1;
        StepOptions {
            lr: self.schedule.lr_at(self.base_lr, step),
            momentum: None,
            seed: self.seed.derive(step),
            oracle,
        }
    }

    /// One step over all tensors (`params[i]` is tensor `i`). On error nothing changes and
    /// the step counter does not advance.
    pub fn step(&mut self, params: &mut [Param<'_>]) -> Result<(), OptimError> {
        let options = self.options(None);
        self.state.step(&self.optimizer, params, &options)?;
        self.steps += 1;
        Ok(())
    }

    /// One step of a zeroth-order optimizer: the loss comes from `oracle`, no gradients.
    pub fn step_with_oracle(
        &mut self,
        params: &mut [Param<'_>],
        oracle: &LossFn<'_>,
    ) -> Result<(), OptimError> {
        let options = self.options(Some(oracle));
        self.state.step(&self.optimizer, params, &options)?;
        self.steps += 1;
        Ok(())
    }

    /// One step of a driver with a single tensor: `params` updated in place from `grads`.
    pub fn step_flat(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        self.step(&mut [Param::new(params, grads)])
    }
}
