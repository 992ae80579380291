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
use mosaic_optim::torch::{bias_correction, scalar};
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
        let c = Coefficients {
            w1: scalar(1.0 - beta1),
            b2: scalar(self.beta2),
            c2: scalar(1.0 - self.beta2),
            decay: scalar(1.0 - lr * self.weight_decay),
            l2: scalar(self.weight_decay),
            neg_step: scalar(-(lr / bias_correction(beta1, t))),
            bc2_sqrt: scalar(bias_correction(self.beta2, t).powf(0.5)),
            eps: scalar(self.eps),
        };
        let AdamState {
            exp_avg: m,
            exp_avg_sq: v,
            max_exp_avg_sq: vmax,
        } = state;
        let wd = self.weight_decay != 0.0;
        let flags = u8::from(self.maximize) << 3
            | u8::from(wd && !self.decoupled) << 2
            | u8::from(wd && self.decoupled) << 1
            | u8::from(c.w1.abs() < 0.5);
        // One branch-free loop per combination of options, so that each vectorizes.
        macro_rules! dispatch {
            ($($f:literal),*) => {
                match flags {
                    $(
                        $f => {
                            kernel::<{ $f & 8 != 0 }, { $f & 4 != 0 }, { $f & 2 != 0 }, { $f & 1 != 0 }>(
                                &c, params, grads, m, v, vmax,
                            )
                        }
                    )*
                    _ => unreachable!("every combination is listed"),
                }
            };
        }
        dispatch!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    }
}

/// The `float32` coefficients of one step, rounded from PyTorch's Python-float values.
struct Coefficients {
    w1: f32,
    b2: f32,
    c2: f32,
    decay: f32,
    l2: f32,
    neg_step: f32,
    bc2_sqrt: f32,
    eps: f32,
}

/// The update of one element, in PyTorch's order of operations (the const parameters are
/// the options: maximize, L2 decay, decoupled decay, `|1 − β₁| < 0.5` for `lerp`'s branch).
#[inline(always)]
fn element<const MAX: bool, const L2: bool, const DEC: bool, const SMALL: bool>(
    c: &Coefficients,
    p: &mut f32,
    g: f32,
    m: &mut f32,
    v: &mut f32,
    vmax: Option<&mut f32>,
) {
    let mut g = if MAX { -g } else { g };
    if DEC {
        *p *= c.decay;
    }
    if L2 {
        g += c.l2 * *p;
    }
    *m = if SMALL {
        *m + c.w1 * (g - *m)
    } else {
        g - (g - *m) * (1.0 - c.w1)
    };
    *v *= c.b2;
    *v += c.c2 * g * g;
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
    let denom = second.sqrt() / c.bc2_sqrt + c.eps;
    *p += c.neg_step * *m / denom;
}

fn kernel<const MAX: bool, const L2: bool, const DEC: bool, const SMALL: bool>(
    c: &Coefficients,
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    vmax: Option<&mut [f32]>,
) {
    match vmax {
        Some(vmax) => {
            let it = params
                .iter_mut()
                .zip(grads)
                .zip(m.iter_mut().zip(v.iter_mut()).zip(vmax.iter_mut()));
            for ((p, &g), ((m, v), x)) in it {
                element::<MAX, L2, DEC, SMALL>(c, p, g, m, v, Some(x));
            }
        }
        None => {
            let it = params
                .iter_mut()
                .zip(grads)
                .zip(m.iter_mut().zip(v.iter_mut()));
            for ((p, &g), (m, v)) in it {
                element::<MAX, L2, DEC, SMALL>(c, p, g, m, v, None);
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
