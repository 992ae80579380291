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
//! The momentum buffer `b` is the host-owned state buffer `momentum_buffer`; PyTorch creates
//! it from the first gradient, and since the host zero-initialises buffers the first step is
//! recognised by `step == 1`. Arithmetic is in `f32`, like PyTorch on `float32` tensors.

use mosaic_abi::{AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError};

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

    /// One update over plain slices. `buffer` is the momentum buffer (required iff
    /// `momentum > 0`); `step` counts from 1.
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        buffer: Option<&mut [f32]>,
        step: u64,
        lr: f32,
    ) {
        let first = step == 1;
        let mut buffer = buffer;
        for i in 0..params.len() {
            let mut g = if self.maximize { -grads[i] } else { grads[i] };
            if self.weight_decay != 0.0 {
                g += self.weight_decay * params[i];
            }
            if self.momentum != 0.0 {
                let b = &mut buffer
                    .as_deref_mut()
                    .expect("momentum buffer checked by caller")[i];
                *b = if first {
                    g
                } else {
                    self.momentum * *b + (1.0 - self.dampening) * g
                };
                g = if self.nesterov {
                    g + self.momentum * *b
                } else {
                    *b
                };
            }
            params[i] -= lr * g;
        }
    }
}

impl Optimizer for Sgd {
    fn state_names(&self) -> Vec<String> {
        if self.momentum != 0.0 {
            vec![MOMENTUM_BUFFER.to_string()]
        } else {
            Vec::new()
        }
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        if !step.lr.is_finite() || step.lr < 0.0 {
            return Err(RError::param(
                "lr",
                format!("must be finite and >= 0, got {}", step.lr),
            ));
        }
        if step.step == 0 {
            return Err(RError::input("step numbers start at 1, got 0"));
        }
        let want = self.state_names();
        if step.state.len() != want.len()
            || step
                .state
                .iter()
                .zip(&want)
                .any(|(b, w)| b.name.as_str() != w)
        {
            let got: Vec<&str> = step.state.iter().map(|b| b.name.as_str()).collect();
            return Err(RError::input(format!(
                "sgd expects state buffers {want:?}, got {got:?}"
            )));
        }
        let (number, lr) = (step.step, step.lr as f32);
        let (params, grads, mut state) = step.split()?;
        self.update(params, grads, state.pop(), number, lr);
        Ok(())
    }
}
