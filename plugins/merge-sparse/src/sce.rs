//! SCE (Select, Calculate, Erase; FuseChat, arXiv:2408.07990) with mergekit 0.1.5 `sce.py`
//! semantics (own code).
//!
//! For task vectors δ_1..δ_n (models minus base, in the compute dtype):
//! 1. **Select** (when `select_topk` < 1): per element, the population variance of δ_1..δ_n
//!    across models; keep the `⌊nnz(var)·select_topk⌋` elements with the largest variance (the
//!    same elements in every task vector), zero the rest.
//! 2. **Calculate**: one weight per model, `w_i = mean(δ_i²) / Σ_j mean(δ_j²)` (uniform `1/n`
//!    when that sum is below 1e-6).
//! 3. **Erase**: per element, the majority sign is the sign of `Σ_i δ_i` (≥ 0 counts as
//!    positive); elements of other signs (and zeros) are erased.
//!
//! Result: `base + Σ_i w_i·m_i·δ_i / max(Σ_i w_i·m_i, 1e-6)` with `m_i` the erase mask.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};
use mosaic_tensor::DType;

use crate::gta::{prepare, sign, task_vectors};
use crate::select::{top_k_mask, TieBreak};
use mosaic_tensor::convert::{accumulator, round_to};

/// The `sce` merge method.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sce;

impl Sce {
    /// The descriptor: mergekit's parameters (`select_topk`, `int8_mask`).
    pub fn descriptor() -> AlgorithmDescriptor {
        AlgorithmDescriptor::new(
            Family::Merge,
            "sce",
            "SCE: select high-variance elements, weight task vectors by mean squared magnitude, \
             erase minority signs (arXiv:2408.07990).",
        )
        .param(ParamSpec::f64(
            "select_topk",
            Some(1.0),
            "Share of the (nonzero-variance) elements kept, ranked by variance across models; \
             1 keeps all.",
        ))
        .param(ParamSpec::bool(
            "int8_mask",
            Some(false),
            "Accepted for mergekit compatibility (a memory option there); no effect.",
        ))
        .tag("requires_base")
    }

    /// The method; it has no constructor parameters to check.
    pub fn new(_params: &ParamMap) -> Result<Sce, RError> {
        Ok(Sce)
    }
}

/// Population variance across models per element, as torch's CPU `var(dim=0,
/// unbiased=False)` computes it (Welford in f64), rounded to `dtype`.
fn variance(dtype: DType, tvs: &[Vec<f64>]) -> Vec<f64> {
    let len = tvs[0].len();
    (0..len)
        .map(|e| {
            let (mut mean, mut m2) = (0.0f64, 0.0f64);
            for (k, tv) in tvs.iter().enumerate() {
                let x = tv[e];
                let d = x - mean;
                mean += d / (k + 1) as f64;
                m2 += d * (x - mean);
            }
            round_to(dtype, m2 / tvs.len() as f64)
        })
        .collect()
}

/// mergekit's `sce_mask`: the elements to keep in every task vector.
fn select_mask(dtype: DType, tvs: &[Vec<f64>], topk: f64) -> Vec<bool> {
    let len = tvs[0].len();
    if topk <= 0.0 {
        return vec![false; len];
    }
    let var = variance(dtype, tvs);
    let nonzero = var.iter().filter(|&&v| v != 0.0).count();
    // torch: an int64 count times a Python float is a float32 tensor, then `int()`.
    let k = (nonzero as f32 * topk as f32) as usize;
    if k == 0 {
        return vec![false; len];
    }
    top_k_mask(&var, k, TieBreak::Index)
}

/// mergekit's `sce_weight`: `mean(δ_i²)` normalized to sum 1 (uniform when the sum is tiny).
fn weights(dtype: DType, tvs: &[Vec<f64>]) -> Vec<f64> {
    let acc = accumulator(dtype);
    let w: Vec<f64> = tvs
        .iter()
        .map(|tv| {
            let s: f64 = tv.iter().map(|&d| round_to(dtype, d * d)).sum();
            round_to(dtype, s / tv.len().max(1) as f64)
        })
        .collect();
    let total = round_to(dtype, w.iter().fold(0.0, |s, &x| round_to(acc, s + x)));
    if total.abs() < 1e-6 {
        let u = round_to(dtype, 1.0 / tvs.len() as f64);
        return vec![u; tvs.len()];
    }
    // torch divides by the Python float as a scalar of the op's (f32) type.
    let total = round_to(acc, total);
    w.iter().map(|&x| round_to(dtype, x / total)).collect()
}

impl MergeMethod for Sce {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let (dtype, base) = prepare(call, out, "sce")?;
        let topk = call.params.f64("select_topk")?;
        let mut tvs: Vec<Vec<f64>> = task_vectors(call, dtype, &base).map(|(_, d)| d).collect();
        if tvs.is_empty() {
            return out.write_f64(&base);
        }
        if topk < 1.0 {
            let keep = select_mask(dtype, &tvs, topk);
            for tv in &mut tvs {
                for (d, &k) in tv.iter_mut().zip(&keep) {
                    if !k {
                        *d *= 0.0;
                    }
                }
            }
        }
        let w = weights(dtype, &tvs);
        let acc = accumulator(dtype);
        let floor = round_to(dtype, 1e-6);
        let result: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(e, &b)| {
                let total = round_to(
                    dtype,
                    tvs.iter().fold(0.0, |s, tv| round_to(acc, s + tv[e])),
                );
                let majority = if total >= 0.0 { 1 } else { -1 };
                let (mut num, mut den) = (0.0, 0.0);
                for (tv, &wi) in tvs.iter().zip(&w) {
                    let wi = if sign(tv[e]) == majority { wi } else { 0.0 };
                    num = round_to(acc, num + round_to(dtype, tv[e] * wi));
                    den = round_to(acc, den + wi);
                }
                let (num, den) = (round_to(dtype, num), round_to(dtype, den));
                let delta = round_to(dtype, num / den.max(floor));
                round_to(dtype, b + delta)
            })
            .collect();
        out.write_f64(&result)
    }
}
