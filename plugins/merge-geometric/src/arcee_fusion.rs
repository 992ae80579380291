//! Arcee Fusion (mergekit 0.1.5 `arcee_fusion`): take the other model's value only where its
//! change from the base is important, by a KL-weighted magnitude and an IQR outlier threshold.

use mosaic_abi::{
    chunk_ranges, AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, RError, TensorMut,
    TensorRef,
};

use crate::chunked::{row_blocks, Chunk, Sources, Stream};
use crate::common::is_f64;
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
pub trait FusionReal: Stream {
    /// `torch.softmax(x, dim=-1)` over rows of `row` elements.
    fn softmax_rows(x: &[Self], row: usize) -> Vec<Self>;
    /// `torch.log`.
    fn log(self) -> Self;
    /// `torch.sum(x, dim=-1)` over rows of `row` elements.
    fn row_sums(x: &[Self], row: usize) -> Vec<Self>;
    /// Bits of the [`order_key`](FusionReal::order_key).
    const KEY_BITS: u32;
    /// An unsigned key that orders as `torch.sort` orders the values: ascending, every NaN
    /// last (`-0.0` just before `+0.0`, which the threshold cannot tell apart).
    fn order_key(self) -> u64;
    /// The value of a key ([`order_key`](FusionReal::order_key) inverted; NaNs give a NaN).
    fn from_order_key(key: u64) -> Self;
}

/// Sign-magnitude float bits to an order key, and back: negative values have their bits
/// flipped, non-negative ones the sign bit set.
macro_rules! order_key {
    ($bits:ty, $nan:expr) => {
        const KEY_BITS: u32 = <$bits>::BITS;
        fn order_key(self) -> u64 {
            const SIGN: $bits = 1 << (<$bits>::BITS - 1);
            let b = if self.is_nan() { $nan } else { self.to_bits() };
            (if b & SIGN != 0 { !b } else { b | SIGN }) as u64
        }
        fn from_order_key(key: u64) -> Self {
            const SIGN: $bits = 1 << (<$bits>::BITS - 1);
            let k = key as $bits;
            Self::from_bits(if k & SIGN != 0 { k & !SIGN } else { !k })
        }
    };
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
    order_key!(u32, 0x7fff_ffff);
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
    order_key!(u64, 0x7fff_ffff_ffff_ffff);
}

/// `KL(p || q)` of each row of `row` elements (`base` and `other` hold whole rows), where
/// `p = softmax(other) + 1e-8` and `q = softmax(base) + 1e-8`: mergekit's importance of an
/// element is `|other - base|` times its row's KL.
pub fn row_kl<F: FusionReal>(base: &[F], other: &[F], row: usize) -> Vec<F> {
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
    F::row_sums(&terms, row)
}

/// Digits of a radix-select pass.
const DIGIT_BITS: u32 = 16;

/// The values of given ranks (0-based, in `torch.sort` order) among a stream of values fed
/// again in every pass: each pass histograms the next 16 bits of the
/// [`order key`](FusionReal::order_key) of the values that agree with a rank's bits found so
/// far (two passes for `f32`, four for `f64`). Memory: one histogram per rank.
struct RadixSelect {
    /// Per rank: the rank among the values that agree with `prefix`, and that prefix.
    ranks: Vec<(usize, u64)>,
    hists: Vec<Vec<usize>>,
    /// Bits of the key below the current digit.
    shift: u32,
}

impl RadixSelect {
    fn new(ranks: &[usize], key_bits: u32) -> RadixSelect {
        RadixSelect {
            ranks: ranks.iter().map(|&r| (r, 0)).collect(),
            hists: vec![vec![0; 1 << DIGIT_BITS]; ranks.len()],
            shift: key_bits - DIGIT_BITS,
        }
    }

    /// Count one value's key in this pass.
    fn count(&mut self, key: u64) {
        let high = key.checked_shr(self.shift + DIGIT_BITS).unwrap_or(0);
        let digit = (key >> self.shift) as usize & ((1 << DIGIT_BITS) - 1);
        for (&(_, prefix), hist) in self.ranks.iter().zip(&mut self.hists) {
            if high == prefix {
                hist[digit] += 1;
            }
        }
    }

    /// End a pass: fix each rank's next digit. Returns the keys of the ranks once the last
    /// digit is fixed, `None` while another pass is needed.
    fn end_pass(&mut self) -> Option<Vec<u64>> {
        for ((rank, prefix), hist) in self.ranks.iter_mut().zip(&mut self.hists) {
            let mut digit = 0;
            while *rank >= hist[digit] {
                *rank -= hist[digit];
                digit += 1;
            }
            *prefix = (*prefix << DIGIT_BITS) | digit as u64;
            hist.fill(0);
        }
        if self.shift == 0 {
            return Some(self.ranks.iter().map(|&(_, key)| key).collect());
        }
        self.shift -= DIGIT_BITS;
        None
    }
}

/// Arcee Fusion of the views' base and other model, written into `out` chunk by chunk:
///
/// 1. in blocks of whole rows, each row's KL (kept: one value per row), and the first digit
///    of every importance;
/// 2. chunk by chunk, the next digits of the importances at the three quantile ranks (one
///    pass for `f32`, three for `f64`), each importance recomputed from its row's KL;
/// 3. chunk by chunk, the output.
fn arcee_fusion_streamed<F: FusionReal>(
    v: &Sources<'_>,
    base: TensorRef<'_>,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let n = v.numel();
    if n == 0 {
        return Ok(());
    }
    let row = v.shape.last().map_or(n, |&d| (d as usize).max(1));
    let mut reader = Chunk::<F>::new(vec![base, v.others[0]], v.dtype);
    // mergekit samples 1e6 entries of larger tensors at random; we take exact quantiles.
    let ranks: Vec<usize> = [0.25f32, 0.5, 0.75]
        .iter()
        .map(|&q| (q * (n - 1) as f32) as usize)
        .collect();
    let mut select = RadixSelect::new(&ranks, F::KEY_BITS);
    let importance = |b: F, o: F, kl: F| (o - b).abs() * kl;
    let mut kls = Vec::with_capacity(n / row);
    for (start, len) in row_blocks(n, row) {
        let bufs = reader.read(start, len)?;
        let first = kls.len();
        kls.extend(row_kl(bufs[0], bufs[1], row));
        for (i, (&b, &o)) in bufs[0].iter().zip(bufs[1]).enumerate() {
            select.count(importance(b, o, kls[first + i / row]).order_key());
        }
    }
    let quantiles = loop {
        if let Some(keys) = select.end_pass() {
            break keys;
        }
        for (start, len) in chunk_ranges(n) {
            let bufs = reader.read(start, len)?;
            for (i, (&b, &o)) in bufs[0].iter().zip(bufs[1]).enumerate() {
                select.count(importance(b, o, kls[(start + i) / row]).order_key());
            }
        }
    };
    let [q1, med, q3] = [0, 1, 2].map(|i| F::from_order_key(quantiles[i]));
    let threshold = med + F::of(1.5) * (q3 - q1);
    let mut result = Vec::new();
    for (start, len) in chunk_ranges(n) {
        let bufs = reader.read(start, len)?;
        result.clear();
        result.extend(
            bufs[0]
                .iter()
                .zip(bufs[1])
                .enumerate()
                .map(|(i, (&b, &o))| {
                    let fused = importance(b, o, kls[(start + i) / row]) >= threshold;
                    b + (o - b) * if fused { F::ONE } else { F::ZERO }
                }),
        );
        F::write_range(out, start, &result)?;
    }
    Ok(())
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
        let views = Sources::of(call, out)?;
        let base = views.require_base("arcee_fusion", call.name())?;
        views.expect_others("arcee_fusion", call.name(), 1, Some(1))?;
        arcee_fusion_streamed::<F>(&views, base, out)
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
    use crate::chunked::testing::{assert_streamed_equals_whole, pattern};
    use crate::common::gather;

    /// mergekit's importance of each element: `|other - base| * KL(p || q)` of its row, where
    /// `p = softmax(other) + 1e-8` and `q = softmax(base) + 1e-8` over the last axis.
    /// (The KL of a row is the same function in both forms: [`row_kl`] over the whole tensor.)
    fn importance<F: FusionReal>(base: &[F], other: &[F], row: usize) -> Vec<F> {
        let kl = row_kl(base, other, row);
        (0..base.len())
            .map(|i| (other[i] - base[i]).abs() * kl[i / row])
            .collect()
    }

    /// The whole-tensor Arcee Fusion of `base` and `other` of `shape`: the reference for the
    /// streamed path.
    fn arcee_fusion<F: FusionReal>(base: &[F], other: &[F], shape: &[u64]) -> Vec<F> {
        let n = base.len();
        if n == 0 {
            return Vec::new();
        }
        let row = shape.last().map_or(n, |&d| (d as usize).max(1));
        let importance = importance(base, other, row);
        // mergekit samples 1e6 entries of larger tensors at random; we take exact quantiles.
        let mut sorted = importance.clone();
        // NaNs last, as torch.sort puts them.
        let nan = |x: &F| x.partial_cmp(x).is_none();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or_else(|| nan(a).cmp(&nan(b))));
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

    /// The method as it ran before streaming: whole tensors in, whole tensor out.
    fn whole<F: FusionReal>(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        let base = inputs.base.as_deref().expect("a base");
        F::write(out, &arcee_fusion(base, &inputs.others[0], &inputs.shape))
    }

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

    #[test]
    fn order_keys_sort_as_torch_does() {
        let values = [
            f32::NEG_INFINITY,
            -2.5,
            -1e-40,
            -0.0,
            0.0,
            1e-40,
            1.0,
            f32::INFINITY,
        ];
        for w in values.windows(2) {
            assert!(w[0].order_key() < w[1].order_key(), "{w:?}");
            assert!(
                (w[0] as f64).order_key() < (w[1] as f64).order_key(),
                "{w:?}"
            );
        }
        for v in values {
            assert_eq!(f32::from_order_key(v.order_key()).to_bits(), v.to_bits());
            let w = v as f64;
            assert_eq!(f64::from_order_key(w.order_key()).to_bits(), w.to_bits());
        }
        for nan in [f32::NAN, -f32::NAN] {
            assert_eq!(nan.order_key(), u32::MAX as u64);
            assert!(f32::from_order_key(nan.order_key()).is_nan());
            assert_eq!((nan as f64).order_key(), u64::MAX);
        }
    }

    #[test]
    fn radix_select_finds_ranks_among_ties() {
        let values: Vec<f64> = (0..1000).map(|i| ((i * 37) % 11) as f64 - 3.0).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let ranks = [0, 249, 500, 999];
        let mut select = RadixSelect::new(&ranks, f64::KEY_BITS);
        let keys = loop {
            for &v in &values {
                select.count(v.order_key());
            }
            if let Some(keys) = select.end_pass() {
                break keys;
            }
        };
        for (&r, &k) in ranks.iter().zip(&keys) {
            assert_eq!(f64::from_order_key(k), sorted[r], "rank {r}");
        }
    }

    /// The other model equal to the base on every third element (zero importance: ties at
    /// the quantiles) and on whole rows (zero KL); with `inf`, one infinite element in row 5
    /// (a NaN KL: NaN importances, sorted last).
    fn inputs(inf: bool) -> impl Fn(usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        move |n| {
            let base: Vec<f64> = pattern(n, 1).iter().map(|v| v * 20.0).collect();
            let d = pattern(n, 2);
            let mut other: Vec<f64> = (0..n)
                .map(|i| match i {
                    _ if i % 3 == 0 || (i / 300) % 7 == 2 => base[i],
                    _ if i % 101 == 7 => base[i] + 1.0,
                    _ => base[i] + d[i],
                })
                .collect();
            if inf {
                other[5 * 300 + 11] = f64::INFINITY;
            }
            (base, vec![other])
        }
    }

    #[test]
    fn streamed_equals_whole_tensor() {
        let n = 3 * mosaic_abi::CHUNK_ELEMENTS + 17;
        let shapes: [&[u64]; 3] = [&[n as u64], &[97, 300], &[3, 9000]];
        let m = ArceeFusion::new(&ParamMap::new()).unwrap();
        let reference = |c: &MergeCall<'_>, o: &mut TensorMut<'_>| {
            if is_f64(c) {
                whole::<f64>(c, o)
            } else {
                whole::<f32>(c, o)
            }
        };
        for inf in [false, true] {
            assert_streamed_equals_whole(
                &shapes,
                &inputs(inf),
                &ParamMap::new(),
                &|c, o| m.merge(c, o),
                &reference,
            );
        }
    }
}
