//! NuSLERP (mergekit 0.1.5 `nuslerp`): SLERP between two models with the interpolation factor
//! taken from their weights, optionally around a base (task vectors), optionally per row or
//! per column instead of over the flattened tensor.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::common::{clamp, gather, global, is_f64, Real, Rounding};

/// The colinearity tolerance: spherical interpolation is replaced by linear when
/// `1 − cos²θ ≤ EPS²`.
pub const EPS: f64 = 1e-8;

/// The descriptor: per-model `weight` (required for each of the two non-base models), global
/// `nuslerp_row_wise` and `nuslerp_flatten`; the base model is optional.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "nuslerp",
        "SLERP between two models with t = w2 / (w1 + w2), optionally on task vectors from a base.",
    )
    .param(ParamSpec::f64("weight", None, "Weight of this (non-base) model.").per_model())
    .param(ParamSpec::bool(
        "nuslerp_row_wise",
        Some(false),
        "When not flattening: interpolate vectors along the first axis instead of the last.",
    ))
    .param(ParamSpec::bool(
        "nuslerp_flatten",
        Some(true),
        "Interpolate the whole tensor as one vector.",
    ))
    .tag("non_base_params")
}

/// The element indices of each vector interpolated independently: the whole tensor when
/// `flatten`, else vectors along axis 0 (`first_axis`) or along the last axis.
fn vectors(shape: &[u64], n: usize, flatten: bool, first_axis: bool) -> Vec<Vec<usize>> {
    if flatten || shape.len() <= 1 {
        return vec![(0..n).collect()];
    }
    if first_axis {
        let d0 = shape[0] as usize;
        let rest = n / d0.max(1);
        (0..rest)
            .map(|j| (0..d0).map(|i| i * rest + j).collect())
            .collect()
    } else {
        let last = shape[shape.len() - 1] as usize;
        (0..n / last.max(1))
            .map(|r| (r * last..(r + 1) * last).collect())
            .collect()
    }
}

/// NuSLERP of `v0` (at `t = 0`) and `v1` (at `t = 1`) of `shape`.
pub fn nuslerp<F: Real>(
    t: f64,
    v0: &[F],
    v1: &[F],
    shape: &[u64],
    flatten: bool,
    row_wise: bool,
    rd: Rounding,
) -> Vec<F> {
    // Each op's result is stored in the merge dtype (`rd`); the Python floats `t`, `1 - t`
    // multiply in f32 (torch's scalar operands); norms and sums accumulate wide, stored once.
    let (ft, fs) = (F::of(t), F::of(1.0 - t));
    let mut out = vec![F::ZERO; v0.len()];
    let min_norm = rd.r(F::of(1e-7));
    for idx in vectors(shape, v0.len(), flatten, row_wise) {
        let nrm = |v: &[F]| {
            let n = rd.r(F::of(
                idx.iter()
                    .map(|&i| v[i].f64() * v[i].f64())
                    .sum::<f64>()
                    .sqrt(),
            ));
            if n < min_norm {
                min_norm
            } else {
                n
            }
        };
        let (n0, n1) = (nrm(v0), nrm(v1));
        let cos = rd.r(F::of(
            idx.iter()
                .map(|&i| rd.r(rd.r(v0[i] / n0) * rd.r(v1[i] / n1)).f64())
                .sum(),
        ));
        let cos = clamp(cos, -F::ONE, F::ONE);
        if rd.r(F::ONE - rd.r(cos * cos)) <= rd.r(F::of(EPS * EPS)) {
            for &i in &idx {
                out[i] = rd.r(rd.r(fs * v0[i]) + rd.r(ft * v1[i]));
            }
        } else {
            let theta = rd.r(cos.acos());
            let s = rd.r(theta.sin());
            let (a, b) = (rd.r(rd.r(fs * theta).sin()), rd.r(rd.r(ft * theta).sin()));
            for &i in &idx {
                out[i] = rd.r(rd.r(rd.r(a * v0[i]) + rd.r(b * v1[i])) / s);
            }
        }
    }
    out
}

/// `nuslerp` as a merge method.
pub struct NuSlerp {
    params: ParamMap,
}

impl NuSlerp {
    /// Build from constructor parameters (`nuslerp_row_wise`, `nuslerp_flatten`).
    pub fn new(params: &ParamMap) -> Result<NuSlerp, RError> {
        params.bool("nuslerp_row_wise")?;
        params.bool("nuslerp_flatten")?;
        Ok(NuSlerp {
            params: params.clone(),
        })
    }

    fn run<F: Real>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        inputs.expect_others("nuslerp", call.name(), 2, Some(2))?;
        let w = inputs
            .other_params
            .iter()
            .map(|p| p.f64("weight"))
            .collect::<Result<Vec<f64>, RError>>()?;
        let total = w[0] + w[1];
        let t = if total.abs() < 1e-6 {
            0.5
        } else {
            w[1] / total
        };
        let row_wise = global(call, &self.params, "nuslerp_row_wise").bool("nuslerp_row_wise")?;
        let flatten = global(call, &self.params, "nuslerp_flatten").bool("nuslerp_flatten")?;
        let (x0, x1) = (&inputs.others[0], &inputs.others[1]);
        let rd = Rounding::of(call)?;
        let r = match inputs.base.as_deref() {
            Some(b) => {
                let d0: Vec<F> = x0.iter().zip(b).map(|(&x, &y)| rd.r(x - y)).collect();
                let d1: Vec<F> = x1.iter().zip(b).map(|(&x, &y)| rd.r(x - y)).collect();
                nuslerp(t, &d0, &d1, &inputs.shape, flatten, row_wise, rd)
                    .into_iter()
                    .zip(b)
                    .map(|(r, &y)| rd.r(y + r))
                    .collect()
            }
            None => nuslerp(t, x0, x1, &inputs.shape, flatten, row_wise, rd),
        };
        F::write(out, &r)
    }
}

impl MergeMethod for NuSlerp {
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
    fn row_and_column_vectors() {
        // Rows: [1,0] and [0,1] are orthogonal rows; columns of the 2×2 identity pair too.
        let v0 = [1.0f64, 0.0, 0.0, 1.0];
        let v1 = [0.0f64, 1.0, 1.0, 0.0];
        let h = std::f64::consts::FRAC_1_SQRT_2;
        for row_wise in [false, true] {
            let r = nuslerp(0.5, &v0, &v1, &[2, 2], false, row_wise, Rounding::none());
            assert!(r.iter().all(|x| (x - h).abs() < 1e-12), "{r:?}");
        }
        assert_eq!(vectors(&[2, 3], 6, false, true)[1], vec![1, 4]);
        assert_eq!(vectors(&[2, 3], 6, false, false)[1], vec![3, 4, 5]);
    }
}
