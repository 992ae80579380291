//! Multi-SLERP (mergekit 0.1.5 `multislerp`): a weighted barycentre of several tensors on the
//! hypersphere, through the tangent space at their normalised weighted mean.
//!
//! Reference: C. Goddard, "Multi-SLERP" (goddard.blog/posts/multislerp-wow-what-a-cool-idea).

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::common::{gather, global, is_f64, norm, sum, Real, Rounding};

/// The descriptor: per-model `weight` (required for every non-base model), global
/// `normalize_weights` and `eps`; the base model is optional.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "multislerp",
        "Barycentric interpolation of several models on the hypersphere (optionally around a base).",
    )
    .param(
        ParamSpec::f64("weight", None, "Weight of this (non-base) model.").per_model(),
    )
    .param(ParamSpec::bool(
        "normalize_weights",
        Some(true),
        "Divide the weights by their sum.",
    ))
    .param(ParamSpec::f64(
        "eps",
        Some(1e-8),
        "Small constant added to norms for numerical stability.",
    ))
    .tag("non_base_params")
}

/// Multi-SLERP of `tensors` with `weights`, around `base` when given. Errors when the
/// weighted mean of the unit vectors vanishes for three or more inputs (as mergekit does).
pub fn multislerp<F: Real>(
    tensors: &[Vec<F>],
    weights: &[F],
    base: Option<&[F]>,
    normalize_weights: bool,
    eps: F,
    rd: Rounding,
) -> Result<Vec<F>, String> {
    if tensors.len() == 1 {
        // mergekit returns the single input unchanged (not re-based).
        return Ok(tensors[0].clone());
    }
    let n = tensors[0].len();
    // Every op's result is stored in the merge dtype (`rd`); sums accumulate in f32/f64 and
    // are stored once, as torch's reductions do.
    let vs: Vec<Vec<F>> = tensors
        .iter()
        .map(|t| match base {
            Some(b) => t.iter().zip(b).map(|(&x, &y)| rd.r(x - y)).collect(),
            None => t.clone(),
        })
        .collect();
    // mergekit builds the weights as a tensor of the merge dtype.
    let weights: Vec<F> = weights.iter().map(|&w| rd.r(w)).collect();
    let weights: Vec<F> = if normalize_weights {
        let mut s = F::ZERO;
        for &w in &weights {
            s += w;
        }
        let s = rd.r(s);
        weights.iter().map(|&w| rd.r(w / s)).collect()
    } else {
        weights
    };
    let norms: Vec<F> = vs.iter().map(|v| rd.r(norm(v))).collect();
    let units: Vec<Vec<F>> = vs
        .iter()
        .zip(&norms)
        .map(|(v, &nv)| {
            let d = rd.r(nv + eps);
            v.iter().map(|&x| rd.r(x / d)).collect()
        })
        .collect();
    let weighted_sum = |rows: &[Vec<F>], e: usize| -> F {
        let mut s = F::ZERO;
        for (r, &w) in rows.iter().zip(&weights) {
            s += rd.r(r[e] * w);
        }
        rd.r(s)
    };
    let mut mean: Vec<F> = (0..n).map(|e| weighted_sum(&units, e)).collect();
    let mean_norm = rd.r(norm(&mean));
    let add_base = |mut r: Vec<F>| {
        if let Some(b) = base {
            r.iter_mut().zip(b).for_each(|(x, &y)| *x = rd.r(*x + y));
        }
        r
    };
    if mean_norm < eps {
        if vs.len() == 2 {
            let r = (0..n)
                .map(|e| rd.r(rd.r(vs[0][e] * weights[0]) + rd.r(vs[1][e] * weights[1])))
                .collect();
            return Ok(add_base(r));
        }
        return Err(
            "the weighted sum of the input tensors is zero (antipodal inputs whose \
                    weights balance out); use different weights"
                .into(),
        );
    }
    mean.iter_mut().for_each(|m| *m = rd.r(*m / mean_norm));
    let tangents: Vec<Vec<F>> = units
        .iter()
        .map(|u| {
            let d = rd.r(sum(u.iter().zip(&mean).map(|(&x, &m)| rd.r(x * m))));
            u.iter()
                .zip(&mean)
                .map(|(&x, &m)| rd.r(x - rd.r(d * m)))
                .collect()
        })
        .collect();
    let tangent: Vec<F> = (0..n).map(|e| weighted_sum(&tangents, e)).collect();
    let tn = rd.r(rd.r(norm(&tangent)) + eps);
    let (c, s) = (rd.r(tn.cos()), rd.r(rd.r(tn.sin()) / tn));
    let mut avg_norm = F::ZERO;
    for (&nv, &w) in norms.iter().zip(&weights) {
        avg_norm += rd.r(nv * w);
    }
    let avg_norm = rd.r(avg_norm);
    let r = mean
        .iter()
        .zip(&tangent)
        .map(|(&m, &t)| rd.r(rd.r(rd.r(m * c) + rd.r(t * s)) * avg_norm))
        .collect();
    Ok(add_base(r))
}

/// `multislerp` as a merge method.
pub struct MultiSlerp {
    params: ParamMap,
}

impl MultiSlerp {
    /// Build from constructor parameters (`normalize_weights`, `eps`).
    pub fn new(params: &ParamMap) -> Result<MultiSlerp, RError> {
        params.bool("normalize_weights")?;
        params.f64("eps")?;
        Ok(MultiSlerp {
            params: params.clone(),
        })
    }

    fn run<F: Real>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        inputs.expect_others("multislerp", call.name(), 1, None)?;
        let weights = inputs
            .other_params
            .iter()
            .map(|p| p.f64("weight").map(F::of))
            .collect::<Result<Vec<F>, RError>>()?;
        let nw = global(call, &self.params, "normalize_weights").bool("normalize_weights")?;
        let eps = F::of(global(call, &self.params, "eps").f64("eps")?);
        let rd = Rounding::of(call)?;
        let r = multislerp(
            &inputs.others,
            &weights,
            inputs.base.as_deref(),
            nw,
            eps,
            rd,
        )
        .map_err(|e| RError::input(format!("multislerp: tensor `{}`: {e}", call.name())))?;
        F::write(out, &r)
    }
}

impl MergeMethod for MultiSlerp {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        if is_f64(call) {
            self.run::<f64>(call, out)
        } else {
            self.run::<f32>(call, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_orthogonal_unit_vectors_meet_halfway_on_the_circle() {
        let r = multislerp(
            &[vec![1.0f64, 0.0], vec![0.0, 1.0]],
            &[1.0, 1.0],
            None,
            true,
            0.0,
            Rounding::none(),
        )
        .unwrap();
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!(
            (r[0] - h).abs() < 1e-12 && (r[1] - h).abs() < 1e-12,
            "{r:?}"
        );
    }
}
