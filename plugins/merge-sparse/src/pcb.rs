//! PCB merging ("Parameter Competition Balancing for Model Merging", Du et al., NeurIPS 2024,
//! arXiv:2410.02396), per tensor.
//!
//! For N task vectors τ_i = θ_i − θ_pre with d elements each (paper's notation):
//! - intra-balancing: `β_intra,i = Softmax(N · Norm(τ_i ⊙ τ_i))`
//! - inter-balancing: `β_inter,i = Σ_{j=1..N} Softmax(Norm(τ_i ⊙ τ_j))`
//! - balancing matrix: `β_i = β_intra,i ⊙ β_inter,i`
//! - drop: `m_i = β_i ≥ sorted(β_i)[⌊(1 − r)·d⌋]`, `β̂_i = m_i ⊙ β_i` (r = `density`)
//! - rescale and merge: `τ_m = Σ_i β̂_i ⊙ τ_i / Σ_i β̂_i`, `θ_m = θ_pre + λ·τ_m`
//!
//! `Softmax` runs over the d elements of one vector; `Norm` is min–max normalization over the
//! d elements (`(x − min)/(max − min)`, all zeros when max = min), as in the authors' release.
//! Scores are computed in f64 from the inputs cast to the compute dtype; the merged delta and
//! the result are rounded to the compute dtype.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::gta::{prepare, task_vectors};
use mosaic_tensor::convert::round_to;

/// The `pcb` merge method.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pcb;

impl Pcb {
    /// The descriptor: `density` (the paper's ratio r of kept parameters) and `lambda`.
    pub fn descriptor() -> AlgorithmDescriptor {
        AlgorithmDescriptor::new(
            Family::Merge,
            "pcb",
            "PCB merging: intra- and inter-task parameter competition balancing, drop low \
             scores, rescale (arXiv:2410.02396).",
        )
        .param(
            ParamSpec::f64(
                "density",
                Some(0.1),
                "Share r of each task vector's elements kept, by balancing score.",
            )
            .range(0.0, 1.0),
        )
        .param(ParamSpec::f64(
            "lambda",
            Some(1.0),
            "Scale λ of the merged task vector added to the base.",
        ))
        .tag("requires_base")
    }

    /// The method; it has no constructor parameters to check.
    pub fn new(_params: &ParamMap) -> Result<Pcb, RError> {
        Ok(Pcb)
    }
}

/// `Softmax(scale · Norm(x))` over the elements of `x` (uniform when `x` is constant).
fn softmax_of_norm(x: &[f64], scale: f64) -> Vec<f64> {
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let z: Vec<f64> = if hi > lo {
        x.iter().map(|&v| scale * (v - lo) / (hi - lo)).collect()
    } else {
        vec![0.0; x.len()]
    };
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|&v| (v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|v| v / total).collect()
}

/// The balancing matrix β (one row per task), Eqs. for β_intra, β_inter and their product.
pub fn balancing_scores(tvs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = tvs.len() as f64;
    tvs.iter()
        .map(|ti| {
            let sq: Vec<f64> = ti.iter().map(|v| v * v).collect();
            let mut beta = softmax_of_norm(&sq, n);
            let mut inter = vec![0.0; ti.len()];
            for tj in tvs {
                let prod: Vec<f64> = ti.iter().zip(tj).map(|(a, b)| a * b).collect();
                for (s, v) in inter.iter_mut().zip(softmax_of_norm(&prod, 1.0)) {
                    *s += v;
                }
            }
            for (b, i) in beta.iter_mut().zip(&inter) {
                *b *= i;
            }
            beta
        })
        .collect()
}

/// The drop step: zero the scores below `sorted(β)[⌊(1 − r)·d⌋]` (linear-time selection).
fn drop_low(beta: &mut [f64], r: f64) {
    let d = beta.len();
    if d == 0 || r >= 1.0 {
        return;
    }
    let at = (((1.0 - r) * d as f64).floor() as usize).min(d - 1);
    let mut scratch = beta.to_vec();
    let (_, &mut threshold, _) = scratch.select_nth_unstable_by(at, f64::total_cmp);
    for b in beta.iter_mut() {
        if *b < threshold {
            *b = 0.0;
        }
    }
}

impl MergeMethod for Pcb {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let (dtype, base) = prepare(call, out, "pcb")?;
        let r = call.params.f64("density")?;
        if !(r > 0.0 && r <= 1.0) {
            return Err(RError::param(
                "density",
                format!("must lie in (0, 1], got {r}"),
            ));
        }
        let lambda = call.params.f64("lambda")?;
        let tvs: Vec<Vec<f64>> = task_vectors(call, dtype, &base).map(|(_, d)| d).collect();
        if tvs.is_empty() {
            return out.write_f64(&base);
        }
        let mut beta = balancing_scores(&tvs);
        for b in &mut beta {
            drop_low(b, r);
        }
        let result: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(e, &b)| {
                let (mut num, mut den) = (0.0, 0.0);
                for (tv, s) in tvs.iter().zip(&beta) {
                    num += s[e] * tv[e];
                    den += s[e];
                }
                let merged = if den > 0.0 { num / den } else { 0.0 };
                let delta = round_to(dtype, lambda * merged);
                round_to(dtype, b + delta)
            })
            .collect();
        out.write_f64(&result)
    }
}
