//! Muon: momentum orthogonalized by Newton–Schulz iterations, for weight matrices.
//!
//! Keller Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (2024);
//! the semantics, coefficients and defaults of pytorch-optimizer 4.x `Muon` (a group with
//! `use_muon = true`). At learning rate `γ` and gradient `g`, with the tensor viewed as a
//! `shape[0] × rest` matrix:
//!
//! ```text
//! w ← w (1 - λ γ)                     (decoupled decay; weight_decouple = false: g ← g + λ w)
//! b ← lerp(b, g, 1 - μ)
//! u ← lerp(g, b, μ)  (nesterov)   or   u ← b
//! O ← NewtonSchulz(u)                 (≈ the orthogonal polar factor U Vᵀ of u = U Σ Vᵀ)
//! w ← w - γ · s · O                   s = √max(1, rows/cols), or 0.2 √max(rows, cols) with
//!                                     use_adjusted_lr (Moonlight)
//! ```
//!
//! Newton–Schulz (quintic): transpose to a wide matrix `X` (rows ≤ cols), `X ← X / max(‖X‖_F,
//! 1e-7)`, then `ns_steps` times `A = X Xᵀ`, `B = b A + c A²`, `X ← a X + B X` with the
//! coefficient triple `(a, b, c)` of the step (preset `original` = (3.4445, -4.7750, 2.0315);
//! a preset with fewer triples than steps repeats its last). It runs in `f32`
//! (pytorch-optimizer defaults to bfloat16 on GPUs).
//!
//! With `use_muon = false` the tensor is updated by the AdamW rule pytorch-optimizer's Muon
//! applies to non-matrix groups (`adamw_betas`, `adamw_eps`, `adamw_wd`, the step's
//! learning rate).

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};

use crate::shared::matrix::{gemm, norm, Op};
use crate::shared::params::{choice, count, lr_spec, maximize_spec};
use mosaic_optim::hyper::{betas, non_negative};
use mosaic_optim::torch::{bias_correction, lerp, scalar};

#[cfg(test)]
mod tests;

/// The momentum buffer (`use_muon = true`).
pub const MOMENTUM_BUFFER: &str = "momentum_buffer";
/// The AdamW first moment (`use_muon = false`).
pub const EXP_AVG: &str = "exp_avg";
/// The AdamW second moment (`use_muon = false`).
pub const EXP_AVG_SQ: &str = "exp_avg_sq";

/// One Newton–Schulz iteration's coefficients (a, b, c).
pub type Coefficients = (f64, f64, f64);

/// Newton–Schulz coefficient presets (pytorch-optimizer's `NS_COEFFICIENTS`).
pub const PRESETS: [(&str, &[Coefficients]); 4] = [
    ("original", &[(3.4445, -4.7750, 2.0315)]),
    (
        "quintic",
        &[
            (4.0848, -6.8946, 2.9270),
            (3.9505, -6.3029, 2.6377),
            (3.7418, -5.5913, 2.3037),
            (2.8769, -3.1427, 1.2046),
            (2.8366, -3.0525, 1.2012),
        ],
    ),
    (
        "polar_express",
        &[
            (8.237312490495555, -23.157747414558198, 16.680568411445915),
            (4.082441999064835, -2.893047735332586, 0.5252849256975648),
            (3.9263479922546582, -2.8547468034765298, 0.5318022422894988),
            (3.2982187133085143, -2.424541981026706, 0.48632008358844075),
            (2.2970369434552573, -1.63662558125903, 0.4002628455953627),
            (1.8763805351440397, -1.2347896577722228, 0.35891887501668385),
            (1.8564423485617974, -1.2132449880935525, 0.3568003487825883),
            (1.8749994008682747, -1.2499988017229169, 0.3749994008546422),
        ],
    ),
    (
        "polar_express_safer",
        &[
            (8.156554524902461, -22.48329292557795, 15.878769915207462),
            (4.0429299351667245, -2.808917465908704, 0.5000178451051299),
            (3.8916678022926563, -2.7724841532176825, 0.5060648178503389),
            (3.285753657755658, -2.3681294933425394, 0.46449024233003117),
            (2.3005307116270983, -1.6111665557258408, 0.3833374427545273),
            (1.8631210546382593, -1.2042160621002727, 0.3421879560523383),
            (1.8382572152247512, -1.1779263289537742, 0.3396513038637379),
            (1.8749999923301852, -1.2499999836060613, 0.374999991275876),
        ],
    ),
];

/// The descriptor of `muon`: its parameters and defaults (pytorch-optimizer's).
pub fn descriptor() -> AlgorithmDescriptor {
    let presets: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
    AlgorithmDescriptor::new(
        Family::Optim,
        "muon",
        "Muon: momentum orthogonalized by Newton-Schulz iterations, for matrices (Jordan et al. 2024).",
    )
    .param(lr_spec(2e-2))
    .param(ParamSpec::f64("momentum", Some(0.95), "Momentum factor μ in [0, 1).").range(0.0, 1.0))
    .param(ParamSpec::f64("weight_decay", Some(0.0), "Weight decay λ.").min(0.0))
    .param(ParamSpec::bool(
        "weight_decouple",
        Some(true),
        "Decoupled weight decay; false adds λw to the gradient.",
    ))
    .param(ParamSpec::bool("nesterov", Some(true), "Nesterov momentum."))
    .param(ParamSpec::i64("ns_steps", Some(5), "Newton-Schulz iterations.").min(1.0))
    .param(ParamSpec::str(
        "ns_coeffs",
        Some("original"),
        &format!("Newton-Schulz coefficient preset: {}.", presets.join(", ")),
    ))
    .param(ParamSpec::bool(
        "use_adjusted_lr",
        Some(false),
        "Scale the update by 0.2·√max(rows, cols) (Moonlight) instead of √max(1, rows/cols).",
    ))
    .param(ParamSpec::bool(
        "use_muon",
        Some(true),
        "Orthogonalized momentum; false updates the tensor with AdamW (for embeddings, biases).",
    ))
    .param(
        ParamSpec::f64_list(
            "adamw_betas",
            Some(vec![0.9, 0.95]),
            "AdamW moments' decay rates (use_muon = false).",
        )
        .range(0.0, 1.0),
    )
    .param(ParamSpec::f64("adamw_wd", Some(0.0), "AdamW weight decay (use_muon = false).").min(0.0))
    .param(ParamSpec::f64("adamw_eps", Some(1e-10), "AdamW denominator term (use_muon = false).").min(0.0))
    .param(maximize_spec())
}

/// Muon's hyper-parameters (the learning rate arrives per step).
#[derive(Clone, Debug, PartialEq)]
pub struct Muon {
    /// Momentum factor μ in `[0, 1)`.
    pub momentum: f64,
    /// Weight decay λ ≥ 0 (orthogonalized branch).
    pub weight_decay: f64,
    /// Decoupled (multiplicative) weight decay.
    pub weight_decouple: bool,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Newton–Schulz coefficient triples, one per iteration (the last repeats).
    pub ns_coeffs: Vec<Coefficients>,
    /// Newton–Schulz iterations (≥ 1).
    pub ns_steps: usize,
    /// Moonlight's shape scaling of the learning rate.
    pub use_adjusted_lr: bool,
    /// Orthogonalized momentum (`false`: AdamW).
    pub use_muon: bool,
    /// AdamW decay rates (`use_muon = false`).
    pub adamw_betas: (f64, f64),
    /// AdamW weight decay (`use_muon = false`).
    pub adamw_wd: f64,
    /// AdamW denominator term (`use_muon = false`).
    pub adamw_eps: f32,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Default for Muon {
    fn default() -> Muon {
        Muon {
            momentum: 0.95,
            weight_decay: 0.0,
            weight_decouple: true,
            nesterov: true,
            ns_coeffs: PRESETS[0].1.to_vec(),
            ns_steps: 5,
            use_adjusted_lr: false,
            use_muon: true,
            adamw_betas: (0.9, 0.95),
            adamw_wd: 0.0,
            adamw_eps: 1e-10,
            maximize: false,
        }
    }
}

/// Orthogonalize the row-major `rows × cols` matrix `g` in place by `coeffs.len()` quintic
/// Newton–Schulz iterations (see the module documentation).
pub fn newton_schulz(g: &mut [f32], rows: usize, cols: usize, coeffs: &[(f32, f32, f32)]) {
    let transpose = rows > cols;
    let (r, c) = if transpose {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let mut x = if transpose {
        crate::shared::matrix::transpose(g, rows, cols)
    } else {
        g.to_vec()
    };
    let scale = norm(&x).max(1e-7);
    for v in &mut x {
        *v /= scale;
    }
    let mut a = vec![0.0f32; r * r];
    let mut b = vec![0.0f32; r * r];
    let mut next = vec![0.0f32; r * c];
    for &(w0, w1, w2) in coeffs {
        gemm(&mut a, 1.0, &x, (r, c, Op::N), &x, (r, c, Op::T), 0.0);
        b.copy_from_slice(&a);
        gemm(&mut b, w2, &a, (r, r, Op::N), &a, (r, r, Op::N), w1);
        next.copy_from_slice(&x);
        gemm(&mut next, 1.0, &b, (r, r, Op::N), &x, (r, c, Op::N), w0);
        std::mem::swap(&mut x, &mut next);
    }
    if transpose {
        g.copy_from_slice(&crate::shared::matrix::transpose(&x, r, c));
    } else {
        g.copy_from_slice(&x);
    }
}

/// The learning-rate factor for a `rows × cols` update.
pub fn lr_scale(rows: usize, cols: usize, use_adjusted_lr: bool) -> f64 {
    let (rows, cols) = (rows as f64, cols as f64);
    if use_adjusted_lr {
        0.2 * rows.max(cols).sqrt()
    } else {
        (rows / cols).max(1.0).sqrt()
    }
}

impl Muon {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<Muon, RError> {
        let momentum = non_negative(p, "momentum")?;
        if momentum >= 1.0 {
            return Err(RError::param(
                "momentum",
                format!("must be < 1, got {momentum}"),
            ));
        }
        let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
        let preset = choice(p, "ns_coeffs", &names)?;
        Ok(Muon {
            momentum,
            weight_decay: non_negative(p, "weight_decay")?,
            weight_decouple: p.bool("weight_decouple")?,
            nesterov: p.bool("nesterov")?,
            ns_coeffs: PRESETS
                .iter()
                .find(|(n, _)| *n == preset)
                .map(|(_, c)| c.to_vec())
                .expect("checked by choice"),
            ns_steps: count(p, "ns_steps", 1)?,
            use_adjusted_lr: p.bool("use_adjusted_lr")?,
            use_muon: p.bool("use_muon")?,
            adamw_betas: betas(p, "adamw_betas")?,
            adamw_wd: non_negative(p, "adamw_wd")?,
            adamw_eps: non_negative(p, "adamw_eps")? as f32,
            maximize: p.bool("maximize")?,
        })
    }

    /// The coefficient triple of each of the `ns_steps` iterations, in `f32`.
    pub fn schedule(&self) -> Vec<(f32, f32, f32)> {
        (0..self.ns_steps)
            .map(|i| {
                let (a, b, c) = self.ns_coeffs[i.min(self.ns_coeffs.len() - 1)];
                (a as f32, b as f32, c as f32)
            })
            .collect()
    }

    fn decay(&self, params: &mut [f32], grads: &mut [f32], weight_decay: f64, lr: f64) {
        if weight_decay == 0.0 {
            return;
        }
        if self.weight_decouple {
            let f = (1.0 - weight_decay * lr) as f32;
            params.iter_mut().for_each(|w| *w *= f);
        } else {
            let l = weight_decay as f32;
            grads
                .iter_mut()
                .zip(params.iter())
                .for_each(|(g, w)| *g += l * w);
        }
    }

    /// One orthogonalized step of a `rows × cols` tensor; `grads` is a scratch copy of the
    /// gradient (it is overwritten).
    pub fn update_muon(
        &self,
        params: &mut [f32],
        grads: &mut [f32],
        (rows, cols): (usize, usize),
        momentum_buffer: &mut [f32],
        lr: f64,
    ) {
        if self.maximize {
            grads.iter_mut().for_each(|g| *g = -*g);
        }
        self.decay(params, grads, self.weight_decay, lr);
        let (keep, mu) = (scalar(1.0 - self.momentum), self.momentum as f32);
        for (b, g) in momentum_buffer.iter_mut().zip(grads.iter_mut()) {
            *b = lerp(*b, *g, keep);
            if self.nesterov {
                *g = lerp(*g, *b, mu);
            } else {
                *g = *b;
            }
        }
        newton_schulz(grads, rows, cols, &self.schedule());
        let alpha = -(lr * lr_scale(rows, cols, self.use_adjusted_lr)) as f32;
        for (w, u) in params.iter_mut().zip(grads.iter()) {
            *w += alpha * u;
        }
    }

    /// One AdamW step (`use_muon = false`); `grads` is a scratch copy of the gradient.
    pub fn update_adamw(
        &self,
        params: &mut [f32],
        grads: &mut [f32],
        (exp_avg, exp_avg_sq): (&mut [f32], &mut [f32]),
        step: u64,
        lr: f64,
    ) {
        if self.maximize {
            grads.iter_mut().for_each(|g| *g = -*g);
        }
        self.decay(params, grads, self.adamw_wd, lr);
        let (beta1, beta2) = self.adamw_betas;
        let (w1, w2) = (scalar(1.0 - beta1), scalar(1.0 - beta2));
        let bias2_sqrt = bias_correction(beta2, step).sqrt() as f32;
        let alpha = (-lr / bias_correction(beta1, step)) as f32;
        for i in 0..params.len() {
            let g = grads[i];
            exp_avg[i] = lerp(exp_avg[i], g, w1);
            exp_avg_sq[i] = lerp(exp_avg_sq[i], g * g, w2);
            let denom = exp_avg_sq[i].sqrt() / bias2_sqrt + self.adamw_eps;
            params[i] += alpha * (exp_avg[i] / denom);
        }
    }
}

/// The matrix view of a tensor: `shape[0]` rows (1 for a scalar) and the rest as columns.
pub fn matrix_view(shape: &[u64], numel: usize) -> (usize, usize) {
    let rows = shape.first().map_or(1, |&r| r as usize).max(1);
    (rows, numel / rows)
}

impl Optimizer for Muon {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        Ok(if self.use_muon {
            StateSpec::new().f32_like(MOMENTUM_BUFFER, shape)
        } else {
            StateSpec::new()
                .f32_like(EXP_AVG, shape)
                .f32_like(EXP_AVG_SQ, shape)
        })
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let lr = step.lr;
        let scheduled = step.momentum.into_option();
        let mut opt = self.clone();
        if let Some(m) = scheduled {
            if m >= 1.0 {
                return Err(RError::param(
                    "momentum",
                    format!("scheduled momentum must be < 1, got {m}"),
                ));
            }
            if self.use_muon {
                opt.momentum = m;
            } else {
                opt.adamw_betas.0 = m;
            }
        }
        for t in step.tensors.iter_mut() {
            let number = t.step;
            let view = matrix_view(t.shape(), t.params.numel());
            if opt.use_muon {
                let (params, grads, [buffer]) = t.split_f32::<1>()?;
                let mut scratch = grads.to_vec();
                opt.update_muon(params, &mut scratch, view, buffer, lr);
            } else {
                let (params, grads, [m, v]) = t.split_f32::<2>()?;
                let mut scratch = grads.to_vec();
                opt.update_adamw(params, &mut scratch, (m, v), number, lr);
            }
        }
        Ok(())
    }
}
