//! SGDP: SGD with momentum and the radial part of the update removed on scale-invariant
//! weights.
//!
//! Heo et al., "AdamP: Slowing Down the Slowdown for Momentum Optimizers on Scale-invariant
//! Weights", ICLR 2021. With the semantics and defaults of pytorch-optimizer 4.x `SGDP`; at
//! learning rate `γ` and gradient `g`:
//!
//! ```text
//! b ← μ b + (1 - τ) g                        (b starts at zero)
//! u ← μ b + g  (nesterov)   or   u ← b
//! if the weight is scale invariant (cosine test, see `shared::projection`):
//!     u ← u - ŵ ⟨ŵ, u⟩ per row,  ratio ← wd_ratio            else ratio ← 1
//! w ← w (1 - λ γ ratio / (1 - μ))            (decoupled decay; fixed_decay drops γ)
//! w ← w - γ u
//! ```
//!
//! `weight_decouple = false` adds `λ w` to the gradient before the momentum (plain L2);
//! pytorch-optimizer 4.1 applies it after the update is formed, where it has no effect.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};

use crate::shared::params::{lr_spec, maximize_spec};
use crate::shared::projection::{self, apply_projected, channels, scale_invariant_view};
use mosaic_optim::hyper::{finite, non_negative};

#[cfg(test)]
mod tests;

/// The name of the momentum buffer.
pub const MOMENTUM: &str = "momentum";

/// The descriptor of `sgdp`: its parameters and defaults (pytorch-optimizer's).
pub fn descriptor() -> AlgorithmDescriptor {
    let d = AlgorithmDescriptor::new(
        Family::Optim,
        "sgdp",
        "SGDP: SGD without the radial update on scale-invariant weights (Heo et al. 2021).",
    )
    .param(lr_spec(1e-3))
    .param(ParamSpec::f64("momentum", Some(0.0), "Momentum factor μ in [0, 1).").range(0.0, 1.0))
    .param(ParamSpec::f64(
        "dampening",
        Some(0.0),
        "Dampening τ of the momentum update.",
    ));
    projection::add_specs(d)
        .param(
            ParamSpec::f64(
                "eps",
                Some(1e-8),
                "Term guarding the norms of the cosine test.",
            )
            .min(0.0),
        )
        .param(maximize_spec())
}

/// SGDP's hyper-parameters (the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgdp {
    /// Momentum factor μ in `[0, 1)`.
    pub momentum: f64,
    /// Dampening τ.
    pub dampening: f64,
    /// Weight decay λ ≥ 0.
    pub weight_decay: f64,
    /// Decoupled (multiplicative) weight decay.
    pub weight_decouple: bool,
    /// Decoupled decay not scaled by the learning rate.
    pub fixed_decay: bool,
    /// Cosine threshold δ of the scale-invariance test.
    pub delta: f64,
    /// Weight decay ratio on projected weights, in `[0, 1]`.
    pub wd_ratio: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Norm guard ε ≥ 0.
    pub eps: f32,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Default for Sgdp {
    fn default() -> Sgdp {
        Sgdp {
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            weight_decouple: true,
            fixed_decay: false,
            delta: 0.1,
            wd_ratio: 0.1,
            nesterov: false,
            eps: 1e-8,
            maximize: false,
        }
    }
}

impl Sgdp {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<Sgdp, RError> {
        let momentum = non_negative(p, "momentum")?;
        if momentum >= 1.0 {
            return Err(RError::param(
                "momentum",
                format!("must be < 1, got {momentum}"),
            ));
        }
        Ok(Sgdp {
            momentum,
            dampening: finite(p, "dampening")?,
            weight_decay: non_negative(p, "weight_decay")?,
            weight_decouple: p.bool("weight_decouple")?,
            fixed_decay: p.bool("fixed_decay")?,
            delta: non_negative(p, "delta")?,
            wd_ratio: non_negative(p, "wd_ratio")?,
            nesterov: p.bool("nesterov")?,
            eps: non_negative(p, "eps")? as f32,
            maximize: p.bool("maximize")?,
        })
    }

    /// One step over a tensor with `channels` output channels (`None` when it is
    /// one-dimensional; see [`channels`]) with momentum buffer `momentum`.
    /// Slices must have equal lengths (checked by the caller).
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        channels: Option<usize>,
        momentum: &mut [f32],
        lr: f64,
    ) {
        let mu = self.momentum as f32;
        let keep = (1.0 - self.dampening) as f32;
        let l2 = if self.weight_decouple {
            0.0
        } else {
            self.weight_decay as f32
        };
        let sign = if self.maximize { -1.0 } else { 1.0 };
        for i in 0..params.len() {
            let g = sign * grads[i] + l2 * params[i];
            momentum[i] = momentum[i] * mu + keep * g;
        }
        let nesterov = self.nesterov;
        let buf = &*momentum;
        let update = |i: usize, w: f32| {
            if nesterov {
                buf[i] * mu + (sign * grads[i] + l2 * w)
            } else {
                buf[i]
            }
        };
        let view = scale_invariant_view(params, grads, channels, self.delta, self.eps);
        let ratio = if view.is_some() { self.wd_ratio } else { 1.0 } / (1.0 - self.momentum);
        let decay = projection::decay_factor(
            (self.weight_decay, self.weight_decouple, self.fixed_decay),
            lr,
            ratio,
        );
        let alpha = -lr as f32;
        apply_projected(params, view, self.eps, update, |w, u| {
            if decay != 1.0 {
                *w *= decay;
            }
            *w += alpha * u;
        });
    }
}

impl Optimizer for Sgdp {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        Ok(StateSpec::new().f32_like(MOMENTUM, shape))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let momentum = step.momentum_or(self.momentum);
        if momentum >= 1.0 {
            return Err(RError::param(
                "momentum",
                format!("scheduled momentum must be < 1, got {momentum}"),
            ));
        }
        let opt = Sgdp { momentum, ..*self };
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let ch = channels(t.shape());
            let (params, grads, [buffer]) = t.split_f32::<1>()?;
            opt.update(params, grads, ch, buffer, lr);
        }
        Ok(())
    }
}
