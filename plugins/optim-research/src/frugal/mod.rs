//! FRUGAL: a gradient split between a stateful optimizer (Adam) on a subspace and a
//! state-free one (signSGD or SGD) on the rest.
//!
//! Zmushko et al., "FRUGAL: Memory-Efficient Optimization by Reducing State Overhead for
//! Scalable Training" (2024), with the parameter names and defaults of the authors' code
//! (`frugal/proj_optimizer_templates.py`, AdamW as the stateful part). Every
//! `update_gap` steps (and at the first) the projector picks a subspace from the current
//! gradient (see [`projector`]); with `reset_statistics` the moments restart there. Each step,
//! with `γ_a = γ · proj_params_lr_scale` and `γ_f = γ_a · inactive_lr_scale`:
//!
//! ```text
//! w ← w (1 - γ λ)                                  (decoupled decay, every parameter)
//! R = P(G)        (the subspace coordinates)       m ← β₁ m + (1-β₁) R,  v ← β₂ v + (1-β₂) R²
//! w ← w - γ_a/(1-β₁ˢ) · Pᵀ( m / (√v/√(1-β₂ˢ) + ε) )          (s: steps since the reset)
//! w ← w - γ_f · sign(G - PᵀP(G))                    (inactive_update_rule = sign_sgd;
//!                                                   sgd: the residual itself; no: nothing)
//! ```
//!
//! State = the subspace (block or column indices, or the `rows × r` basis) and the two
//! moments over it only. With the full subspace FRUGAL is Adam; with the empty one, signSGD
//! (the tests check both). Random blocks are drawn from the step's seed, per tensor.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, RngSeed,
    Scalar, ScalarKind, StateSpec,
};
use mosaic_tensor::DType;

use crate::shared::matrix::{gemm, Op};
use crate::shared::params::{betas_spec, choice, count, lr_spec};
use crate::shared::torch::sign;
use mosaic_optim::hyper::{betas, non_negative};

pub mod projector;
#[cfg(test)]
mod tests;

pub use projector::{Projector, Subspace};

/// Indices of the selected blocks or columns (`I64`, ascending).
pub const ACTIVE: &str = "active";
/// The `rows × r` basis of the SVD projector.
pub const BASIS: &str = "basis";
/// The first moment over the subspace.
pub const EXP_AVG: &str = "exp_avg";
/// The second moment over the subspace.
pub const EXP_AVG_SQ: &str = "exp_avg_sq";
/// Steps since the subspace's statistics were reset.
pub const SUBSPACE_STEP: &str = "subspace_step";

/// How the part of the gradient outside the subspace is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InactiveRule {
    /// Not at all.
    No,
    /// Plain SGD.
    Sgd,
    /// signSGD.
    SignSgd,
}

/// The descriptor of `frugal`: its parameters and defaults (the authors' code).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "frugal",
        "FRUGAL: Adam on a gradient subspace, signSGD on the rest (Zmushko et al. 2024).",
    )
    .param(lr_spec(1e-3))
    .param(betas_spec([0.9, 0.999], "Adam's decay rates [β₁, β₂]."))
    .param(ParamSpec::f64("eps", Some(1e-8), "Adam's denominator term.").min(0.0))
    .param(ParamSpec::f64("weight_decay", Some(0.01), "Decoupled weight decay λ.").min(0.0))
    .param(ParamSpec::bool(
        "correct_bias",
        Some(true),
        "Adam's bias correction.",
    ))
    .param(ParamSpec::str(
        "projector",
        Some("blocks"),
        "Subspace: blocks (random blocks), columns (top-k columns), svd (GaLore).",
    ))
    .param(
        ParamSpec::i64(
            "block_size",
            Some(256),
            "Elements per block (projector = blocks).",
        )
        .min(1.0),
    )
    .param(
        ParamSpec::f64(
            "density",
            Some(0.25),
            "Fraction of the blocks, columns or rank in the subspace.",
        )
        .range(0.0, 1.0),
    )
    .param(ParamSpec::i64("update_gap", Some(200), "Steps between subspace refreshes.").min(1.0))
    .param(ParamSpec::bool(
        "reset_statistics",
        Some(true),
        "Reset the moments when the subspace changes.",
    ))
    .param(ParamSpec::str(
        "inactive_update_rule",
        Some("sign_sgd"),
        "Update outside the subspace: sign_sgd, sgd or no.",
    ))
    .param(
        ParamSpec::f64(
            "inactive_lr_scale",
            Some(1.0),
            "Learning-rate factor outside the subspace.",
        )
        .min(0.0),
    )
    .param(
        ParamSpec::f64(
            "proj_params_lr_scale",
            Some(1.0),
            "Learning-rate factor of the whole update.",
        )
        .min(0.0),
    )
}

/// FRUGAL's hyper-parameters (the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frugal {
    /// Adam's decay rates.
    pub betas: (f64, f64),
    /// Adam's denominator term.
    pub eps: f32,
    /// Decoupled weight decay λ.
    pub weight_decay: f64,
    /// Adam's bias correction.
    pub correct_bias: bool,
    /// The projector.
    pub projector: Projector,
    /// Fraction of the subspace units, in `[0, 1]`.
    pub density: f64,
    /// Steps between refreshes (≥ 1).
    pub update_gap: u64,
    /// Reset the moments at a refresh.
    pub reset_statistics: bool,
    /// The state-free rule.
    pub inactive_update_rule: InactiveRule,
    /// Learning-rate factor outside the subspace.
    pub inactive_lr_scale: f64,
    /// Learning-rate factor of the whole update.
    pub proj_params_lr_scale: f64,
}

impl Default for Frugal {
    fn default() -> Frugal {
        Frugal {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
            correct_bias: true,
            projector: Projector::Blocks(256),
            density: 0.25,
            update_gap: 200,
            reset_statistics: true,
            inactive_update_rule: InactiveRule::SignSgd,
            inactive_lr_scale: 1.0,
            proj_params_lr_scale: 1.0,
        }
    }
}

/// The subspace as stored: indices or a basis.
#[derive(Debug)]
pub enum Selection<'a> {
    /// Block or column indices, `i64` little-endian bytes.
    Indices(&'a mut [u8]),
    /// The `rows × r` basis.
    Basis(&'a mut [f32]),
}

/// FRUGAL's state over one tensor.
#[derive(Debug)]
pub struct FrugalState<'a> {
    /// The subspace.
    pub selection: Selection<'a>,
    /// First moment over the subspace.
    pub exp_avg: &'a mut [f32],
    /// Second moment over the subspace.
    pub exp_avg_sq: &'a mut [f32],
    /// Steps since the reset.
    pub subspace_step: &'a mut i64,
}

fn index(bytes: &[u8], k: usize) -> usize {
    i64::from_le_bytes(bytes[8 * k..8 * k + 8].try_into().expect("8 bytes")) as usize
}

/// The matrix view of a tensor: `shape[0] ×` the rest, a 1-D tensor as one row.
pub fn matrix_view(shape: &[u64]) -> (usize, usize) {
    let n = shape.iter().product::<u64>() as usize;
    if shape.len() < 2 {
        (1, n)
    } else {
        let rows = (shape[0] as usize).max(1);
        (rows, n / rows)
    }
}

impl Frugal {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<Frugal, RError> {
        let projector = match choice(p, "projector", &["blocks", "columns", "svd"])? {
            "blocks" => Projector::Blocks(count(p, "block_size", 1)?),
            "columns" => Projector::Columns,
            _ => Projector::Svd,
        };
        let inactive_update_rule =
            match choice(p, "inactive_update_rule", &["sign_sgd", "sgd", "no"])? {
                "sign_sgd" => InactiveRule::SignSgd,
                "sgd" => InactiveRule::Sgd,
                _ => InactiveRule::No,
            };
        let density = non_negative(p, "density")?;
        if density > 1.0 {
            return Err(RError::param(
                "density",
                format!("must be in [0, 1], got {density}"),
            ));
        }
        Ok(Frugal {
            betas: betas(p, "betas")?,
            eps: non_negative(p, "eps")? as f32,
            weight_decay: non_negative(p, "weight_decay")?,
            correct_bias: p.bool("correct_bias")?,
            projector,
            density,
            update_gap: count(p, "update_gap", 1)? as u64,
            reset_statistics: p.bool("reset_statistics")?,
            inactive_update_rule,
            inactive_lr_scale: non_negative(p, "inactive_lr_scale")?,
            proj_params_lr_scale: non_negative(p, "proj_params_lr_scale")?,
        })
    }

    /// The subspace of a tensor of `shape`.
    pub fn subspace(&self, shape: &[u64]) -> Subspace {
        let (rows, cols) = matrix_view(shape);
        self.projector.subspace(rows, cols, self.density)
    }

    fn inactive(&self, g: f32, lr: f32) -> f32 {
        match self.inactive_update_rule {
            InactiveRule::No => 0.0,
            InactiveRule::Sgd => -lr * g,
            InactiveRule::SignSgd => -lr * sign(g),
        }
    }

    /// Choose the subspace from `g` and store it (fallible work first: an error writes
    /// nothing).
    fn refresh(
        &self,
        g: &[f32],
        sub: Subspace,
        sel: &mut Selection<'_>,
        seed: RngSeed,
    ) -> Result<(), RError> {
        match (self.projector, sel) {
            (Projector::Svd, Selection::Basis(basis)) => {
                let p = projector::svd_basis(g, sub.rows, sub.cols, sub.units)
                    .map_err(RError::other)?;
                basis.copy_from_slice(&p);
            }
            (proj, Selection::Indices(bytes)) => {
                let picked = match proj {
                    Projector::Blocks(b) => {
                        projector::random_blocks(g.len().div_ceil(b), sub.units, seed)
                    }
                    _ => projector::top_columns(g, sub.rows, sub.cols, sub.units),
                };
                for (k, i) in picked.into_iter().enumerate() {
                    bytes[8 * k..8 * k + 8].copy_from_slice(&(i as i64).to_le_bytes());
                }
            }
            _ => return Err(RError::input("FRUGAL state does not match its projector")),
        }
        Ok(())
    }

    /// One step of a tensor of shape `shape`, `step` counting from 1; `seed` draws random
    /// blocks at a refresh.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        shape: &[u64],
        state: FrugalState<'_>,
        step: u64,
        initialized: bool,
        lr: f64,
        seed: RngSeed,
    ) -> Result<(), RError> {
        let sub = self.subspace(shape);
        let FrugalState {
            mut selection,
            exp_avg,
            exp_avg_sq,
            subspace_step,
        } = state;
        if (step - 1).is_multiple_of(self.update_gap) {
            self.refresh(grads, sub, &mut selection, seed)?;
            if self.reset_statistics || !initialized {
                exp_avg.iter_mut().for_each(|x| *x = 0.0);
                exp_avg_sq.iter_mut().for_each(|x| *x = 0.0);
                *subspace_step = 0;
            }
        }
        *subspace_step += 1;
        let s = *subspace_step as u64;
        if self.weight_decay != 0.0 {
            let f = (1.0 - lr * self.weight_decay) as f32;
            params.iter_mut().for_each(|w| *w *= f);
        }
        let (beta1, beta2) = self.betas;
        let lr_active = lr * self.proj_params_lr_scale;
        let lr_free = (lr_active * self.inactive_lr_scale) as f32;
        let (step_size, bias2_sqrt) = if self.correct_bias {
            let b1 = 1.0 - beta1.powi(s as i32);
            let b2 = 1.0 - beta2.powi(s as i32);
            (lr_active / b1, b2.sqrt() as f32)
        } else {
            (lr_active, 1.0)
        };
        let (b1, w1, b2, w2) = (
            beta1 as f32,
            (1.0 - beta1) as f32,
            beta2 as f32,
            (1.0 - beta2) as f32,
        );
        let neg_step = -step_size as f32;
        let eps = self.eps;
        let mut adam = |q: usize, g: f32| {
            exp_avg[q] = exp_avg[q] * b1 + w1 * g;
            exp_avg_sq[q] = exp_avg_sq[q] * b2 + w2 * g * g;
            exp_avg[q] / (exp_avg_sq[q].sqrt() / bias2_sqrt + eps) * neg_step
        };
        let Subspace {
            rows, cols, units, ..
        } = sub;
        match (self.projector, selection) {
            (Projector::Blocks(bs), Selection::Indices(bytes)) => {
                let mut next = 0usize;
                let mut q = 0usize;
                for blk in 0..params.len().div_ceil(bs) {
                    let range = blk * bs..((blk + 1) * bs).min(params.len());
                    let active = next < units && index(bytes, next) == blk;
                    for e in range {
                        params[e] += if active {
                            let u = adam(q, grads[e]);
                            q += 1;
                            u
                        } else {
                            self.inactive(grads[e], lr_free)
                        };
                    }
                    if active {
                        next += 1;
                    }
                }
            }
            (Projector::Columns, Selection::Indices(bytes)) => {
                for i in 0..rows {
                    let mut next = 0usize;
                    for j in 0..cols {
                        let e = i * cols + j;
                        params[e] += if next < units && index(bytes, next) == j {
                            let u = adam(i * units + next, grads[e]);
                            next += 1;
                            u
                        } else {
                            self.inactive(grads[e], lr_free)
                        };
                    }
                }
            }
            (Projector::Svd, Selection::Basis(basis)) => {
                let r = units;
                let mut coords = vec![0.0f32; r * cols];
                gemm(
                    &mut coords,
                    1.0,
                    basis,
                    (rows, r, Op::T),
                    grads,
                    (rows, cols, Op::N),
                    0.0,
                );
                let mut lifted = vec![0.0f32; rows * cols];
                gemm(
                    &mut lifted,
                    1.0,
                    basis,
                    (rows, r, Op::N),
                    &coords,
                    (r, cols, Op::N),
                    0.0,
                );
                let upd: Vec<f32> = coords
                    .iter()
                    .enumerate()
                    .map(|(q, &c)| adam(q, c))
                    .collect();
                let mut full = vec![0.0f32; rows * cols];
                gemm(
                    &mut full,
                    1.0,
                    basis,
                    (rows, r, Op::N),
                    &upd,
                    (r, cols, Op::N),
                    0.0,
                );
                for e in 0..params.len() {
                    params[e] += full[e] + self.inactive(grads[e] - lifted[e], lr_free);
                }
            }
            _ => return Err(RError::input("FRUGAL state does not match its projector")),
        }
        Ok(())
    }
}

impl Optimizer for Frugal {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let sub = self.subspace(shape);
        let spec = match self.projector {
            Projector::Svd => {
                StateSpec::new().buffer(BASIS, DType::F32, &[sub.rows as u64, sub.units as u64])
            }
            _ => StateSpec::new().buffer(ACTIVE, DType::I64, &[sub.units as u64]),
        };
        Ok(spec
            .buffer(EXP_AVG, DType::F32, &[sub.len as u64])
            .buffer(EXP_AVG_SQ, DType::F32, &[sub.len as u64])
            .scalar(SUBSPACE_STEP, ScalarKind::I64))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let opt = Frugal {
            betas: (step.momentum_or(self.betas.0), self.betas.1),
            ..*self
        };
        let (lr, seed) = (step.lr, step.seed);
        for t in step.tensors.iter_mut() {
            let (number, initialized, id) = (t.step, t.initialized, t.id);
            let shape: Vec<u64> = t.shape().to_vec();
            let mut s_step = t.scalar_i64(0)?;
            let parts = t.parts()?;
            let grads = parts
                .grads
                .ok_or_else(|| RError::input("FRUGAL needs gradients"))?;
            let [sel, m, v] = parts.buffers else {
                return Err(RError::input("FRUGAL expects 3 state buffers"));
            };
            let selection = match opt.projector {
                Projector::Svd => Selection::Basis(sel.f32_mut()?),
                _ => Selection::Indices(sel.bytes_mut()),
            };
            let state = FrugalState {
                selection,
                exp_avg: m.f32_mut()?,
                exp_avg_sq: v.f32_mut()?,
                subspace_step: &mut s_step,
            };
            opt.update(
                parts.params,
                grads,
                &shape,
                state,
                number,
                initialized,
                lr,
                seed.derive(id),
            )?;
            parts.scalars[0] = Scalar::I64(s_step);
        }
        Ok(())
    }
}
