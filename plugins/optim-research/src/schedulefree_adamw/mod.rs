//! Schedule-Free AdamW: no learning-rate schedule, an average of the iterates instead.
//!
//! Defazio et al., "The Road Less Scheduled" (NeurIPS 2024). With the semantics and defaults
//! of pytorch-optimizer 4.x `ScheduleFreeAdamW`. The parameters the host holds (and where it
//! evaluates gradients) are the interpolation `y`; the state keeps the base sequence `z`; the
//! average `x`, the point to evaluate and ship, is `x = lerp(y, z, 1 - 1/β₁)` (what
//! PyTorch's `optimizer.eval()` swaps in). At step `t` with learning rate `γ`:
//!
//! ```text
//! γₜ = γ · min(1, t / warmup_steps)          γ_max ← max(γ_max, γₜ)
//! wₜ = tʳ · γ_maxᵖ  (p = weight_lr_power)     W ← W + wₜ,  c = wₜ / W  (decoupling_c: min(1, c (1-β₁) C))
//! v ← β₂ v + (1 - β₂) g²                      d = √(v / (1 - β₂ᵗ) + 1e-15) + ε   (ams_bound: running max)
//! u = g / d + λ y
//! y ← lerp(y, z, c) + γₜ (β₁ (1 - c) - 1) u
//! z ← z - γₜ u
//! ```
//!
//! On the first step `z` starts at the parameters. `W` and `γ_max` are per-tensor scalars
//! (pytorch-optimizer keeps them per group, which is the same when a group's tensors step
//! together). The host asks for `x` through the optimizer interface's `evaluation_point`.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, Scalar,
    ScalarKind, StateSpec,
};

use crate::shared::params::{betas_spec, count, eps_spec, lr_spec, maximize_spec};
use mosaic_optim::hyper::{betas, finite, non_negative};
use mosaic_optim::torch::{bias_correction, lerp};

#[cfg(test)]
mod tests;

/// The base sequence `z`.
pub const Z: &str = "z";
/// The second moment.
pub const EXP_AVG_SQ: &str = "exp_avg_sq";
/// The running maximum of the bias-corrected second moment (`ams_bound`).
pub const MAX_EXP_AVG_SQ: &str = "max_exp_avg_sq";
/// The scalar sum of averaging weights.
pub const WEIGHT_SUM: &str = "weight_sum";
/// The scalar maximum learning rate seen.
pub const LR_MAX: &str = "lr_max";

/// The descriptor of `schedulefree_adamw`: its parameters and defaults (pytorch-optimizer's).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "schedulefree_adamw",
        "Schedule-Free AdamW: interpolation and iterate averaging instead of a schedule (Defazio et al. 2024).",
    )
    .param(lr_spec(2.5e-3))
    .param(betas_spec([0.9, 0.999], "[β₁, β₂]: interpolation coefficient and second-moment decay."))
    .param(ParamSpec::f64("weight_decay", Some(0.0), "Weight decay λ (added to the normalised gradient).").min(0.0))
    .param(ParamSpec::f64("r", Some(0.0), "Exponent of the polynomial step weighting of the average."))
    .param(ParamSpec::f64(
        "weight_lr_power",
        Some(2.0),
        "Exponent of the maximum learning rate in the averaging weight (0: none).",
    ))
    .param(ParamSpec::i64("warmup_steps", Some(0), "Linear learning-rate warm-up steps.").min(0.0))
    .param(ParamSpec::f64(
        "decoupling_c",
        Some(0.0),
        "Coefficient C of the decoupled averaging weight (0: standard averaging).",
    ).min(0.0))
    .param(ParamSpec::bool("ams_bound", Some(false), "Bound the denominator by the running maximum of v."))
    .param(eps_spec(1e-8))
    .param(maximize_spec())
}

/// Schedule-Free AdamW's hyper-parameters (the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleFreeAdamW {
    /// (β₁, β₂): β₁ in `(0, 1)`, β₂ in `[0, 1)`.
    pub betas: (f64, f64),
    /// Weight decay λ ≥ 0.
    pub weight_decay: f64,
    /// Exponent r of the step weighting.
    pub r: f64,
    /// Exponent of the maximum learning rate in the weighting.
    pub weight_lr_power: f64,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// Decoupled averaging coefficient C ≥ 0.
    pub decoupling_c: f64,
    /// Running-maximum denominator.
    pub ams_bound: bool,
    /// Denominator term ε ≥ 0.
    pub eps: f32,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Default for ScheduleFreeAdamW {
    fn default() -> ScheduleFreeAdamW {
        ScheduleFreeAdamW {
            betas: (0.9, 0.999),
            weight_decay: 0.0,
            r: 0.0,
            weight_lr_power: 2.0,
            warmup_steps: 0,
            decoupling_c: 0.0,
            ams_bound: false,
            eps: 1e-8,
            maximize: false,
        }
    }
}

/// Schedule-Free AdamW's state over one tensor.
#[derive(Debug)]
pub struct ScheduleFreeState<'a> {
    /// The base sequence z.
    pub z: &'a mut [f32],
    /// The second moment.
    pub exp_avg_sq: &'a mut [f32],
    /// The running maximum (`ams_bound`).
    pub max_exp_avg_sq: Option<&'a mut [f32]>,
    /// Sum of averaging weights W.
    pub weight_sum: &'a mut f64,
    /// Maximum learning rate seen (−1 before the first step).
    pub lr_max: &'a mut f64,
}

impl ScheduleFreeAdamW {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<ScheduleFreeAdamW, RError> {
        let betas = betas(p, "betas")?;
        if betas.0 == 0.0 {
            return Err(RError::param("betas", "beta1 must be in (0, 1), got 0"));
        }
        Ok(ScheduleFreeAdamW {
            betas,
            weight_decay: non_negative(p, "weight_decay")?,
            r: finite(p, "r")?,
            weight_lr_power: finite(p, "weight_lr_power")?,
            warmup_steps: count(p, "warmup_steps", 0)? as u64,
            decoupling_c: non_negative(p, "decoupling_c")?,
            ams_bound: p.bool("ams_bound")?,
            eps: non_negative(p, "eps")? as f32,
            maximize: p.bool("maximize")?,
        })
    }

    /// One step of the training point `y` (the parameters) from gradient `grads`, `step`
    /// counting from 1; `initialized` is false on the first step (then `z ← y`).
    pub fn update(
        &self,
        y: &mut [f32],
        grads: &[f32],
        state: ScheduleFreeState<'_>,
        step: u64,
        initialized: bool,
        lr: f64,
    ) {
        let ScheduleFreeState {
            z,
            exp_avg_sq,
            mut max_exp_avg_sq,
            weight_sum,
            lr_max,
        } = state;
        if !initialized {
            z.copy_from_slice(y);
            *weight_sum = 0.0;
            *lr_max = -1.0;
        }
        let (beta1, beta2) = self.betas;
        let schedule = if step < self.warmup_steps {
            step as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        let bias2 = bias_correction(beta2, step) as f32;
        let lr_t = lr * schedule;
        *lr_max = lr_t.max(*lr_max);
        let weight = (step as f64).powf(self.r) * lr_max.powf(self.weight_lr_power);
        *weight_sum += weight;
        let mut ckp = if *weight_sum != 0.0 {
            weight / *weight_sum
        } else {
            0.0
        };
        if self.decoupling_c > 0.0 {
            ckp = (ckp * (1.0 - beta1) * self.decoupling_c).min(1.0);
        }
        let (b2, w2) = (beta2 as f32, (1.0 - beta2) as f32);
        let sign = if self.maximize { -1.0 } else { 1.0 };
        let l2 = self.weight_decay as f32;
        let (ckp32, y_alpha, z_alpha) = (
            ckp as f32,
            (lr_t * (beta1 * (1.0 - ckp) - 1.0)) as f32,
            lr_t as f32,
        );
        for i in 0..y.len() {
            let g = sign * grads[i];
            exp_avg_sq[i] = exp_avg_sq[i] * b2 + w2 * g * g;
            let vh = exp_avg_sq[i] / bias2;
            let bound = match max_exp_avg_sq.as_deref_mut() {
                Some(m) => {
                    m[i] = m[i].max(vh);
                    m[i]
                }
                None => vh,
            };
            let mut u = g / ((bound + 1e-15).sqrt() + self.eps);
            if l2 > 0.0 {
                u += l2 * y[i];
            }
            y[i] = lerp(y[i], z[i], ckp32) + y_alpha * u;
            z[i] -= z_alpha * u;
        }
    }

    /// The evaluation point `x = lerp(y, z, 1 - 1/β₁)`, written over `y`.
    pub fn eval_point(&self, y: &mut [f32], z: &[f32]) {
        let w = (1.0 - 1.0 / self.betas.0) as f32;
        for (yi, &zi) in y.iter_mut().zip(z) {
            *yi = lerp(*yi, zi, w);
        }
    }
}

impl Optimizer for ScheduleFreeAdamW {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let spec = StateSpec::new()
            .f32_like(Z, shape)
            .f32_like(EXP_AVG_SQ, shape);
        let spec = if self.ams_bound {
            spec.f32_like(MAX_EXP_AVG_SQ, shape)
        } else {
            spec
        };
        Ok(spec
            .scalar(WEIGHT_SUM, ScalarKind::F64)
            .scalar(LR_MAX, ScalarKind::F64))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let beta1 = step.momentum_or(self.betas.0);
        if !(beta1 > 0.0 && beta1 < 1.0) {
            return Err(RError::param(
                "momentum",
                format!("scheduled beta1 must be in (0, 1), got {beta1}"),
            ));
        }
        let opt = ScheduleFreeAdamW {
            betas: (beta1, self.betas.1),
            ..*self
        };
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let (number, initialized) = (t.step, t.initialized);
            let mut scalars = [t.scalar_f64(0)?, t.scalar_f64(1)?];
            let [weight_sum, lr_max] = &mut scalars;
            if opt.ams_bound {
                let (y, g, [z, v, m]) = t.split_f32::<3>()?;
                let state = ScheduleFreeState {
                    z,
                    exp_avg_sq: v,
                    max_exp_avg_sq: Some(m),
                    weight_sum,
                    lr_max,
                };
                opt.update(y, g, state, number, initialized, lr);
            } else {
                let (y, g, [z, v]) = t.split_f32::<2>()?;
                let state = ScheduleFreeState {
                    z,
                    exp_avg_sq: v,
                    max_exp_avg_sq: None,
                    weight_sum,
                    lr_max,
                };
                opt.update(y, g, state, number, initialized, lr);
            }
            t.scalars[0] = Scalar::F64(scalars[0]);
            t.scalars[1] = Scalar::F64(scalars[1]);
        }
        Ok(())
    }

    fn evaluation_point(&self, step: &mut OptimStep<'_>) -> Result<bool, RError> {
        for t in step.tensors.iter_mut() {
            if !t.initialized {
                // Before the first step z is not set: the parameters are the point.
                continue;
            }
            let parts = t.parts()?;
            let z = parts.buffers[0].f32_mut()?;
            self.eval_point(parts.params, z);
        }
        Ok(true)
    }
}
