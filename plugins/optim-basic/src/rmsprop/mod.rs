//! RMSprop, as `torch.optim.RMSprop` (PyTorch 2.x) defines it.
//!
//! Tieleman & Hinton, "Lecture 6.5 — RMSprop" (COURSERA: Neural Networks for Machine
//! Learning, 2012); the centered form follows Graves, "Generating Sequences With Recurrent
//! Neural Networks" (2013).
//!
//! For each element, with `γ` the learning rate and `α` the smoothing constant:
//!
//! ```text
//! g ← −g                              if maximize
//! g ← g + λθ                          if weight_decay λ ≠ 0
//! s ← s·α + (1 − α)·g·g               (square_avg)
//! a ← lerp(a, g, 1 − α)               if centered (grad_avg)
//! d ← √(s − a·a) + ε  if centered, else √s + ε
//! b ← b·μ + g / d;  θ ← θ − γ·b       if momentum μ > 0 (momentum_buffer)
//! θ ← θ − γ·g / d                     otherwise
//! ```
//!
//! in PyTorch's order of `float32` operations. A scheduled momentum replaces `μ` (the
//! optimizer must be built with `momentum > 0`, which declares the buffer).

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};
use mosaic_optim::hyper::{non_negative, unit};
use mosaic_optim::torch::{add, addcdiv, addcmul, lerp, scalar};
use mosaic_optim::views::RmspropState;

#[cfg(test)]
mod tests;

/// The descriptor of `rmsprop` (torch.optim.RMSprop's parameters and defaults).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "rmsprop",
        "RMSprop with optional momentum and centering (torch.optim.RMSprop).",
    )
    .tag("elementwise")
    .param(ParamSpec::f64("lr", Some(1e-2), "Default learning rate γ.").min(0.0))
    .param(ParamSpec::f64("alpha", Some(0.99), "Smoothing constant α.").range(0.0, 1.0))
    .param(ParamSpec::f64("eps", Some(1e-8), "Term ε added to the denominator.").min(0.0))
    .param(ParamSpec::f64("weight_decay", Some(0.0), "L2 penalty λ.").min(0.0))
    .param(ParamSpec::f64("momentum", Some(0.0), "Momentum factor μ.").min(0.0))
    .param(ParamSpec::bool(
        "centered",
        Some(false),
        "Normalise by the estimated variance of the gradient.",
    ))
    .param(ParamSpec::bool(
        "maximize",
        Some(false),
        "Maximise the objective instead of minimising it.",
    ))
}

/// RMSprop's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rmsprop {
    /// α.
    pub alpha: f64,
    /// ε.
    pub eps: f64,
    /// λ.
    pub weight_decay: f64,
    /// μ.
    pub momentum: f64,
    /// Centered.
    pub centered: bool,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Rmsprop {
    /// From resolved parameters; errors name the parameter.
    pub fn from_params(p: &ParamMap) -> Result<Rmsprop, RError> {
        Ok(Rmsprop {
            alpha: unit(p, "alpha")?,
            eps: non_negative(p, "eps")?,
            weight_decay: non_negative(p, "weight_decay")?,
            momentum: non_negative(p, "momentum")?,
            centered: p.bool("centered")?,
            maximize: p.bool("maximize")?,
        })
    }

    /// One update over plain slices with momentum `momentum`.
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        state: RmspropState<&mut [f32]>,
        lr: f64,
        momentum: f64,
    ) {
        let RmspropState {
            square_avg,
            mut momentum_buffer,
            mut grad_avg,
        } = state;
        let alpha = scalar(self.alpha);
        let one_minus = scalar(1.0 - self.alpha);
        let wd = scalar(self.weight_decay);
        let eps = scalar(self.eps);
        let mu = scalar(momentum);
        let neg_lr = scalar(-lr);
        for i in 0..params.len() {
            let mut g = if self.maximize { -grads[i] } else { grads[i] };
            if self.weight_decay != 0.0 {
                g = add(g, params[i], wd);
            }
            let s = &mut square_avg[i];
            *s = addcmul(*s * alpha, g, g, one_minus);
            let avg = match grad_avg.as_deref_mut() {
                Some(a) => {
                    a[i] = lerp(a[i], g, one_minus);
                    addcmul(*s, a[i], a[i], -1.0).sqrt()
                }
                None => s.sqrt(),
            } + eps;
            match momentum_buffer.as_deref_mut() {
                Some(b) if momentum > 0.0 => {
                    b[i] = addcdiv(b[i] * mu, g, avg, 1.0);
                    params[i] = add(params[i], b[i], neg_lr);
                }
                _ => params[i] = addcdiv(params[i], g, avg, neg_lr),
            }
        }
    }
}

impl Optimizer for Rmsprop {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let mut spec = StateSpec::new().f32_like("square_avg", shape);
        if self.momentum > 0.0 {
            spec = spec.f32_like("momentum_buffer", shape);
        }
        if self.centered {
            spec = spec.f32_like("grad_avg", shape);
        }
        Ok(spec)
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let momentum = step.momentum_or(self.momentum);
        if momentum > 0.0 && self.momentum == 0.0 {
            return Err(RError::param(
                "momentum",
                "a scheduled momentum needs rmsprop built with momentum > 0 (it has no momentum buffer)",
            ));
        }
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let parts = t.parts()?;
            let grads = parts.grads.expect("checked by the adapter");
            let state = RmspropState::bind(parts.buffers)?;
            self.update(parts.params, grads, state, lr, momentum);
        }
        Ok(())
    }
}
