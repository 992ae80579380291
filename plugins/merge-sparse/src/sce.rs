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
//!
//! **Streaming.** The tensor is merged in chunks of [`CHUNK_ELEMENTS`] elements, in three
//! passes over the (memory-mapped) inputs, each recomputing the task vectors of a chunk:
//! the variances' ranking keys (4 bytes per element, only when `select_topk` < 1; the cut is
//! a radix select, then a bitmap of the kept elements replaces the keys), the per-model sums
//! of squares, and the combine, which writes the output. Every value is computed as the
//! whole-tensor formulation computes it, in the same order, so the result is the same bits
//! (`tests::streamed_equals_whole_tensor`).

use mosaic_abi::{
    chunk_ranges, AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError,
    TensorMut, CHUNK_ELEMENTS,
};
use mosaic_tensor::DType;

use crate::chunks::{task_chunks, TaskChunks};
use crate::gta::sign;
use crate::select::{magnitude_key, select};
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

/// Population variance of `xs` (one element's deltas across models), as torch's CPU
/// `var(dim=0, unbiased=False)` computes it (Welford in f64), rounded to `dtype`.
fn variance(dtype: DType, xs: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = xs.len();
    let (mut mean, mut m2) = (0.0f64, 0.0f64);
    for (k, x) in xs.enumerate() {
        let d = x - mean;
        mean += d / (k + 1) as f64;
        m2 += d * (x - mean);
    }
    round_to(dtype, m2 / n as f64)
}

/// mergekit's `sce_weight` from the per-model sums of `round(δ²)` over `len` elements:
/// `mean(δ_i²)` normalized to sum 1 (uniform when the sum is tiny).
fn weights(dtype: DType, sums: &[f64], len: usize) -> Vec<f64> {
    let acc = accumulator(dtype);
    let w: Vec<f64> = sums
        .iter()
        .map(|&s| round_to(dtype, s / len.max(1) as f64))
        .collect();
    let total = round_to(dtype, w.iter().fold(0.0, |s, &x| round_to(acc, s + x)));
    if total.abs() < 1e-6 {
        let u = round_to(dtype, 1.0 / sums.len() as f64);
        return vec![u; sums.len()];
    }
    // torch divides by the Python float as a scalar of the op's (f32) type.
    let total = round_to(acc, total);
    w.iter().map(|&x| round_to(dtype, x / total)).collect()
}

/// mergekit's `sce_mask`: one bit per element, set for the elements every task vector keeps
/// (the `⌊nnz(var)·select_topk⌋` largest variances, ties by lower index), or `None` to keep
/// nothing.
fn select_mask(c: &mut TaskChunks<'_>, n: usize, topk: f64) -> Result<Option<Vec<u64>>, RError> {
    if topk <= 0.0 {
        return Ok(None);
    }
    // Keys whose ascending order is the descending order of the variances.
    let mut keys = vec![0u32; n];
    let mut nonzero = 0usize;
    for (start, len) in chunk_ranges(n) {
        c.load(start, len)?;
        for (e, key) in keys[start..start + len].iter_mut().enumerate() {
            let var = variance(c.dtype, c.tvs.iter().map(|tv| tv[e]));
            nonzero += usize::from(var != 0.0);
            *key = !magnitude_key(var);
        }
    }
    // torch: an int64 count times a Python float is a float32 tensor, then `int()`.
    let k = (nonzero as f32 * topk as f32) as usize;
    if k == 0 {
        return Ok(None);
    }
    let k = k.min(n);
    let (cut, less) = select(&keys, k - 1);
    let mut ties = k - less;
    let mut mask = vec![0u64; n.div_ceil(64)];
    for (e, &key) in keys.iter().enumerate() {
        let keep = key < cut || (key == cut && ties > 0);
        if key == cut && ties > 0 {
            ties -= 1;
        }
        mask[e / 64] |= u64::from(keep) << (e % 64);
    }
    Ok(Some(mask))
}

fn kept(mask: &Option<Vec<u64>>, e: usize) -> bool {
    mask.as_ref()
        .is_some_and(|m| m[e / 64] >> (e % 64) & 1 == 1)
}

impl MergeMethod for Sce {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        let mut c = task_chunks(call, "sce")?;
        let dtype = c.dtype;
        let topk = call.params.f64("select_topk")?;
        let n = out.numel();
        if c.models.is_empty() {
            for (start, len) in chunk_ranges(n) {
                c.load(start, len)?;
                out.write_f64_at(start, &c.b[..len])?;
            }
            return Ok(());
        }
        // Select: `None` keeps everything; `Some(None)` nothing.
        let select = if topk < 1.0 {
            Some(select_mask(&mut c, n, topk)?)
        } else {
            None
        };
        let masked = |tvs: &mut [Vec<f64>], start: usize, len: usize| {
            if let Some(mask) = &select {
                for e in 0..len {
                    if !kept(mask, start + e) {
                        for tv in tvs.iter_mut() {
                            tv[e] *= 0.0;
                        }
                    }
                }
            }
        };
        // Calculate: the sums of squares, in element order (as `Iterator::sum` folds).
        let mut sums = vec![std::iter::empty::<f64>().sum::<f64>(); c.models.len()];
        for (start, len) in chunk_ranges(n) {
            c.load(start, len)?;
            masked(&mut c.tvs, start, len);
            for (s, tv) in sums.iter_mut().zip(&c.tvs) {
                for &d in &tv[..len] {
                    *s += round_to(dtype, d * d);
                }
            }
        }
        let w = weights(dtype, &sums, n);
        // Erase and combine.
        let acc = accumulator(dtype);
        let floor = round_to(dtype, 1e-6);
        let mut result = vec![0.0; CHUNK_ELEMENTS];
        for (start, len) in chunk_ranges(n) {
            c.load(start, len)?;
            masked(&mut c.tvs, start, len);
            for (e, r) in result[..len].iter_mut().enumerate() {
                let total = round_to(
                    dtype,
                    c.tvs.iter().fold(0.0, |s, tv| round_to(acc, s + tv[e])),
                );
                let majority = if total >= 0.0 { 1 } else { -1 };
                let (mut num, mut den) = (0.0, 0.0);
                for (tv, &wi) in c.tvs.iter().zip(&w) {
                    let wi = if sign(tv[e]) == majority { wi } else { 0.0 };
                    num = round_to(acc, num + round_to(dtype, tv[e] * wi));
                    den = round_to(acc, den + wi);
                }
                let (num, den) = (round_to(dtype, num), round_to(dtype, den));
                let delta = round_to(dtype, num / den.max(floor));
                *r = round_to(dtype, c.b[e] + delta);
            }
            out.write_f64_at(start, &result[..len])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gta::task_vectors;
    use crate::gta::tests::Grid;
    use crate::select::{top_k_mask, TieBreak};
    use mosaic_abi::ParamScope;

    /// Population variance across models per element, as torch's CPU `var(dim=0,
    /// unbiased=False)` computes it (Welford in f64), rounded to `dtype`.
    fn whole_variance(dtype: DType, tvs: &[Vec<f64>]) -> Vec<f64> {
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
    fn whole_select_mask(dtype: DType, tvs: &[Vec<f64>], topk: f64) -> Vec<bool> {
        let len = tvs[0].len();
        if topk <= 0.0 {
            return vec![false; len];
        }
        let var = whole_variance(dtype, tvs);
        let nonzero = var.iter().filter(|&&v| v != 0.0).count();
        // torch: an int64 count times a Python float is a float32 tensor, then `int()`.
        let k = (nonzero as f32 * topk as f32) as usize;
        if k == 0 {
            return vec![false; len];
        }
        top_k_mask(&var, k, TieBreak::Index)
    }

    /// mergekit's `sce_weight`: `mean(δ_i²)` normalized to sum 1 (uniform when the sum is tiny).
    fn whole_weights(dtype: DType, tvs: &[Vec<f64>]) -> Vec<f64> {
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

    /// The whole-tensor formulation this method had before it streamed.
    fn whole_tensor(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let (dtype, base) = crate::gta::prepare(call, out, "sce")?;
        let topk = call.params.f64("select_topk")?;
        let mut tvs: Vec<Vec<f64>> = task_vectors(call, dtype, &base).map(|(_, d)| d).collect();
        if tvs.is_empty() {
            return out.write_f64(&base);
        }
        if topk < 1.0 {
            let keep = whole_select_mask(dtype, &tvs, topk);
            for tv in &mut tvs {
                for (d, &k) in tv.iter_mut().zip(&keep) {
                    if !k {
                        *d *= 0.0;
                    }
                }
            }
        }
        let w = whole_weights(dtype, &tvs);
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

    /// The streamed merge equals the whole-tensor one bit for bit: every dtype, 0 to 4
    /// models, `select_topk` from 0 to 1, tensors of one chunk and of several, values on a
    /// coarse grid (equal variances straddle the cut; many variances are zero).
    #[test]
    fn streamed_equals_whole_tensor() {
        let d = Sce::descriptor();
        let mut checked = 0;
        for (case, shape) in [vec![37u64, 29], vec![3, 8200], vec![2, 3, 4100]]
            .into_iter()
            .enumerate()
        {
            for dtype in [DType::BF16, DType::F16, DType::F32, DType::F64] {
                for (m, topk) in [
                    (3usize, 0.4),
                    (1, 0.5),
                    (2, 1.0),
                    (4, 0.0),
                    (0, 0.3),
                    (3, 0.999),
                ] {
                    let grid =
                        Grid::new(dtype, &shape, 1 + case as u64, m, |i| (10 * i + 7, 3 + i));
                    let per_model = vec![ParamMap::new(); m];
                    let global = ParamMap::new()
                        .with("select_topk", topk)
                        .resolve(&d.params, ParamScope::Global)
                        .unwrap();
                    let (fast, slow) =
                        grid.outputs(&per_model, &global, |c, o| Sce.merge(c, o), whole_tensor);
                    assert!(fast == slow, "{dtype:?} case {case} models {m} topk {topk}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 72);
    }
}
