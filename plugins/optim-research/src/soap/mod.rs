//! SOAP: Adam in the eigenbasis of Shampoo's preconditioner.
//!
//! Vyas et al., "SOAP: Improving and Stabilizing Shampoo using Adam" (2024). With the
//! semantics and defaults of pytorch-optimizer 4.x `SOAP` (`merge_dims = false`). For a tensor
//! `G` of shape `(d₀, …, d_{k-1})`, each dimension `i` with `dᵢ ≤ max_precondition_dim` keeps
//! a statistic `Lᵢ` (`dᵢ × dᵢ`, the mode-`i` Gram matrix `G₍ᵢ₎ G₍ᵢ₎ᵀ` averaged with
//! `shampoo_beta`) and a basis `Qᵢ`; other dimensions (and 1-D tensors unless
//! `precondition_1d`) use the identity. `P(X) = X ×₀ Q₀ᵀ ⋯` rotates into the basis and `Pᵀ`
//! back. At step `t`:
//!
//! ```text
//! t = 1:  Lᵢ ← (1 - β_s) G₍ᵢ₎G₍ᵢ₎ᵀ,  Qᵢ ← eigenvectors of Lᵢ (descending);  no update
//! t > 1 (s = t - 1):
//!     m ← lerp(m, G, 1 - β₁)                 v ← lerp(v, P(G)², 1 - β₂)
//!     N = Pᵀ( P(m) / (√v + ε) )              (normalize_gradient: N / (rms(N) + ε))
//!     w ← w - γ √(1 - β₂ˢ) / (1 - β₁ˢ) · N   (correct_bias; else γ)
//!     w ← w (1 - γ λ)
//!     Lᵢ ← lerp(Lᵢ, G₍ᵢ₎G₍ᵢ₎ᵀ, 1 - β_s)
//!     every precondition_frequency steps (s ≡ 0): one power iteration and QR per dimension,
//!         Qᵢ ← qr(Lᵢ Qᵢ sorted by the estimated eigenvalues diag(QᵢᵀLᵢQᵢ), descending).Q,
//!         with v's entries permuted along dimension i the same way
//! ```
//!
//! The moment `m` lives in the original coordinates and `v` in the rotated ones, so a change
//! of basis needs no rotation of `m`. With identity bases SOAP is Adam (with its first step
//! spent on the statistics): the tests check exactly that. Eigenvectors and QR come from
//! `faer`; their column signs are arbitrary, and the update does not depend on them.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};

use crate::shared::matrix::{eigenvectors_descending, gemm, qr_q, transpose, Op};
use crate::shared::params::{betas_spec, count, eps_spec, lr_spec, maximize_spec};
use mosaic_optim::hyper::{betas, finite, non_negative};
use mosaic_optim::torch::{bias_correction, lerp, scalar};

#[cfg(test)]
mod tests;

/// The first moment (original coordinates).
pub const EXP_AVG: &str = "exp_avg";
/// The second moment (rotated coordinates).
pub const EXP_AVG_SQ: &str = "exp_avg_sq";

/// The descriptor of `soap`: its parameters and defaults (pytorch-optimizer's).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "soap",
        "SOAP: Adam in the eigenbasis of Shampoo's preconditioner (Vyas et al. 2024).",
    )
    .param(lr_spec(3e-3))
    .param(betas_spec(
        [0.95, 0.95],
        "Decay rates [β₁, β₂] of the moments.",
    ))
    .param(ParamSpec::f64(
        "shampoo_beta",
        Some(-1.0),
        "Decay β_s of the preconditioner statistics; negative: β₂ (pytorch-optimizer's None).",
    ))
    .param(ParamSpec::f64("weight_decay", Some(1e-2), "Decoupled weight decay λ.").min(0.0))
    .param(
        ParamSpec::i64(
            "precondition_frequency",
            Some(10),
            "Steps between refreshes of the eigenbasis.",
        )
        .min(1.0),
    )
    .param(
        ParamSpec::i64(
            "max_precondition_dim",
            Some(10000),
            "Largest dimension given a preconditioner (larger ones use the identity).",
        )
        .min(1.0),
    )
    .param(ParamSpec::bool(
        "precondition_1d",
        Some(false),
        "Precondition 1-D tensors too.",
    ))
    .param(ParamSpec::bool(
        "correct_bias",
        Some(true),
        "Adam's bias correction.",
    ))
    .param(ParamSpec::bool(
        "normalize_gradient",
        Some(false),
        "Divide the update by its root mean square.",
    ))
    .param(eps_spec(1e-8))
    .param(maximize_spec())
}

/// SOAP's hyper-parameters (the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Soap {
    /// Decay rates (β₁, β₂).
    pub betas: (f64, f64),
    /// Decay of the preconditioner statistics (`None`: β₂).
    pub shampoo_beta: Option<f64>,
    /// Decoupled weight decay λ ≥ 0.
    pub weight_decay: f64,
    /// Steps between basis refreshes (≥ 1).
    pub precondition_frequency: u64,
    /// Largest preconditioned dimension.
    pub max_precondition_dim: usize,
    /// Precondition 1-D tensors.
    pub precondition_1d: bool,
    /// Adam's bias correction.
    pub correct_bias: bool,
    /// Normalise the update by its RMS.
    pub normalize_gradient: bool,
    /// Denominator term ε.
    pub eps: f32,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Default for Soap {
    fn default() -> Soap {
        Soap {
            betas: (0.95, 0.95),
            shampoo_beta: None,
            weight_decay: 1e-2,
            precondition_frequency: 10,
            max_precondition_dim: 10000,
            precondition_1d: false,
            correct_bias: true,
            normalize_gradient: false,
            eps: 1e-8,
            maximize: false,
        }
    }
}

/// The names of the statistic and basis of dimension `i`.
fn names(i: usize) -> (String, String) {
    (format!("preconditioner_{i}"), format!("basis_{i}"))
}

/// The row-major `(A, d_i, B)` decomposition of `dims` around dimension `i`.
fn around(dims: &[usize], i: usize) -> (usize, usize, usize) {
    let a = dims[..i].iter().product();
    let b = dims[i + 1..].iter().product();
    (a, dims[i], b)
}

/// `out = Σ_a X[a] X[a]ᵀ` for `X` viewed as `(A, d, B)`: the mode-`i` Gram matrix.
fn gram(x: &[f32], (a, d, b): (usize, usize, usize), out: &mut [f32]) {
    out.iter_mut().for_each(|v| *v = 0.0);
    for k in 0..a {
        let slab = &x[k * d * b..(k + 1) * d * b];
        gemm(out, 1.0, slab, (d, b, Op::N), slab, (d, b, Op::T), 1.0);
    }
}

/// Rotate `x` (shape `dims`) into the bases (`forward`: `X ×ᵢ Qᵢᵀ` for every dimension, i.e.
/// `Q₀ᵀ X Q₁` for a matrix) or back (`Q₀ X Q₁ᵀ`). A `None` basis is the identity.
pub fn project(x: &[f32], dims: &[usize], bases: &[Option<&[f32]>], forward: bool) -> Vec<f32> {
    let mut cur = x.to_vec();
    let mut next = vec![0.0f32; x.len()];
    let mut shape: Vec<usize> = dims.to_vec();
    for basis in bases {
        let d0 = shape[0];
        let rest = cur.len() / d0.max(1);
        match basis {
            // tensordot(X, Q, [[0], [0]]) = X₍₀₎ᵀ Q (forward) or X₍₀₎ᵀ Qᵀ (backward): the
            // contracted dimension moves to the end.
            Some(q) => {
                let op = if forward { Op::N } else { Op::T };
                gemm(
                    &mut next,
                    1.0,
                    &cur,
                    (d0, rest, Op::T),
                    q,
                    (d0, d0, op),
                    0.0,
                );
            }
            None => next.copy_from_slice(&transpose(&cur, d0, rest)),
        }
        std::mem::swap(&mut cur, &mut next);
        shape.rotate_left(1);
    }
    cur
}

impl Soap {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<Soap, RError> {
        let shampoo = finite(p, "shampoo_beta")?;
        if shampoo >= 1.0 {
            return Err(RError::param(
                "shampoo_beta",
                format!("must be < 1, got {shampoo}"),
            ));
        }
        Ok(Soap {
            betas: betas(p, "betas")?,
            shampoo_beta: (shampoo >= 0.0).then_some(shampoo),
            weight_decay: non_negative(p, "weight_decay")?,
            precondition_frequency: count(p, "precondition_frequency", 1)? as u64,
            max_precondition_dim: count(p, "max_precondition_dim", 1)?,
            precondition_1d: p.bool("precondition_1d")?,
            correct_bias: p.bool("correct_bias")?,
            normalize_gradient: p.bool("normalize_gradient")?,
            eps: non_negative(p, "eps")? as f32,
            maximize: p.bool("maximize")?,
        })
    }

    /// Which dimensions of `dims` get a preconditioner.
    pub fn preconditioned(&self, dims: &[usize]) -> Vec<bool> {
        if dims.len() == 1 {
            return vec![self.precondition_1d && dims[0] <= self.max_precondition_dim];
        }
        dims.iter()
            .map(|&d| d <= self.max_precondition_dim)
            .collect()
    }

    fn shampoo_beta(&self) -> f64 {
        self.shampoo_beta.unwrap_or(self.betas.1)
    }

    /// One step of a tensor of shape `dims`. `stats[i]` / `bases[i]` are dimension `i`'s
    /// statistic and basis (`None` where it is not preconditioned); `step` counts from 1 and
    /// `initialized` is false on the first step (which only builds the statistics).
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        dims: &[usize],
        (exp_avg, exp_avg_sq): (&mut [f32], &mut [f32]),
        stats: &mut [Option<&mut [f32]>],
        bases: &mut [Option<&mut [f32]>],
        step: u64,
        initialized: bool,
        lr: f64,
    ) -> Result<(), RError> {
        let sb = scalar(1.0 - self.shampoo_beta());
        if !initialized {
            // Decompose first, write after: an error leaves the state untouched.
            let mut fresh = Vec::with_capacity(stats.len());
            for (i, st) in stats.iter().enumerate() {
                fresh.push(match st {
                    Some(st) => {
                        let mut outer = st.to_vec();
                        outer.iter_mut().for_each(|x| *x = 0.0);
                        self.accumulate_one(grads, dims, i, &mut outer, sb);
                        let d = if dims.len() == 1 { dims[0] } else { dims[i] };
                        let q = eigenvectors_descending(&outer, d)
                            .or_else(|_| eigh_f64(&outer, d))
                            .map_err(RError::other)?;
                        Some((outer, q))
                    }
                    None => None,
                });
            }
            for ((st, q), f) in stats.iter_mut().zip(bases.iter_mut()).zip(fresh) {
                if let (Some(st), Some(q), Some((l, v))) = (st, q, f) {
                    st.copy_from_slice(&l);
                    q.copy_from_slice(&v);
                }
            }
            return Ok(());
        }
        let (beta1, beta2) = self.betas;
        let s = step - 1;
        let mut step_size = lr;
        if self.correct_bias {
            step_size *= bias_correction(beta2, s).sqrt() / bias_correction(beta1, s);
        }
        let g: Vec<f32> = if self.maximize {
            grads.iter().map(|x| -x).collect()
        } else {
            grads.to_vec()
        };
        let views: Vec<Option<&[f32]>> = bases.iter().map(|b| b.as_deref()).collect();
        let gp = project(&g, dims, &views, true);
        let (w1, w2) = (scalar(1.0 - beta1), scalar(1.0 - beta2));
        for i in 0..g.len() {
            exp_avg[i] = lerp(exp_avg[i], g[i], w1);
            exp_avg_sq[i] = lerp(exp_avg_sq[i], gp[i] * gp[i], w2);
        }
        let mut mp = project(exp_avg, dims, &views, true);
        for (x, v) in mp.iter_mut().zip(exp_avg_sq.iter()) {
            *x /= v.sqrt() + self.eps;
        }
        let mut norm_grad = project(&mp, dims, &views, false);
        if self.normalize_gradient {
            let mean_sq = norm_grad.iter().map(|x| x * x).sum::<f32>() / norm_grad.len() as f32;
            let denom = mean_sq.sqrt() + self.eps;
            norm_grad.iter_mut().for_each(|x| *x /= denom);
        }
        let alpha = -step_size as f32;
        let decay = (1.0 - lr * self.weight_decay) as f32;
        for (w, u) in params.iter_mut().zip(&norm_grad) {
            *w += alpha * u;
            if self.weight_decay != 0.0 {
                *w *= decay;
            }
        }
        self.accumulate(&g, dims, stats, sb);
        if s > 0 && s.is_multiple_of(self.precondition_frequency) {
            self.refresh(dims, exp_avg_sq, stats, bases);
        }
        Ok(())
    }

    /// `Lᵢ ← lerp(Lᵢ, G₍ᵢ₎G₍ᵢ₎ᵀ, 1 - β_s)` for every preconditioned dimension.
    fn accumulate(&self, g: &[f32], dims: &[usize], stats: &mut [Option<&mut [f32]>], w: f32) {
        for (i, s) in stats.iter_mut().enumerate() {
            if let Some(s) = s {
                self.accumulate_one(g, dims, i, s, w);
            }
        }
    }

    /// `Lᵢ ← lerp(Lᵢ, G₍ᵢ₎G₍ᵢ₎ᵀ, 1 - β_s)` for dimension `i`.
    fn accumulate_one(&self, g: &[f32], dims: &[usize], i: usize, s: &mut [f32], w: f32) {
        let shape = if dims.len() == 1 {
            (1, dims[0], 1)
        } else {
            around(dims, i)
        };
        let mut outer = vec![0.0f32; s.len()];
        gram(g, shape, &mut outer);
        for (x, o) in s.iter_mut().zip(&outer) {
            *x = lerp(*x, *o, w);
        }
    }

    /// One power iteration and QR per preconditioned dimension, `v` permuted to match.
    fn refresh(
        &self,
        dims: &[usize],
        exp_avg_sq: &mut [f32],
        stats: &[Option<&mut [f32]>],
        bases: &mut [Option<&mut [f32]>],
    ) {
        for (i, (s, q)) in stats.iter().zip(bases.iter_mut()).enumerate() {
            let (Some(s), Some(q)) = (s, q) else { continue };
            let d = if dims.len() == 1 { dims[0] } else { dims[i] };
            let mut prod = vec![0.0f32; d * d];
            gemm(&mut prod, 1.0, s, (d, d, Op::N), q, (d, d, Op::N), 0.0);
            let est: Vec<f32> = (0..d)
                .map(|j| (0..d).map(|r| q[r * d + j] * prod[r * d + j]).sum())
                .collect();
            let mut order: Vec<usize> = (0..d).collect();
            order.sort_by(|&a, &b| est[b].total_cmp(&est[a]));
            let (a, _, b) = if dims.len() == 1 {
                (1, d, 1)
            } else {
                around(dims, i)
            };
            let old = exp_avg_sq.to_vec();
            for k in 0..a {
                for (j, &src) in order.iter().enumerate() {
                    let to = (k * d + j) * b;
                    let from = (k * d + src) * b;
                    exp_avg_sq[to..to + b].copy_from_slice(&old[from..from + b]);
                }
            }
            let mut power = vec![0.0f32; d * d];
            for r in 0..d {
                for (j, &src) in order.iter().enumerate() {
                    power[r * d + j] = prod[r * d + src];
                }
            }
            q.copy_from_slice(&qr_q(&power, d));
        }
    }
}

/// The eigenvectors in `f64` when the `f32` decomposition fails (as pytorch-optimizer retries).
fn eigh_f64(a: &[f32], n: usize) -> Result<Vec<f32>, String> {
    use faer::{MatRef, Side};
    let wide: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
    let evd = MatRef::from_row_major_slice(&wide, n, n)
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| format!("symmetric eigendecomposition failed in f32 and f64: {e:?}"))?;
    let u = evd.U();
    Ok((0..n * n)
        .map(|k| u[(k / n, n - 1 - k % n)] as f32)
        .collect())
}

fn dims_of(shape: &[u64]) -> Vec<usize> {
    if shape.is_empty() {
        vec![1]
    } else {
        shape.iter().map(|&d| d as usize).collect()
    }
}

impl Optimizer for Soap {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let dims = dims_of(shape);
        let mut spec = StateSpec::new()
            .f32_like(EXP_AVG, shape)
            .f32_like(EXP_AVG_SQ, shape);
        for (i, on) in self.preconditioned(&dims).into_iter().enumerate() {
            if on {
                let d = dims[i] as u64;
                let (s, q) = names(i);
                spec = spec.f32_like(&s, &[d, d]).f32_like(&q, &[d, d]);
            }
        }
        Ok(spec)
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let opt = Soap {
            betas: (step.momentum_or(self.betas.0), self.betas.1),
            ..*self
        };
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let dims = dims_of(t.shape());
            let (number, initialized) = (t.step, t.initialized);
            let on = opt.preconditioned(&dims);
            let grads = t.grads_f32()?;
            for b in t.buffers.iter_mut() {
                b.f32_mut()?;
            }
            let mut it = t
                .buffers
                .iter_mut()
                .map(|b| b.data.as_f32_mut().expect("checked above"));
            let exp_avg = it.next().expect("spec has exp_avg");
            let exp_avg_sq = it.next().expect("spec has exp_avg_sq");
            let mut stats = Vec::with_capacity(on.len());
            let mut bases = Vec::with_capacity(on.len());
            for &p in &on {
                if p {
                    stats.push(it.next());
                    bases.push(it.next());
                } else {
                    stats.push(None);
                    bases.push(None);
                }
            }
            let params = t.params.as_f32_mut().expect("checked by the adapter");
            opt.update(
                params,
                grads,
                &dims,
                (exp_avg, exp_avg_sq),
                &mut stats,
                &mut bases,
                number,
                initialized,
                lr,
            )?;
        }
        Ok(())
    }
}
