//! DiLoCo, single-worker form: inner AdamW steps, an outer Nesterov step on the parameter
//! delta every `inner_steps` steps.
//!
//! Douillard et al., "DiLoCo: Distributed Low-Communication Training of Language Models"
//! (2023), Algorithm 1 with one worker (`k = 1`); the multi-worker form is
//! [`mosaic_optim::distributed::DiLoCo`]. Each step is `torch.optim.AdamW` on the worker's
//! parameters (state kept across rounds); after every `H = inner_steps` steps, with `θ` the
//! anchor (the global parameters of the round):
//!
//! ```text
//! Δ = θ − θ_worker                                     (the outer gradient)
//! b ← Δ (first outer step) or μ b + Δ;   u = Δ + μ b   (torch.optim.SGD, nesterov)
//! θ ← θ − η u;   θ_worker ← θ
//! ```
//!
//! with `η = outer_lr`, `μ = outer_momentum`. The anchor is taken from the parameters at the
//! first step. The step's learning rate is the inner one.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, Scalar,
    ScalarKind, StateSpec,
};
use mosaic_optim::hyper::{betas, non_negative, unit};
use mosaic_optim::torch::{bias_correction, lerp, scalar};

#[cfg(test)]
mod tests;

/// The inner AdamW's first moment.
pub const EXP_AVG: &str = "exp_avg";
/// The inner AdamW's second moment.
pub const EXP_AVG_SQ: &str = "exp_avg_sq";
/// The global parameters of the round.
pub const ANCHOR: &str = "anchor";
/// The outer momentum buffer.
pub const OUTER_MOMENTUM: &str = "outer_momentum_buffer";
/// Outer steps taken.
pub const OUTER_STEPS: &str = "outer_steps";

/// The descriptor of `diloco`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "diloco",
        "DiLoCo (one worker): inner AdamW, outer Nesterov momentum on the parameter delta (Douillard et al. 2023).",
    )
    .param(ParamSpec::f64("lr", Some(1e-3), "Default (inner) learning rate γ.").min(0.0))
    .param(
        ParamSpec::f64_list("betas", Some(vec![0.9, 0.999]), "Inner AdamW decay rates [β₁, β₂].")
            .range(0.0, 1.0),
    )
    .param(ParamSpec::f64("eps", Some(1e-8), "Inner AdamW denominator term.").min(0.0))
    .param(ParamSpec::f64("weight_decay", Some(0.01), "Inner AdamW decoupled weight decay.").min(0.0))
    .param(ParamSpec::i64("inner_steps", Some(500), "Inner steps H per outer step.").min(1.0))
    .param(ParamSpec::f64("outer_lr", Some(0.7), "Outer learning rate η.").min(0.0))
    .param(ParamSpec::f64("outer_momentum", Some(0.9), "Outer momentum μ.").range(0.0, 1.0))
    .param(ParamSpec::bool("outer_nesterov", Some(true), "Nesterov outer momentum."))
}

/// DiLoCo's hyper-parameters (the inner learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiLoCo {
    /// Inner AdamW decay rates.
    pub betas: (f64, f64),
    /// Inner AdamW ε.
    pub eps: f64,
    /// Inner AdamW weight decay.
    pub weight_decay: f64,
    /// Inner steps per outer step (≥ 1).
    pub inner_steps: u64,
    /// Outer learning rate.
    pub outer_lr: f64,
    /// Outer momentum.
    pub outer_momentum: f64,
    /// Nesterov outer momentum.
    pub outer_nesterov: bool,
}

impl Default for DiLoCo {
    fn default() -> DiLoCo {
        DiLoCo {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
            inner_steps: 500,
            outer_lr: 0.7,
            outer_momentum: 0.9,
            outer_nesterov: true,
        }
    }
}

/// DiLoCo's state over one tensor.
#[derive(Debug)]
pub struct DiLoCoState<'a> {
    /// Inner first moment.
    pub exp_avg: &'a mut [f32],
    /// Inner second moment.
    pub exp_avg_sq: &'a mut [f32],
    /// The round's global parameters.
    pub anchor: &'a mut [f32],
    /// The outer momentum buffer.
    pub outer_momentum: &'a mut [f32],
    /// Outer steps taken.
    pub outer_steps: &'a mut i64,
}

impl DiLoCo {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<DiLoCo, RError> {
        let momentum = unit(p, "outer_momentum")?;
        let h = p.i64("inner_steps")?;
        if h < 1 {
            return Err(RError::param(
                "inner_steps",
                format!("must be >= 1, got {h}"),
            ));
        }
        Ok(DiLoCo {
            betas: betas(p, "betas")?,
            eps: non_negative(p, "eps")?,
            weight_decay: non_negative(p, "weight_decay")?,
            inner_steps: h as u64,
            outer_lr: non_negative(p, "outer_lr")?,
            outer_momentum: momentum,
            outer_nesterov: p.bool("outer_nesterov")?,
        })
    }

    /// One step at inner learning rate `lr`, `step` counting from 1; `initialized` is false
    /// on the first step (the anchor is set from the parameters).
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        state: DiLoCoState<'_>,
        step: u64,
        initialized: bool,
        lr: f64,
    ) {
        let DiLoCoState {
            exp_avg,
            exp_avg_sq,
            anchor,
            outer_momentum,
            outer_steps,
        } = state;
        if !initialized {
            anchor.copy_from_slice(params);
        }
        // torch.optim.AdamW, single-tensor order.
        let (beta1, beta2) = self.betas;
        let (w1, b2, c2) = (scalar(1.0 - beta1), scalar(beta2), scalar(1.0 - beta2));
        let decay = scalar(1.0 - lr * self.weight_decay);
        let neg_step = scalar(-(lr / bias_correction(beta1, step)));
        let bc2_sqrt = scalar(bias_correction(beta2, step).powf(0.5));
        let eps = scalar(self.eps);
        for i in 0..params.len() {
            let g = grads[i];
            if self.weight_decay != 0.0 {
                params[i] *= decay;
            }
            exp_avg[i] = lerp(exp_avg[i], g, w1);
            exp_avg_sq[i] *= b2;
            exp_avg_sq[i] += c2 * g * g;
            let denom = exp_avg_sq[i].sqrt() / bc2_sqrt + eps;
            params[i] += neg_step * exp_avg[i] / denom;
        }
        if !step.is_multiple_of(self.inner_steps) {
            return;
        }
        // torch.optim.SGD(momentum, nesterov) on the outer gradient Δ = anchor − params.
        let (mu, lr_out, first) = (
            scalar(self.outer_momentum),
            scalar(self.outer_lr),
            *outer_steps == 0,
        );
        for i in 0..params.len() {
            let delta = anchor[i] - params[i];
            let b = &mut outer_momentum[i];
            *b = if first { delta } else { mu * *b + delta };
            let u = if self.outer_nesterov {
                delta + mu * *b
            } else {
                *b
            };
            anchor[i] -= lr_out * u;
            params[i] = anchor[i];
        }
        *outer_steps += 1;
    }
}

impl Optimizer for DiLoCo {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        Ok(StateSpec::new()
            .f32_like(EXP_AVG, shape)
            .f32_like(EXP_AVG_SQ, shape)
            .f32_like(ANCHOR, shape)
            .f32_like(OUTER_MOMENTUM, shape)
            .scalar(OUTER_STEPS, ScalarKind::I64))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let opt = DiLoCo {
            betas: (step.momentum_or(self.betas.0), self.betas.1),
            ..*self
        };
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let (number, initialized) = (t.step, t.initialized);
            let mut outer = t.scalar_i64(0)?;
            let (params, grads, [m, v, anchor, b]) = t.split_f32::<4>()?;
            let state = DiLoCoState {
                exp_avg: m,
                exp_avg_sq: v,
                anchor,
                outer_momentum: b,
                outer_steps: &mut outer,
            };
            opt.update(params, grads, state, number, initialized, lr);
            t.scalars[0] = Scalar::I64(outer);
        }
        Ok(())
    }
}
