use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mosaic_abi::RngSeed;

use crate::checkpoint;
use crate::{
    LossFn, OptimError, OptimizerBox, OptimizerState, Parallelism, Param, Schedule, StepOptions,
};

/// Metadata key of a driver's step count in a checkpoint (`{prefix}steps`).
const STEPS_KEY: &str = "mosaic.driver.steps";

/// Drives one parameter group: an optimizer (through the ABI), its host-owned state, a base
/// learning rate, a schedule and a seed. Steps are counted from 1; step `s` uses the
/// schedule's rate (and momentum) at `s` and the seed `seed.derive(s)`.
pub struct Driver {
    optimizer: OptimizerBox,
    state: OptimizerState,
    base_lr: f64,
    schedule: Schedule,
    seed: RngSeed,
    steps: u64,
    parallel: Option<(Parallelism, Option<Arc<rayon::ThreadPool>>)>,
}

impl Driver {
    /// A driver for the tensors `(name, shape)`, with zero state as the optimizer declares it.
    pub fn new(
        optimizer: OptimizerBox,
        tensors: &[(&str, &[u64])],
        base_lr: f64,
        schedule: impl Into<Schedule>,
    ) -> Result<Driver, OptimError> {
        if !base_lr.is_finite() || base_lr < 0.0 {
            return Err(OptimError::InvalidParameter {
                name: "lr",
                reason: format!("must be finite and >= 0, got {base_lr}"),
            });
        }
        let schedule = schedule.into();
        schedule.validate()?;
        let state = OptimizerState::new(&optimizer, tensors)?;
        Ok(Driver {
            optimizer,
            state,
            base_lr,
            schedule,
            seed: RngSeed::from_u64(0),
            steps: 0,
            parallel: None,
        })
    }

    /// A driver for one flat tensor of `len` parameters (named `params`).
    pub fn flat(
        optimizer: OptimizerBox,
        len: usize,
        base_lr: f64,
        schedule: impl Into<Schedule>,
    ) -> Result<Driver, OptimError> {
        Driver::new(optimizer, &[("params", &[len as u64])], base_lr, schedule)
    }

    /// Use `seed` for randomized optimizers (default: `RngSeed::from_u64(0)`).
    pub fn with_seed(mut self, seed: RngSeed) -> Driver {
        self.seed = seed;
        self
    }

    /// Step in parallel on `pool` (or rayon's current pool), as `parallelism` allows (see
    /// [`OptimizerState::step_parallel`]); the bits are those of a sequential step.
    pub fn with_parallelism(
        mut self,
        parallelism: Parallelism,
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> Driver {
        self.parallel = Some((parallelism, pool));
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

    /// Write the state and the step count to a safetensors checkpoint.
    pub fn save(&self, path: &Path) -> Result<(), OptimError> {
        let mut meta = BTreeMap::new();
        meta.insert(STEPS_KEY.to_string(), self.steps.to_string());
        self.state.save(path, &meta)
    }

    /// Restore the state and step count written by [`Driver::save`]; continuing from it
    /// gives the same bits as never having stopped.
    pub fn load(&mut self, path: &Path) -> Result<(), OptimError> {
        let (state, meta) = OptimizerState::load(path, &self.optimizer)?;
        let steps = steps_from(path, &meta, STEPS_KEY)?;
        self.restore(state, steps)
    }

    /// Overwrite `params` (copies of the tensors' values) with the point to evaluate and
    /// ship: Schedule-Free's average `x`; `false` (untouched) for every other optimizer. See
    /// [`OptimizerState::evaluation_point`].
    pub fn evaluation_point(&mut self, params: &mut [&mut [f32]]) -> Result<bool, OptimError> {
        self.state.evaluation_point(&self.optimizer, params)
    }

    /// Steps taken so far.
    pub fn steps_taken(&self) -> u64 {
        self.steps
    }

    /// The learning rate the next step will use.
    pub fn next_lr(&self) -> f64 {
        self.schedule.lr_at(self.base_lr, self.steps + 1)
    }

    /// The base learning rate.
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// The optimizer state (to checkpoint it or read it through a typed view).
    pub fn state(&self) -> &OptimizerState {
        &self.state
    }

    /// The optimizer state, writable (to edit or reset tensors' state).
    pub fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &OptimizerBox {
        &self.optimizer
    }

    /// The schedule.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    fn options<'o>(&self, oracle: Option<&'o LossFn<'o>>) -> Result<StepOptions<'o>, OptimError> {
        let step = self.steps + 1;
        self.schedule.check_step(step)?;
        Ok(StepOptions {
            lr: self.schedule.lr_at(self.base_lr, step),
            momentum: self.schedule.momentum_at(step),
            seed: self.seed.derive(step),
            oracle,
        })
    }

    /// One step over all tensors (`params[i]` is tensor `i`). On error nothing changes and
    /// the step counter does not advance.
    pub fn step(&mut self, params: &mut [Param<'_>]) -> Result<(), OptimError> {
        let options = self.options(None)?;
        match &self.parallel {
            Some((par, pool)) => self.state.step_parallel(
                &self.optimizer,
                params,
                &options,
                *par,
                pool.as_deref(),
            )?,
            None => self.state.step(&self.optimizer, params, &options)?,
        }
        self.steps += 1;
        Ok(())
    }

    /// One step of a zeroth-order optimizer: the loss comes from `oracle`, no gradients.
    pub fn step_with_oracle(
        &mut self,
        params: &mut [Param<'_>],
        oracle: &LossFn<'_>,
    ) -> Result<(), OptimError> {
        let options = self.options(Some(oracle))?;
        self.state.step(&self.optimizer, params, &options)?;
        self.steps += 1;
        Ok(())
    }

    /// One step of a driver with a single tensor: `params` updated in place from `grads`.
    pub fn step_flat(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        self.step(&mut [Param::new(params, grads)])
    }
}

pub(crate) fn steps_from(
    path: &Path,
    meta: &BTreeMap<String, String>,
    key: &str,
) -> Result<u64, OptimError> {
    meta.get(key)
        .ok_or_else(|| OptimError::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("metadata `{key}` is missing"),
        })?
        .parse()
        .map_err(|e| OptimError::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("metadata `{key}`: {e}"),
        })
}

/// Parameter groups, as PyTorch's `param_groups`: each group has its own optimizer (Muon for
/// matrices and AdamW for the rest, or AdamW without weight decay for biases), learning rate,
/// schedule and state; every tensor of the model belongs to exactly one group.
pub struct ParamGroups {
    names: Vec<String>,
    groups: Vec<(String, Driver, Vec<usize>)>,
}

/// Builds [`ParamGroups`]: groups take the tensors their filter selects, in order, among those
/// no earlier group took.
pub struct GroupsBuilder {
    tensors: Vec<(String, Vec<u64>)>,
    taken: Vec<bool>,
    groups: Vec<(String, Driver, Vec<usize>)>,
}

type Filter<'f> = &'f dyn Fn(&str, &[u64]) -> bool;

impl ParamGroups {
    /// Start building groups over the model's tensors `(name, shape)`, in model order.
    pub fn builder(tensors: &[(&str, &[u64])]) -> GroupsBuilder {
        GroupsBuilder {
            tensors: tensors
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_vec()))
                .collect(),
            taken: vec![false; tensors.len()],
            groups: Vec::new(),
        }
    }

    /// The groups: name, driver, and the model indices of their tensors.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &Driver, &[usize])> {
        self.groups
            .iter()
            .map(|(n, d, i)| (n.as_str(), d, i.as_slice()))
    }

    /// The driver of group `name`.
    pub fn driver(&self, name: &str) -> Option<&Driver> {
        self.groups.iter().find(|g| g.0 == name).map(|g| &g.1)
    }

    /// One step: `params` in model order; each group steps its own tensors. A group whose
    /// step fails stops the step there (earlier groups have stepped).
    pub fn step(&mut self, params: &mut [Param<'_>]) -> Result<(), OptimError> {
        if params.len() != self.names.len() {
            return Err(OptimError::Length {
                what: "the list of parameter tensors".into(),
                expected: self.names.len(),
                got: params.len(),
            });
        }
        let mut slots: Vec<Option<Param<'_>>> = params
            .iter_mut()
            .map(|p| {
                Some(Param {
                    values: &mut *p.values,
                    grads: p.grads,
                })
            })
            .collect();
        for (_, driver, idx) in &mut self.groups {
            let mut mine: Vec<Param<'_>> = idx
                .iter()
                .map(|&i| slots[i].take().expect("each tensor is in one group"))
                .collect();
            driver.step(&mut mine)?;
        }
        Ok(())
    }

    /// Write every group's state and step count to one checkpoint.
    pub fn save(&self, path: &Path) -> Result<(), OptimError> {
        let mut meta = BTreeMap::new();
        for (name, d, _) in &self.groups {
            meta.insert(format!("mosaic.group.{name}.steps"), d.steps.to_string());
        }
        let states: Vec<(&str, &OptimizerState)> = self
            .groups
            .iter()
            .map(|(n, d, _)| (n.as_str(), &d.state))
            .collect();
        checkpoint::write(path, &states, &meta)
    }

    /// Restore what [`ParamGroups::save`] wrote.
    pub fn load(&mut self, path: &Path) -> Result<(), OptimError> {
        let opts: Vec<(&str, &OptimizerBox)> = self
            .groups
            .iter()
            .map(|(n, d, _)| (n.as_str(), &d.optimizer))
            .collect();
        let (states, meta) = checkpoint::read(path, &opts)?;
        for ((name, d, _), state) in self.groups.iter_mut().zip(states) {
            let steps = steps_from(path, &meta, &format!("mosaic.group.{name}.steps"))?;
            d.restore(state, steps)?;
        }
        Ok(())
    }
}

impl GroupsBuilder {
    /// A group of the tensors `filter(name, shape)` selects among those not yet taken.
    pub fn group(
        mut self,
        name: &str,
        optimizer: OptimizerBox,
        lr: f64,
        schedule: impl Into<Schedule>,
        filter: Filter<'_>,
    ) -> Result<GroupsBuilder, OptimError> {
        if self.groups.iter().any(|g| g.0 == name) {
            return Err(OptimError::State(format!("group `{name}` declared twice")));
        }
        let idx: Vec<usize> = (0..self.tensors.len())
            .filter(|&i| !self.taken[i] && filter(&self.tensors[i].0, &self.tensors[i].1))
            .collect();
        let list: Vec<(&str, &[u64])> = idx
            .iter()
            .map(|&i| (self.tensors[i].0.as_str(), self.tensors[i].1.as_slice()))
            .collect();
        let driver = Driver::new(optimizer, &list, lr, schedule)?;
        for &i in &idx {
            self.taken[i] = true;
        }
        self.groups.push((name.to_string(), driver, idx));
        Ok(self)
    }

    /// A group of every tensor not yet taken.
    pub fn rest(
        self,
        name: &str,
        optimizer: OptimizerBox,
        lr: f64,
        schedule: impl Into<Schedule>,
    ) -> Result<GroupsBuilder, OptimError> {
        self.group(name, optimizer, lr, schedule, &|_, _| true)
    }

    /// The groups; an error names a tensor that no group took.
    pub fn build(self) -> Result<ParamGroups, OptimError> {
        if let Some(i) = self.taken.iter().position(|t| !t) {
            return Err(OptimError::State(format!(
                "tensor `{}` is in no parameter group",
                self.tensors[i].0
            )));
        }
        Ok(ParamGroups {
            names: self.tensors.into_iter().map(|(n, _)| n).collect(),
            groups: self.groups,
        })
    }
}
