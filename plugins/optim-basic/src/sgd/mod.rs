//! Stochastic gradient descent with momentum, as `torch.optim.SGD` defines it.
//!
//! For each parameter `θ` with gradient `g`, at step `t` (from 1) and learning rate `γ`:
//!
//! ```text
//! g ← -g                      if maximize
//! g ← g + λ θ                 if weight_decay λ ≠ 0
//! if momentum μ ≠ 0:
//!     b ← g                   at t = 1
//!     b ← μ b + (1 - τ) g     at t > 1   (τ = dampening)
//!     g ← g + μ b             if nesterov
//!     g ← b                   otherwise
//! θ ← θ - γ g
//! ```
//!
//! The momentum buffer `b` is the host-owned state buffer `momentum_buffer` (declared only
//! when `momentum > 0`). PyTorch creates it from the first gradient; here the tensor's
//! `initialized` flag says whether it holds one. A scheduled momentum (PyTorch's `OneCycleLR`
//! with `cycle_momentum`) replaces μ for its step. Arithmetic is in `f32`, like PyTorch on
//! `float32` tensors.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};

#[cfg(test)]
mod tests;

/// The name of SGD's only state buffer (present when `momentum > 0`).
pub const MOMENTUM_BUFFER: &str = "momentum_buffer";

/// The descriptor of `sgd`: its parameters and defaults (PyTorch's).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "sgd",
        "SGD with momentum, dampening, weight decay and Nesterov momentum (torch.optim.SGD).",
    )
    .param(ParamSpec::f64("momentum", Some(0.0), "Momentum factor μ.").min(0.0))
    .param(ParamSpec::f64(
        "dampening",
        Some(0.0),
        "Dampening τ of the momentum update.",
    ))
    .param(
        ParamSpec::f64(
            "weight_decay",
            Some(0.0),
            "L2 penalty λ added to the gradient.",
        )
        .min(0.0),
    )
    .param(ParamSpec::bool(
        "nesterov",
        Some(false),
        "Nesterov momentum (needs momentum > 0 and dampening = 0).",
    ))
    .param(ParamSpec::bool(
        "maximize",
        Some(false),
        "Maximise the objective instead of minimising it.",
    ))
}

/// SGD's hyperparameters (fixed at construction; the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Momentum factor μ ≥ 0.
    pub momentum: f32,
    /// Dampening τ.
    pub dampening: f32,
    /// Weight decay λ ≥ 0.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Sgd {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<Sgd, RError> {
        let finite = |name: &str| -> Result<f32, RError> {
            let v = p.f64(name)?;
            if !v.is_finite() {
                return Err(RError::param(name, format!("must be finite, got {v}")));
            }
            if v < 0.0 && name != "dampening" {
                return Err(RError::param(name, format!("must be >= 0, got {v}")));
            }
            Ok(v as f32)
        };
        let sgd = Sgd {
            momentum: finite("momentum")?,
            dampening: finite("dampening")?,
            weight_decay: finite("weight_decay")?,
            nesterov: p.bool("nesterov")?,
            maximize: p.bool("maximize")?,
        };
        if sgd.nesterov && (sgd.momentum <= 0.0 || sgd.dampening != 0.0) {
            return Err(RError::param(
                "nesterov",
                format!(
                    "Nesterov momentum requires momentum > 0 and dampening = 0 (got momentum {}, dampening {})",
                    sgd.momentum, sgd.dampening
                ),
            ));
        }
        Ok(sgd)
    }

    /// One update over plain slices with momentum factor `momentum` (the constructed one or
    /// a scheduled one). `buffer` is the momentum buffer (required iff `momentum > 0`);
    /// `initialized` says whether it holds the previous step's value.
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        buffer: Option<&mut [f32]>,
        initialized: bool,
        lr: f32,
        momentum: f32,
    ) {
        let mut buffer = buffer;
        for i in 0..params.len() {
            let mut g = if self.maximize { -grads[i] } else { grads[i] };
            if self.weight_decay != 0.0 {
                g += self.weight_decay * params[i];
            }
            if momentum != 0.0 {
                let b = &mut buffer
                    .as_deref_mut()
                    .expect("momentum buffer checked by caller")[i];
                *b = if initialized {
                    momentum * *b + (1.0 - self.dampening) * g
                } else {
                    g
                };
                g = if self.nesterov { g + momentum * *b } else { *b };
            }
            params[i] -= lr * g;
        }
    }
}

impl Optimizer for Sgd {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let spec = StateSpec::new();
        Ok(if self.momentum != 0.0 {
            spec.f32_like(MOMENTUM_BUFFER, shape)
        } else {
            spec
        })
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let lr = step.lr_f32();
        let momentum = step.momentum_or(self.momentum as f64) as f32;
        if momentum != 0.0 && self.momentum == 0.0 {
            return Err(RError::param(
                "momentum",
                "a scheduled momentum needs sgd constructed with momentum > 0 (it has no momentum buffer)",
            ));
        }
        for t in step.tensors.iter_mut() {
            let initialized = t.initialized;
            if self.momentum != 0.0 {
                let (params, grads, [buffer]) = t.split_f32::<1>()?;
                self.update(params, grads, Some(buffer), initialized, lr, momentum);
            } else {
                let (params, grads, []) = t.split_f32::<0>()?;
                self.update(params, grads, None, initialized, lr, momentum);
            }
        }
        Ok(())
    }
}
