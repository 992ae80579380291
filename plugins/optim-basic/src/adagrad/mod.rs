//! Adagrad, as `torch.optim.Adagrad` (PyTorch 2.x) defines it.
//!
//! Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
//! Optimization" (JMLR 2011).
//!
//! At step `t` (from 1), for each element:
//!
//! ```text
//! g ← −g                          if maximize
//! g ← g + λθ                      if weight_decay λ ≠ 0
//! γₜ = γ / (1 + (t − 1)·lr_decay)
//! s ← s + g·g                     (sum, starting at initial_accumulator_value)
//! θ ← θ − γₜ·g / (√s + ε)
//! ```
//!
//! PyTorch fills `sum` with `initial_accumulator_value` when the optimizer is created; here
//! the host's zero buffer is filled on the tensor's first step (its `initialized` flag is
//! false), before the update, which is the same.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};
use mosaic_optim::hyper::non_negative;
use mosaic_optim::torch::{add, addcdiv, addcmul, scalar};
use mosaic_optim::views::AdagradState;

#[cfg(test)]
mod tests;

/// The descriptor of `adagrad` (torch.optim.Adagrad's parameters and defaults).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "adagrad",
        "Adagrad with learning-rate decay and an initial accumulator (torch.optim.Adagrad).",
    )
    .tag("elementwise")
    .param(ParamSpec::f64("lr", Some(1e-2), "Default learning rate γ.").min(0.0))
    .param(ParamSpec::f64("lr_decay", Some(0.0), "Learning-rate decay.").min(0.0))
    .param(ParamSpec::f64("weight_decay", Some(0.0), "L2 penalty λ.").min(0.0))
    .param(
        ParamSpec::f64(
            "initial_accumulator_value",
            Some(0.0),
            "Starting value of the sum of squared gradients.",
        )
        .min(0.0),
    )
    .param(ParamSpec::f64("eps", Some(1e-10), "Term ε added to the denominator.").min(0.0))
    .param(ParamSpec::bool(
        "maximize",
        Some(false),
        "Maximise the objective instead of minimising it.",
    ))
}

/// Adagrad's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adagrad {
    /// Learning-rate decay.
    pub lr_decay: f64,
    /// λ.
    pub weight_decay: f64,
    /// The initial value of `sum`.
    pub initial_accumulator_value: f64,
    /// ε.
    pub eps: f64,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Adagrad {
    /// From resolved parameters; errors name the parameter.
    pub fn from_params(p: &ParamMap) -> Result<Adagrad, RError> {
        Ok(Adagrad {
            lr_decay: non_negative(p, "lr_decay")?,
            weight_decay: non_negative(p, "weight_decay")?,
            initial_accumulator_value: non_negative(p, "initial_accumulator_value")?,
            eps: non_negative(p, "eps")?,
            maximize: p.bool("maximize")?,
        })
    }

    /// One update over plain slices at step `t` (from 1); `initialized` false fills `sum`
    /// with the initial accumulator value first.
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        state: AdagradState<&mut [f32]>,
        initialized: bool,
        t: u64,
        lr: f64,
    ) {
        let sum = state.sum;
        if !initialized {
            sum.fill(scalar(self.initial_accumulator_value));
        }
        let clr = lr / (1.0 + (t as f64 - 1.0) * self.lr_decay);
        let neg_clr = scalar(-clr);
        let wd = scalar(self.weight_decay);
        let eps = scalar(self.eps);
        for i in 0..params.len() {
            let mut g = if self.maximize { -grads[i] } else { grads[i] };
            if self.weight_decay != 0.0 {
                g = add(g, params[i], wd);
            }
            sum[i] = addcmul(sum[i], g, g, 1.0);
            let std = sum[i].sqrt() + eps;
            params[i] = addcdiv(params[i], g, std, neg_clr);
        }
    }
}

impl Optimizer for Adagrad {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        Ok(StateSpec::new().f32_like("sum", shape))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        if step.momentum.is_some() {
            return Err(RError::param(
                "momentum",
                "adagrad has no momentum to schedule (PyTorch's OneCycleLR refuses it too)",
            ));
        }
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let (k, initialized) = (t.step, t.initialized);
            let parts = t.parts()?;
            let grads = parts.grads.expect("checked by the adapter");
            let state = AdagradState::bind(parts.buffers)?;
            self.update(parts.params, grads, state, initialized, k, lr);
        }
        Ok(())
    }
}
