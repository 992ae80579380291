//! Train [dfdx](https://docs.rs/dfdx) 0.13 models (CPU, `f32`) with Mosaic optimizers
//! (feature `dfdx`).
//!
//! The adapter walks a model's tensors with dfdx's own [`TensorVisitor`] (the walk dfdx's
//! optimizers use), in field order, naming each tensor as dfdx's safetensors export does
//! (`0.weight`, `1.bias`) and skipping tensors dfdx marks as not trained (batch-norm running
//! statistics). Each update hands every trainable tensor, with its shape, to a Mosaic
//! [`Driver`] or [`ParamGroups`] in one step.
//!
//! Copies: gradients are read in place from dfdx's [`Gradients`] (no copy). dfdx keeps a
//! tensor's storage private, so parameter values go through one scratch buffer per tensor,
//! allocated once: copied out before the step and back after it (`copy_into`/`copy_from`).
//!
//! ```
//! # use dfdx::prelude::*;
//! # use mosaic_optim::{dfdx::DfdxOptimizer, LrSchedule, OptimizerBox};
//! // Adam from the optim-basic plugin, linked statically (a loaded `.so` works the same way).
//! fn adam() -> OptimizerBox {
//!     let module = mosaic_plugin_optim_basic::plugin_module();
//!     (module.new_optimizer())("adam".into(), &mosaic_abi::ParamMap::new())
//!         .into_result()
//!         .expect("adam with its defaults")
//! }
//! let dev = Cpu::default();
//! let mut model = dev.build_module::<(Linear<4, 8>, ReLU, Linear<8, 2>), f32>();
//! let mut opt = DfdxOptimizer::new(&model, adam(), 1e-3, LrSchedule::Constant)?;
//! let mut grads = model.alloc_grads();
//! let x: Tensor<Rank2<16, 4>, f32, _> = dev.sample_normal();
//! let loss = model.forward(x.traced(grads)).square().mean();
//! grads = loss.backward();
//! opt.update(&mut model, &mut grads)?;
//! model.zero_grads(&mut grads);
//! # Ok::<(), mosaic_optim::OptimError>(())
//! ```

use std::path::Path;

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{Cpu, Gradients, Tensor};

use crate::{Driver, GroupsBuilder, OptimError, OptimizerBox, Param, ParamGroups};

/// The trainable tensors of `model`, `(name, shape)` in dfdx's walk order.
pub fn tensors<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<(String, Vec<u64>)> {
    let mut names = Names(Vec::new());
    let walked = M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut names,
    });
    match walked {
        Ok(_) => names.0,
        Err(never) => match never {},
    }
}

/// The trainable tensors' values, `(name, values)` in walk order (copies).
pub fn parameters<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<(String, Vec<f32>)> {
    let mut values = Values(Vec::new());
    let walked = M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut values,
    });
    match walked {
        Ok(_) => values.0,
        Err(never) => match never {},
    }
}

struct Values(Vec<(String, Vec<f32>)>);

impl TensorVisitor<f32, Cpu> for Values {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = Never;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Never> {
        if opts.do_gradient_update {
            self.0.push((name, t.as_vec()));
        }
        Ok(None)
    }
}

struct Names(Vec<(String, Vec<u64>)>);

enum Never {}

impl TensorVisitor<f32, Cpu> for Names {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = Never;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Never> {
        if opts.do_gradient_update {
            let dims: Vec<usize> = t.shape().concrete().into();
            self.0
                .push((name, dims.into_iter().map(|d| d as u64).collect()));
        }
        Ok(None)
    }
}

/// What a walk over the model's trainable tensors does to each. Every pass checks names and
/// shapes first; only `In`, the last, writes to the model, so a model that does not match is
/// refused before it changes.
enum Pass<'a> {
    /// Copy the values into the scratch buffers.
    Out(&'a mut [Vec<f32>]),
    /// Copy the scratch buffers back into the model.
    In(&'a [Vec<f32>]),
    /// Record where each tensor's gradient lives (allocating zeros for a missing one).
    Grads(
        &'a mut Gradients<f32, Cpu>,
        &'a mut Vec<(*const f32, usize)>,
    ),
}

struct Walk<'a> {
    pass: Pass<'a>,
    index: usize,
    expected: &'a [(String, Vec<u64>)],
}

impl TensorVisitor<f32, Cpu> for Walk<'_> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = OptimError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        (t, name): (&mut Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, OptimError> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let i = self.index;
        self.index += 1;
        let dims: Vec<usize> = t.shape().concrete().into();
        let shape: Vec<u64> = dims.into_iter().map(|d| d as u64).collect();
        match self.expected.get(i) {
            Some((n, s)) if *n == name && *s == shape => {}
            want => {
                return Err(OptimError::State(format!(
                    "model tensor {i} is `{name}` {shape:?}, the optimizer was built for {want:?}"
                )))
            }
        }
        match &mut self.pass {
            Pass::Out(scratch) => t.copy_into(&mut scratch[i]),
            Pass::In(scratch) => t.copy_from(&scratch[i]),
            Pass::Grads(grads, ptrs) => {
                let g = grads
                    .get_or_alloc_mut(t)
                    .map_err(|e| OptimError::State(format!("gradient of `{name}`: {e}")))?;
                ptrs.push((g.as_ptr(), g.len()));
            }
        }
        Ok(None)
    }
}

enum Inner {
    One(Box<Driver>),
    Groups(ParamGroups),
}

/// A Mosaic optimizer (or parameter groups) bound to a dfdx model's trainable tensors.
pub struct DfdxOptimizer {
    inner: Inner,
    tensors: Vec<(String, Vec<u64>)>,
    scratch: Vec<Vec<f32>>,
}

impl DfdxOptimizer {
    /// One optimizer over every trainable tensor of `model`.
    pub fn new<M: TensorCollection<f32, Cpu>>(
        model: &M,
        optimizer: OptimizerBox,
        lr: f64,
        schedule: impl Into<crate::Schedule>,
    ) -> Result<DfdxOptimizer, OptimError> {
        let list = tensors(model);
        let refs: Vec<(&str, &[u64])> = list
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_slice()))
            .collect();
        let driver = Driver::new(optimizer, &refs, lr, schedule)?;
        DfdxOptimizer::from_driver(model, driver)
    }

    /// Use a driver built by the caller over [`tensors`]`(model)` (e.g. with a seed or
    /// parallelism).
    pub fn from_driver<M: TensorCollection<f32, Cpu>>(
        model: &M,
        driver: Driver,
    ) -> Result<DfdxOptimizer, OptimError> {
        let list = tensors(model);
        let got: Vec<(String, Vec<u64>)> = driver
            .state()
            .tensors()
            .iter()
            .map(|t| (t.name().to_string(), t.shape().to_vec()))
            .collect();
        if got != list {
            return Err(OptimError::State(format!(
                "the driver's tensors {got:?} are not the model's {list:?}"
            )));
        }
        Ok(DfdxOptimizer::with(Inner::One(Box::new(driver)), list))
    }

    /// Parameter groups over the model's tensors: `build` adds groups to a builder over
    /// [`tensors`]`(model)` (e.g. AdamW for matrices, no weight decay for biases).
    pub fn with_groups<M: TensorCollection<f32, Cpu>>(
        model: &M,
        build: impl FnOnce(GroupsBuilder) -> Result<GroupsBuilder, OptimError>,
    ) -> Result<DfdxOptimizer, OptimError> {
        let list = tensors(model);
        let refs: Vec<(&str, &[u64])> = list
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_slice()))
            .collect();
        let groups = build(ParamGroups::builder(&refs))?.build()?;
        Ok(DfdxOptimizer::with(Inner::Groups(groups), list))
    }

    fn with(inner: Inner, tensors: Vec<(String, Vec<u64>)>) -> DfdxOptimizer {
        let scratch = tensors
            .iter()
            .map(|(_, s)| vec![0f32; s.iter().product::<u64>() as usize])
            .collect();
        DfdxOptimizer {
            inner,
            tensors,
            scratch,
        }
    }

    /// The trainable tensors, `(name, shape)` in walk order.
    pub fn tensors(&self) -> &[(String, Vec<u64>)] {
        &self.tensors
    }

    /// The driver (with one optimizer).
    pub fn driver(&self) -> Option<&Driver> {
        match &self.inner {
            Inner::One(d) => Some(d),
            Inner::Groups(_) => None,
        }
    }

    /// The parameter groups (when built with groups).
    pub fn groups(&self) -> Option<&ParamGroups> {
        match &self.inner {
            Inner::Groups(g) => Some(g),
            Inner::One(_) => None,
        }
    }

    fn walk<M: TensorCollection<f32, Cpu>>(
        model: &mut M,
        pass: Pass<'_>,
        expected: &[(String, Vec<u64>)],
    ) -> Result<(), OptimError> {
        let mut w = Walk {
            pass,
            index: 0,
            expected,
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: (model, String::new()),
            f: &mut w,
        })?;
        if w.index != expected.len() {
            return Err(OptimError::State(format!(
                "the model has {} trainable tensors, the optimizer was built for {}",
                w.index,
                expected.len()
            )));
        }
        Ok(())
    }

    /// One step from dfdx gradients (read in place). A tensor absent from `grads` gets a
    /// zero gradient (dfdx's `alloc_grads` allocates one for every parameter); to skip
    /// tensors, use [`DfdxOptimizer::update_with`].
    pub fn update<M: TensorCollection<f32, Cpu>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, Cpu>,
    ) -> Result<(), OptimError> {
        let mut ptrs = Vec::with_capacity(self.tensors.len());
        DfdxOptimizer::walk(model, Pass::Grads(grads, &mut ptrs), &self.tensors)?;
        // SAFETY: each pointer is the data of one gradient buffer owned by `grads`, which
        // stays mutably borrowed (so unchanged) until this function returns; the walk only
        // inserted missing entries, which moves no buffer's heap data.
        let slices: Vec<Option<&[f32]>> = ptrs
            .iter()
            .map(|&(p, n)| Some(unsafe { std::slice::from_raw_parts(p, n) }))
            .collect();
        self.update_with(model, &slices)
    }

    /// One step from gradients given per tensor in walk order (e.g. DP-SGD's clipped and
    /// noised sums); `None` skips a tensor this step (its state and counter unchanged).
    pub fn update_with<M: TensorCollection<f32, Cpu>>(
        &mut self,
        model: &mut M,
        grads: &[Option<&[f32]>],
    ) -> Result<(), OptimError> {
        if grads.len() != self.tensors.len() {
            return Err(OptimError::Length {
                what: "the list of gradients".into(),
                expected: self.tensors.len(),
                got: grads.len(),
            });
        }
        DfdxOptimizer::walk(model, Pass::Out(&mut self.scratch), &self.tensors)?;
        let mut params: Vec<Param<'_>> = self
            .scratch
            .iter_mut()
            .zip(grads)
            .map(|(values, g)| Param { values, grads: *g })
            .collect();
        match &mut self.inner {
            Inner::One(d) => d.step(&mut params)?,
            Inner::Groups(g) => g.step(&mut params)?,
        }
        DfdxOptimizer::walk(model, Pass::In(&self.scratch), &self.tensors)
    }

    /// Write the optimizer state (and step counts) to a safetensors checkpoint.
    pub fn save(&self, path: &Path) -> Result<(), OptimError> {
        match &self.inner {
            Inner::One(d) => d.save(path),
            Inner::Groups(g) => g.save(path),
        }
    }

    /// Restore what [`DfdxOptimizer::save`] wrote.
    pub fn load(&mut self, path: &Path) -> Result<(), OptimError> {
        match &mut self.inner {
            Inner::One(d) => d.load(path),
            Inner::Groups(g) => g.load(path),
        }
    }
}
