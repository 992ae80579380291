//! Adam and AdamW, as `torch.optim.Adam` and `torch.optim.AdamW` (PyTorch 2.x) define them.
//!
//! Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015); Loshchilov &
//! Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019); AMSGrad: Reddi et al., "On
//! the Convergence of Adam and Beyond" (ICLR 2018).
//!
//! At step `t` (the tensor's own counter, from 1), learning rate `γ`, for each element:
//!
//! ```text
//! g ← −g                                     if maximize
//! θ ← θ·(1 − γλ)                             AdamW (decoupled), λ = weight_decay
//! g ← g + λθ                                 Adam with λ ≠ 0 (L2)
//! m ← lerp(m, g, 1 − β₁)
//! v ← v·β₂ + (1 − β₂)·g·g
//! v̂ ← max(v̂, v)                              if amsgrad (v̂ = max_exp_avg_sq)
//! θ ← θ − (γ / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! in PyTorch's order of `float32` operations, with the bias corrections and the step size
//! computed in `f64` as PyTorch computes them in Python. A scheduled momentum replaces `β₁`.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};
use mosaic_optim::hyper::{betas, non_negative};
use mosaic_optim::torch::{bias_correction, lerp, scalar};
use mosaic_optim::views::AdamState;

#[cfg(test)]
mod tests;

fn params(d: AlgorithmDescriptor, weight_decay: f64) -> AlgorithmDescriptor {
    d.tag("elementwise")
        .param(ParamSpec::f64("lr", Some(1e-3), "Default learning rate γ.").min(0.0))
        .param(ParamSpec::f64_list(
            "betas",
            Some(vec![0.9, 0.999]),
            "Decay rates (β₁, β₂) of the first and second moments.",
        ))
        .param(ParamSpec::f64("eps", Some(1e-8), "Term ε added to the denominator.").min(0.0))
        .param(ParamSpec::f64("weight_decay", Some(weight_decay), "Weight decay λ.").min(0.0))
        .param(ParamSpec::bool(
            "amsgrad",
            Some(false),
            "Use the running maximum of the second moment (AMSGrad).",
        ))
        .param(ParamSpec::bool(
            "maximize",
            Some(false),
            "Maximise the objective instead of minimising it.",
        ))
}

/// The descriptor of `adam` (torch.optim.Adam's parameters and defaults).
pub fn descriptor() -> AlgorithmDescriptor {
    params(
        AlgorithmDescriptor::new(
            Family::Optim,
            "adam",
            "Adam with optional AMSGrad and L2 weight decay (torch.optim.Adam).",
        ),
        0.0,
    )
}

/// The descriptor of `adamw` (torch.optim.AdamW's parameters and defaults).
pub fn adamw_descriptor() -> AlgorithmDescriptor {
    params(
        AlgorithmDescriptor::new(
            Family::Optim,
            "adamw",
            "Adam with decoupled weight decay (torch.optim.AdamW).",
        ),
        1e-2,
    )
}

/// Adam's hyperparameters (fixed at construction; the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// λ.
    pub weight_decay: f64,
    /// Decoupled weight decay (AdamW) instead of L2.
    pub decoupled: bool,
    /// AMSGrad.
    pub amsgrad: bool,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Adam {
    /// Adam with PyTorch's defaults (`decoupled` false) or AdamW's (`decoupled` true).
    pub fn new(decoupled: bool) -> Adam {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: if decoupled { 1e-2 } else { 0.0 },
            decoupled,
            amsgrad: false,
            maximize: false,
        }
    }

    fn from(p: &ParamMap, decoupled: bool) -> Result<Adam, RError> {
        let (beta1, beta2) = betas(p, "betas")?;
        Ok(Adam {
            beta1,
            beta2,
            eps: non_negative(p, "eps")?,
            weight_decay: non_negative(p, "weight_decay")?,
            decoupled,
            amsgrad: p.bool("amsgrad")?,
            maximize: p.bool("maximize")?,
        })
    }

    /// `adam` from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<Adam, RError> {
        Adam::from(p, false)
    }

    /// `adamw` from resolved parameters.
    pub fn adamw_from_params(p: &ParamMap) -> Result<Adam, RError> {
        Adam::from(p, true)
    }

    /// One update over plain slices at step `t` (from 1) with first-moment decay `beta1`.
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        state: AdamState<&mut [f32]>,
        t: u64,
        lr: f64,
        beta1: f64,
    ) {
        let AdamState {
            exp_avg,
            exp_avg_sq,
            max_exp_avg_sq,
        } = state;
        let w1 = scalar(1.0 - beta1);
        let b2 = scalar(self.beta2);
        let c2 = scalar(1.0 - self.beta2);
        let decay = scalar(1.0 - lr * self.weight_decay);
        let l2 = scalar(self.weight_decay);
        let step_size = lr / bias_correction(beta1, t);
        let neg_step = scalar(-step_size);
        let bc2_sqrt = scalar(bias_correction(self.beta2, t).powf(0.5));
        let eps = scalar(self.eps);
        let (wd, decoupled, maximize) = (self.weight_decay != 0.0, self.decoupled, self.maximize);
        let n = params.len();
        // Loop-invariant branches are hoisted by hand so the common case vectorizes.
        let kernel = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32, vmax: Option<&mut f32>| {
            let mut g = if maximize { -g } else { g };
            if wd {
                if decoupled {
                    *p *= decay;
                } else {
                    g += l2 * *p;
                }
            }
            *m = lerp(*m, g, w1);
            *v *= b2;
            *v += c2 * g * g;
            let second = match vmax {
                Some(vmax) => {
                    // torch.maximum propagates NaN.
                    if *v > *vmax || v.is_nan() {
                        *vmax = *v;
                    }
                    *vmax
                }
                None => *v,
            };
            let denom = second.sqrt() / bc2_sqrt + eps;
            *p += neg_step * *m / denom;
        };
        match max_exp_avg_sq {
            Some(vmax) => {
                for i in 0..n {
                    kernel(
                        &mut params[i],
                        grads[i],
                        &mut exp_avg[i],
                        &mut exp_avg_sq[i],
                        Some(&mut vmax[i]),
                    );
                }
            }
            None => {
                let it = params
                    .iter_mut()
                    .zip(grads)
                    .zip(exp_avg.iter_mut().zip(exp_avg_sq.iter_mut()));
                for ((p, &g), (m, v)) in it {
                    kernel(p, g, m, v, None);
                }
            }
        }
    }
}

impl Optimizer for Adam {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let spec = StateSpec::new()
            .f32_like("exp_avg", shape)
            .f32_like("exp_avg_sq", shape);
        Ok(if self.amsgrad {
            spec.f32_like("max_exp_avg_sq", shape)
        } else {
            spec
        })
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let lr = step.lr;
        let beta1 = step.momentum_or(self.beta1);
        if beta1 >= 1.0 {
            return Err(RError::param(
                "momentum",
                format!("a scheduled beta1 must be < 1, got {beta1}"),
            ));
        }
        for t in step.tensors.iter_mut() {
            let k = t.step;
            let parts = t.parts()?;
            let grads = parts.grads.expect("checked by the adapter");
            let state = AdamState::bind(parts.buffers)?;
            self.update(parts.params, grads, state, k, lr, beta1);
        }
        Ok(())
    }
}
