//! Model Stock (mergekit 0.1.5 `model_stock`).
//!
//! Jang, Yun, Han, "Model Stock: All we need is just a few fine-tuned models", ECCV 2024
//! (arXiv:2403.19522).

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::common::{clamp, gather, global, is_f64, norm, sum, Real, Rounding};

/// The descriptor: global `filter_wise` (default false), a base model required.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "model_stock",
        "Interpolate the fine-tuned average towards the base by the angle between task vectors.",
    )
    .param(ParamSpec::bool(
        "filter_wise",
        Some(false),
        "Compute the ratio per row (last axis) instead of once per tensor.",
    ))
    .tag("requires_base")
}

/// Model Stock of `w0` (base) and `ws` (at least two fine-tuned tensors of `shape`).
pub fn model_stock<F: Real>(
    w0: &[F],
    ws: &[Vec<F>],
    shape: &[u64],
    filter_wise: bool,
    rd: Rounding,
) -> Vec<F> {
    let n = w0.len();
    // Rows of length `row`: the last axis when filter-wise (a vector is one row), else all.
    let row = if filter_wise && shape.len() >= 2 {
        shape[shape.len() - 1] as usize
    } else {
        n
    };
    let count = ws.len();
    let tiny = rd.r(F::of(1e-6));
    let offsets: Vec<Vec<F>> = ws
        .iter()
        .map(|w| w.iter().zip(w0).map(|(&a, &b)| rd.r(a - b)).collect())
        .collect();
    let mut out = vec![F::ZERO; n];
    if row == 0 {
        return out;
    }
    for start in (0..n).step_by(row) {
        let r = start..start + row;
        let mut cos_sum = F::ZERO;
        let mut pairs = 0usize;
        for i in 0..count {
            for j in i + 1..count {
                let (a, b) = (&offsets[i][r.clone()], &offsets[j][r.clone()]);
                let np = rd.r(rd.r(norm(a)) * rd.r(norm(b)));
                let np = if np < tiny { tiny } else { np };
                // Products in the merge dtype, summed in f32/f64, the sum stored in the dtype.
                let d = rd.r(sum(a.iter().zip(b).map(|(&x, &y)| rd.r(x * y))));
                cos_sum += clamp(rd.r(d / np), -F::ONE, F::ONE);
                pairs += 1;
            }
        }
        let cos = rd.r(rd.r(cos_sum) / F::of(pairs as f64));
        let k = F::of(count as f64);
        let den = rd.r(F::ONE + rd.r((k - F::ONE) * cos));
        // At the singularity mergekit keeps the base for this row.
        let t = if den.abs() < tiny {
            F::ZERO
        } else {
            rd.r(rd.r(k * cos) / den)
        };
        for e in r {
            let mut s = ws[0][e];
            for w in &ws[1..] {
                s = rd.r(s + w[e]);
            }
            let avg = rd.r(s / k);
            out[e] = rd.r(rd.r(t * avg) + rd.r(rd.r(F::ONE - t) * w0[e]));
        }
    }
    out
}

/// `model_stock` as a merge method.
pub struct ModelStock {
    params: ParamMap,
}

impl ModelStock {
    /// Build from constructor parameters (`filter_wise`).
    pub fn new(params: &ParamMap) -> Result<ModelStock, RError> {
        params.bool("filter_wise")?;
        Ok(ModelStock {
            params: params.clone(),
        })
    }

    fn run<F: Real>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        let base = inputs.require_base("model_stock", call.name())?;
        inputs.expect_others("model_stock", call.name(), 2, None)?;
        let fw = global(call, &self.params, "filter_wise").bool("filter_wise")?;
        let rd = Rounding::of(call)?;
        F::write(
            out,
            &model_stock(base, &inputs.others, &inputs.shape, fw, rd),
        )
    }
}

impl MergeMethod for ModelStock {
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
    fn orthogonal_offsets_give_the_paper_ratio() {
        // Two orthogonal task vectors: cos = 0, t = 0, the result is the base.
        let w0 = vec![1.0f64, 1.0];
        let ws = vec![vec![2.0, 1.0], vec![1.0, 2.0]];
        assert_eq!(model_stock(&w0, &ws, &[2], false, Rounding::none()), w0);
        // Parallel task vectors: cos = 1, t = 2/2 = 1, the result is the average.
        let ws = vec![vec![2.0, 2.0], vec![3.0, 3.0]];
        let r = model_stock(&w0, &ws, &[2], false, Rounding::none());
        assert!(
            (r[0] - 2.5).abs() < 1e-12 && (r[1] - 2.5).abs() < 1e-12,
            "{r:?}"
        );
    }
}
