//! Arcee Fusion (mergekit 0.1.5 `arcee_fusion`): take the other model's value only where its
//! change from the base is important, by a KL-weighted magnitude and an IQR outlier threshold.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, RError, TensorMut,
};

use crate::common::{gather, is_f64, Real};
use crate::torch_cpu;

/// The descriptor: no parameters; a base model required.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "arcee_fusion",
        "Fuse in the other model's changes whose KL-weighted importance is an upper IQR outlier.",
    )
    .tag("requires_base")
}

/// The steps of mergekit's importance score, in the float type's torch rounding.
pub trait FusionReal: Real {
    /// `torch.softmax(x, dim=-1)` over rows of `row` elements.
    fn softmax_rows(x: &[Self], row: usize) -> Vec<Self>;
    /// `torch.log`.
    fn log(self) -> Self;
    /// `torch.sum(x, dim=-1)` over rows of `row` elements.
    fn row_sums(x: &[Self], row: usize) -> Vec<Self>;
}

/// float32: torch's CPU kernels bit for bit, except `log` (see [`torch_cpu`]).
impl FusionReal for f32 {
    fn softmax_rows(x: &[f32], row: usize) -> Vec<f32> {
        torch_cpu::softmax_lastdim(x, row)
    }
    fn log(self) -> f32 {
        torch_cpu::ln(self)
    }
    fn row_sums(x: &[f32], row: usize) -> Vec<f32> {
        torch_cpu::sum_lastdim(x, row)
    }
}

/// float64: the same formulas with libm `exp`/`ln` and plain running sums (not bit-matched).
impl FusionReal for f64 {
    fn softmax_rows(x: &[f64], row: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(x.len());
        for r in x.chunks(row.max(1)) {
            let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let start = out.len();
            out.extend(r.iter().map(|&v| (v - max).exp()));
            let inv = 1.0 / out[start..].iter().sum::<f64>();
            for v in &mut out[start..] {
                *v *= inv;
            }
        }
        out
    }
    fn log(self) -> f64 {
        self.ln()
    }
    fn row_sums(x: &[f64], row: usize) -> Vec<f64> {
        x.chunks(row.max(1)).map(|r| r.iter().sum()).collect()
    }
}

/// mergekit's importance of each element: `|other - base| * KL(p || q)` of its row, where
/// `p = softmax(other) + 1e-8` and `q = softmax(base) + 1e-8` over the last axis.
pub fn importance<F: FusionReal>(base: &[F], other: &[F], row: usize) -> Vec<F> {
    let eps = F::of(1e-8);
    let p: Vec<F> = F::softmax_rows(other, row)
        .into_iter()
        .map(|v| v + eps)
        .collect();
    let q: Vec<F> = F::softmax_rows(base, row)
        .into_iter()
        .map(|v| v + eps)
        .collect();
    let terms: Vec<F> = p.iter().zip(&q).map(|(&a, &b)| a * (a / b).log()).collect();
    let kl = F::row_sums(&terms, row);
    (0..base.len())
        .map(|i| (other[i] - base[i]).abs() * kl[i / row])
        .collect()
}

/// Arcee Fusion of `base` and `other` of `shape`.
pub fn arcee_fusion<F: FusionReal>(base: &[F], other: &[F], shape: &[u64]) -> Vec<F> {
    let n = base.len();
    if n == 0 {
        return Vec::new();
    }
    let row = shape.last().map_or(n, |&d| (d as usize).max(1));
    let importance = importance(base, other, row);
    // mergekit samples 1e6 entries of larger tensors at random; we take exact quantiles.
    let mut sorted = importance.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let at = |q: f32| sorted[(q * (n - 1) as f32) as usize];
    let (q1, med, q3) = (at(0.25), at(0.5), at(0.75));
    let threshold = med + F::of(1.5) * (q3 - q1);
    (0..n)
        .map(|i| {
            let m = if importance[i] >= threshold {
                F::ONE
            } else {
                F::ZERO
            };
            base[i] + (other[i] - base[i]) * m
        })
        .collect()
}

/// `arcee_fusion` as a merge method.
pub struct ArceeFusion;

impl ArceeFusion {
    /// Build (no parameters).
    pub fn new(_params: &ParamMap) -> Result<ArceeFusion, RError> {
        Ok(ArceeFusion)
    }

    fn run<F: FusionReal>(
        &self,
        call: &MergeCall<'_>,
        out: &mut TensorMut<'_>,
    ) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        let base = inputs.require_base("arcee_fusion", call.name())?;
        inputs.expect_others("arcee_fusion", call.name(), 1, Some(1))?;
        F::write(out, &arcee_fusion(base, &inputs.others[0], &inputs.shape))
    }
}

impl MergeMethod for ArceeFusion {
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
    fn only_the_outlier_change_is_fused() {
        // One row; only element 3 changes a lot: it is the sole IQR outlier.
        let base = vec![0.0f64; 8];
        // Sorted importances (×KL) .01 … .07, 2: q1 = .02 (index 1), median = .04 (index 3),
        // q3 = .06 (index 5) → threshold .04 + 1.5·.04 = .10; only element 3 passes.
        let other = vec![0.01f64, 0.02, 0.04, 2.0, 0.05, 0.06, 0.07, 0.03];
        let r = arcee_fusion(&base, &other, &[8]);
        assert_eq!(r[3], 2.0);
        assert!(
            r.iter().enumerate().all(|(i, &v)| i == 3 || v == 0.0),
            "{r:?}"
        );
    }
}
