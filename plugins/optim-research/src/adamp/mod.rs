//! AdamP: Adam with the radial part of the update removed on scale-invariant weights.
//!
//! Heo et al., "AdamP: Slowing Down the Slowdown for Momentum Optimizers on Scale-invariant
//! Weights", ICLR 2021. With the semantics and defaults of pytorch-optimizer 4.x `AdamP`; at
//! step `t` with learning rate `γ` and gradient `g`:
//!
//! ```text
//! m ← lerp(m, g, 1 - β₁)                    v ← β₂ v + (1 - β₂) g²
//! u ← m · √(1 - β₂ᵗ) / (√v + ε)             (nesterov: lerp(m, g, 1 - β₁) instead of m)
//! if the weight is scale invariant (cosine test, see `shared::projection`):
//!     u ← u - ŵ ⟨ŵ, u⟩ per row,  ratio ← wd_ratio            else ratio ← 1
//! w ← w (1 - λ γ ratio)                      (decoupled decay; fixed_decay: 1 - λ ratio)
//! w ← w - γ / (1 - β₁ᵗ) · u
//! ```
//!
//! The claim checked in the tests: on a scale-invariant weight the applied update is
//! orthogonal to the weight, so it cannot grow the norm the way Adam's does.
//! `weight_decouple = false` adds `λ w` to the gradient before the moments (plain L2);
//! pytorch-optimizer 4.1 applies it after the moments are formed, where it has no effect.

use mosaic_abi::{AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, RError, StateSpec};

use crate::shared::params::{betas_spec, eps_spec, lr_spec, maximize_spec};
use crate::shared::projection::{self, apply_projected, channels, scale_invariant_view};
use mosaic_optim::hyper::{betas, non_negative};
use mosaic_optim::torch::{bias_correction, lerp, scalar};

#[cfg(test)]
mod tests;

/// The name of the first-moment buffer.
pub const EXP_AVG: &str = "exp_avg";
/// The name of the second-moment buffer.
pub const EXP_AVG_SQ: &str = "exp_avg_sq";

/// The descriptor of `adamp`: its parameters and defaults (pytorch-optimizer's).
pub fn descriptor() -> AlgorithmDescriptor {
    let d = AlgorithmDescriptor::new(
        Family::Optim,
        "adamp",
        "AdamP: Adam without the radial update on scale-invariant weights (Heo et al. 2021).",
    )
    .param(lr_spec(1e-3))
    .param(betas_spec(
        [0.9, 0.999],
        "Decay rates [β₁, β₂] of the moments.",
    ));
    projection::add_specs(d)
        .param(eps_spec(1e-8))
        .param(maximize_spec())
}

/// AdamP's hyper-parameters (the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamP {
    /// Decay rates (β₁, β₂), each in `[0, 1)`.
    pub betas: (f64, f64),
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
    /// Denominator term ε ≥ 0.
    pub eps: f32,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Default for AdamP {
    fn default() -> AdamP {
        AdamP {
            betas: (0.9, 0.999),
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

/// AdamP's state over one parameter group: the two moments, one value per parameter.
#[derive(Debug)]
pub struct AdamPState<'a> {
    /// First moment `m`.
    pub exp_avg: &'a mut [f32],
    /// Second moment `v`.
    pub exp_avg_sq: &'a mut [f32],
}

impl AdamP {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<AdamP, RError> {
        Ok(AdamP {
            betas: betas(p, "betas")?,
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
    /// one-dimensional; see [`channels`]), `step` counting from 1. Slices must have equal lengths (checked by the caller).
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        channels: Option<usize>,
        state: AdamPState<'_>,
        step: u64,
        lr: f64,
    ) {
        let (beta1, beta2) = self.betas;
        let (w1, b2, w2) = (scalar(1.0 - beta1), beta2 as f32, scalar(1.0 - beta2));
        let l2 = if self.weight_decouple {
            0.0
        } else {
            self.weight_decay as f32
        };
        let sign = if self.maximize { -1.0 } else { 1.0 };
        let AdamPState {
            exp_avg,
            exp_avg_sq,
        } = state;
        for i in 0..params.len() {
            let g = sign * grads[i] + l2 * params[i];
            exp_avg[i] = lerp(exp_avg[i], g, w1);
            exp_avg_sq[i] = exp_avg_sq[i] * b2 + w2 * g * g;
        }
        let bias2_sqrt = bias_correction(beta2, step).sqrt() as f32;
        let step_size = lr / bias_correction(beta1, step);
        let (eps, nesterov) = (self.eps, self.nesterov);
        let update = |i: usize, w: f32| {
            let inv = (1.0 / (exp_avg_sq[i].sqrt() + eps)) * bias2_sqrt;
            if nesterov {
                lerp(exp_avg[i], sign * grads[i] + l2 * w, w1) * inv
            } else {
                inv * exp_avg[i]
            }
        };
        let view = scale_invariant_view(params, grads, channels, self.delta, self.eps);
        let ratio = if view.is_some() { self.wd_ratio } else { 1.0 };
        let decay = projection::decay_factor(
            (self.weight_decay, self.weight_decouple, self.fixed_decay),
            lr,
            ratio,
        );
        let alpha = -step_size as f32;
        apply_projected(params, view, self.eps, update, |w, u| {
            if decay != 1.0 {
                *w *= decay;
            }
            *w += alpha * u;
        });
    }
}

impl Optimizer for AdamP {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        Ok(StateSpec::new()
            .f32_like(EXP_AVG, shape)
            .f32_like(EXP_AVG_SQ, shape))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let opt = AdamP {
            betas: (step.momentum_or(self.betas.0), self.betas.1),
            ..*self
        };
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let (number, ch) = (t.step, channels(t.shape()));
            let (params, grads, [exp_avg, exp_avg_sq]) = t.split_f32::<2>()?;
            let state = AdamPState {
                exp_avg,
                exp_avg_sq,
            };
            opt.update(params, grads, ch, state, number, lr);
        }
        Ok(())
    }
}
