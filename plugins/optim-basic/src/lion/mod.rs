//! Lion, as `pytorch_optimizer.Lion` (pytorch-optimizer 4.x) defines it.
//!
//! Chen et al., "Symbolic Discovery of Optimization Algorithms" (NeurIPS 2023).
//!
//! For each element:
//!
//! ```text
//! g ← −g                                  if maximize
//! θ ← θ·(1 − λ·γ)   (or 1 − λ if fixed_decay)   if weight_decouple, λ = weight_decay
//! g ← g + λθ                              otherwise, if λ > 0
//! u ← sign(lerp(m, g, 1 − β₁))
//! m ← lerp(m, g, 1 − β₂)                  (exp_avg)
//! θ ← θ − γ·u
//! ```
//!
//! `sign(0) = 0`, as `torch.sign`. A scheduled momentum replaces `β₁`. pytorch-optimizer's
//! optional extras (`cautious`, `use_gc`, `adanorm`) are not offered.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};
use mosaic_optim::hyper::{betas, non_negative};
use mosaic_optim::torch::{add, lerp, scalar};
use mosaic_optim::views::LionState;

#[cfg(test)]
mod tests;

/// The descriptor of `lion` (pytorch_optimizer.Lion's parameters and defaults).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "lion",
        "Lion: sign of an interpolated momentum (pytorch_optimizer.Lion).",
    )
    .tag("elementwise")
    .param(ParamSpec::f64("lr", Some(1e-4), "Default learning rate γ.").min(0.0))
    .param(ParamSpec::f64_list(
        "betas",
        Some(vec![0.9, 0.99]),
        "(β₁, β₂): interpolation of the update and decay of the momentum.",
    ))
    .param(ParamSpec::f64("weight_decay", Some(0.0), "Weight decay λ.").min(0.0))
    .param(ParamSpec::bool(
        "weight_decouple",
        Some(true),
        "Decoupled weight decay (scale θ) instead of adding λθ to the gradient.",
    ))
    .param(ParamSpec::bool(
        "fixed_decay",
        Some(false),
        "Decoupled decay not scaled by the learning rate.",
    ))
    .param(ParamSpec::bool(
        "maximize",
        Some(false),
        "Maximise the objective instead of minimising it.",
    ))
}

/// Lion's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lion {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// λ.
    pub weight_decay: f64,
    /// Decoupled weight decay.
    pub weight_decouple: bool,
    /// Decoupled decay not scaled by the learning rate.
    pub fixed_decay: bool,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Lion {
    /// From resolved parameters; errors name the parameter.
    pub fn from_params(p: &ParamMap) -> Result<Lion, RError> {
        let (beta1, beta2) = betas(p, "betas")?;
        Ok(Lion {
            beta1,
            beta2,
            weight_decay: non_negative(p, "weight_decay")?,
            weight_decouple: p.bool("weight_decouple")?,
            fixed_decay: p.bool("fixed_decay")?,
            maximize: p.bool("maximize")?,
        })
    }

    /// One update over plain slices with interpolation `beta1`.
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        state: LionState<&mut [f32]>,
        lr: f64,
        beta1: f64,
    ) {
        let m = state.exp_avg;
        let decay = scalar(1.0 - self.weight_decay * if self.fixed_decay { 1.0 } else { lr });
        let wd = scalar(self.weight_decay);
        let (w1, w2) = (scalar(1.0 - beta1), scalar(1.0 - self.beta2));
        let neg_lr = scalar(-lr);
        for i in 0..params.len() {
            let mut g = if self.maximize { -grads[i] } else { grads[i] };
            if self.weight_decay != 0.0 {
                if self.weight_decouple {
                    params[i] *= decay;
                } else {
                    g = add(g, params[i], wd);
                }
            }
            let c = lerp(m[i], g, w1);
            let u = if c > 0.0 {
                1.0
            } else if c < 0.0 {
                -1.0
            } else {
                0.0
            };
            m[i] = lerp(m[i], g, w2);
            params[i] = add(params[i], u, neg_lr);
        }
    }
}

impl Optimizer for Lion {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        Ok(StateSpec::new().f32_like("exp_avg", shape))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let beta1 = step.momentum_or(self.beta1);
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let parts = t.parts()?;
            let grads = parts.grads.expect("checked by the adapter");
            let state = LionState::bind(parts.buffers)?;
            self.update(parts.params, grads, state, lr, beta1);
        }
        Ok(())
    }
}
