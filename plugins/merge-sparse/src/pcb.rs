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
//!
//! **Streaming.** No tensor-sized buffer: every pass reads the (memory-mapped) inputs chunk by
//! chunk and recomputes the task vectors and scores there. Passes: the min and max of each
//! `τ_i ⊙ τ_j` (i ≤ j; the intra term uses `τ_i ⊙ τ_i` too), the largest normalized value,
//! the softmax denominators, then the drop thresholds by a radix select over the scores' bit
//! patterns (16 bits per pass; once a bucket holds at most 2^20 scores they are gathered and
//! the threshold picked among them, so usually two passes), and the combine, which writes the
//! output. Each value is computed as the whole-tensor formulation computes it, in the same
//! order, so the result is the same bits (`tests::streamed_equals_whole_tensor`).

use mosaic_abi::{
    chunk_ranges, AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError,
    TensorMut, CHUNK_ELEMENTS,
};

use crate::chunks::{task_chunks, TaskChunks};
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

/// One `Softmax(scale · Norm(x))` over a whole tensor `x`, accumulated pass by pass: the min
/// and max, then the largest `z = scale·(x − min)/(max − min)`, then `Σ exp(z − z_max)`.
#[derive(Clone, Copy, Debug)]
struct Softmax {
    scale: f64,
    lo: f64,
    hi: f64,
    max: f64,
    total: f64,
}

impl Softmax {
    fn new(scale: f64) -> Softmax {
        Softmax {
            scale,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            max: f64::NEG_INFINITY,
            // `Iterator::sum`'s starting value.
            total: std::iter::empty::<f64>().sum(),
        }
    }

    fn see_range(&mut self, v: f64) {
        self.lo = self.lo.min(v);
        self.hi = self.hi.max(v);
    }

    /// `scale · Norm(v)`, all zeros when the tensor is constant.
    fn z(&self, v: f64) -> f64 {
        if self.hi > self.lo {
            self.scale * (v - self.lo) / (self.hi - self.lo)
        } else {
            0.0
        }
    }

    fn see_max(&mut self, v: f64) {
        self.max = self.max.max(self.z(v));
    }

    fn exp(&self, v: f64) -> f64 {
        (self.z(v) - self.max).exp()
    }

    fn see_total(&mut self, v: f64) {
        self.total += self.exp(v);
    }

    fn value(&self, v: f64) -> f64 {
        self.exp(v) / self.total
    }
}

/// The softmaxes of one tensor: the intra term of each task (`τ_i ⊙ τ_i`, scale N) and one
/// per unordered pair of tasks (`τ_i ⊙ τ_j`, scale 1; the product is symmetric).
struct Scores {
    n: usize,
    intra: Vec<Softmax>,
    pairs: Vec<Softmax>,
    /// Scratch: the current element's pair products and softmaxes.
    prods: Vec<f64>,
    soft: Vec<f64>,
}

impl Scores {
    fn new(n: usize) -> Scores {
        let pairs = n * (n + 1) / 2;
        Scores {
            n,
            intra: vec![Softmax::new(n as f64); n],
            pairs: vec![Softmax::new(1.0); pairs],
            prods: vec![0.0; pairs],
            soft: vec![0.0; pairs],
        }
    }

    fn pair(&self, i: usize, j: usize) -> usize {
        let (i, j) = (i.min(j), i.max(j));
        i * self.n - i * (i + 1) / 2 + j
    }

    /// Fill `prods` with the pair products of one element's task-vector values `t`.
    fn products(&mut self, t: impl Fn(usize) -> f64) {
        let mut p = 0;
        for i in 0..self.n {
            for j in i..self.n {
                self.prods[p] = t(i) * t(j);
                p += 1;
            }
        }
    }

    /// Feed one element to every softmax with `step` (a statistics pass).
    fn see(&mut self, t: impl Fn(usize) -> f64, step: fn(&mut Softmax, f64)) {
        self.products(&t);
        for i in 0..self.n {
            let p = self.pair(i, i);
            step(&mut self.intra[i], self.prods[p]);
        }
        for (s, &v) in self.pairs.iter_mut().zip(&self.prods) {
            step(s, v);
        }
    }

    /// The balancing scores `β_i = β_intra,i · β_inter,i` of one element.
    fn betas(&mut self, t: impl Fn(usize) -> f64, beta: &mut [f64]) {
        self.products(&t);
        for ((s, m), &v) in self.soft.iter_mut().zip(&self.pairs).zip(&self.prods) {
            *s = m.value(v);
        }
        for (i, b) in beta.iter_mut().enumerate() {
            let intra = self.intra[i].value(self.prods[self.pair(i, i)]);
            let inter = (0..self.n).fold(0.0, |s, j| s + self.soft[self.pair(i, j)]);
            *b = intra * inter;
        }
    }
}

/// A key whose unsigned order is `f64::total_cmp`'s order.
fn total_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | 1 << 63
    }
}

fn from_total_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Scores gathered into memory once the bucket of the threshold holds at most this many.
const GATHER: usize = 1 << 20;

/// The search for one task's drop threshold `sorted(β_i)[at]` (in `total_cmp` order).
struct Cut {
    /// The rank still sought among the scores whose key starts with `prefix`.
    at: usize,
    /// The top `bits` bits of the threshold's key, found so far.
    prefix: u64,
    bits: u32,
    /// How many scores share that prefix.
    count: usize,
    hist: Vec<usize>,
    gathered: Vec<f64>,
    threshold: Option<f64>,
}

impl Cut {
    fn new(at: usize, n: usize) -> Cut {
        Cut {
            at,
            prefix: 0,
            bits: 0,
            count: n,
            hist: Vec::new(),
            gathered: Vec::new(),
            threshold: None,
        }
    }

    fn in_bucket(&self, key: u64) -> bool {
        self.bits == 0 || key >> (64 - self.bits) == self.prefix
    }

    fn see(&mut self, beta: f64) {
        let key = total_key(beta);
        if self.threshold.is_some() || !self.in_bucket(key) {
            return;
        }
        if self.count <= GATHER {
            self.gathered.push(beta);
        } else {
            self.hist[((key >> (48 - self.bits)) & 0xffff) as usize] += 1;
        }
    }

    fn start_pass(&mut self) {
        if self.threshold.is_none() && self.count > GATHER {
            self.hist.clear();
            self.hist.resize(1 << 16, 0);
        }
    }

    /// After a pass: narrow the bucket by 16 bits, or pick the threshold among the gathered.
    fn end_pass(&mut self) {
        if self.threshold.is_some() {
            return;
        }
        if self.count <= GATHER {
            let (_, &mut t, _) = self
                .gathered
                .select_nth_unstable_by(self.at, f64::total_cmp);
            self.threshold = Some(t);
            self.gathered = Vec::new();
            return;
        }
        let mut digit = 0;
        while self.at >= self.hist[digit] {
            self.at -= self.hist[digit];
            digit += 1;
        }
        self.prefix = self.prefix << 16 | digit as u64;
        self.bits += 16;
        self.count = self.hist[digit];
        if self.bits == 64 {
            self.threshold = Some(from_total_key(self.prefix));
        }
    }
}

/// One pass over the tensor: `each(scores, task values of the element, element index)`.
fn pass(
    c: &mut TaskChunks<'_>,
    n: usize,
    mut each: impl FnMut(&[Vec<f64>], usize, usize),
) -> Result<(), RError> {
    for (start, len) in chunk_ranges(n) {
        c.load(start, len)?;
        for e in 0..len {
            each(&c.tvs, e, start + e);
        }
    }
    Ok(())
}

impl MergeMethod for Pcb {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        let mut c = task_chunks(call, "pcb")?;
        let dtype = c.dtype;
        let r = call.params.f64("density")?;
        if !(r > 0.0 && r <= 1.0) {
            return Err(RError::param(
                "density",
                format!("must lie in (0, 1], got {r}"),
            ));
        }
        let lambda = call.params.f64("lambda")?;
        let n = out.numel();
        let m = c.models.len();
        if m == 0 {
            for (start, len) in chunk_ranges(n) {
                c.load(start, len)?;
                out.write_f64_at(start, &c.b[..len])?;
            }
            return Ok(());
        }
        let mut sc = Scores::new(m);
        for step in [Softmax::see_range, Softmax::see_max, Softmax::see_total] {
            pass(&mut c, n, |tvs, e, _| sc.see(|i| tvs[i][e], step))?;
        }
        // The drop step: zero the scores below `sorted(β_i)[⌊(1 − r)·d⌋]`.
        let mut beta = vec![0.0; m];
        let mut cuts: Vec<Cut> = if n > 0 && r < 1.0 {
            let at = (((1.0 - r) * n as f64).floor() as usize).min(n - 1);
            (0..m).map(|_| Cut::new(at, n)).collect()
        } else {
            Vec::new()
        };
        while cuts.iter().any(|c| c.threshold.is_none()) {
            cuts.iter_mut().for_each(Cut::start_pass);
            pass(&mut c, n, |tvs, e, _| {
                sc.betas(|i| tvs[i][e], &mut beta);
                for (cut, &b) in cuts.iter_mut().zip(&beta) {
                    cut.see(b);
                }
            })?;
            cuts.iter_mut().for_each(Cut::end_pass);
        }
        let thresholds: Vec<Option<f64>> = cuts.iter().map(|c| c.threshold).collect();
        let mut result = vec![0.0; CHUNK_ELEMENTS];
        for (start, len) in chunk_ranges(n) {
            c.load(start, len)?;
            for (e, out) in result[..len].iter_mut().enumerate() {
                sc.betas(|i| c.tvs[i][e], &mut beta);
                let (mut num, mut den) = (0.0, 0.0);
                for (i, tv) in c.tvs.iter().enumerate() {
                    let mut s = beta[i];
                    if thresholds.get(i).copied().flatten().is_some_and(|t| s < t) {
                        s = 0.0;
                    }
                    num += s * tv[e];
                    den += s;
                }
                let merged = if den > 0.0 { num / den } else { 0.0 };
                let delta = round_to(dtype, lambda * merged);
                *out = round_to(dtype, c.b[e] + delta);
            }
            out.write_f64_at(start, &result[..len])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gta::tests::Grid;
    use crate::gta::{prepare, task_vectors};
    use mosaic_abi::ParamScope;
    use mosaic_tensor::DType;

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
    fn balancing_scores(tvs: &[Vec<f64>]) -> Vec<Vec<f64>> {
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

    /// The whole-tensor formulation this method had before it streamed.
    fn whole_tensor(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let (dtype, base) = prepare(call, out, "pcb")?;
        let r = call.params.f64("density")?;
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

    fn check(shape: &[u64], dtype: DType, m: usize, r: f64, case: u64) {
        let grid = Grid::new(dtype, shape, 1 + case, m, |i| (10 * i + 7 + case, 3 + i));
        let per_model = vec![ParamMap::new(); m];
        let global = ParamMap::new()
            .with("density", r)
            .with("lambda", if case.is_multiple_of(2) { 1.0 } else { 0.8 })
            .resolve(&Pcb::descriptor().params, ParamScope::Global)
            .unwrap();
        let (fast, slow) = grid.outputs(&per_model, &global, |c, o| Pcb.merge(c, o), whole_tensor);
        assert!(fast == slow, "{dtype:?} {shape:?} models {m} density {r}");
    }

    /// The streamed merge equals the whole-tensor one bit for bit: every dtype, 0 to 4
    /// models, densities from tiny to 1, tensors of one chunk and of several, values on a
    /// coarse grid (equal scores straddle the threshold).
    #[test]
    fn streamed_equals_whole_tensor() {
        for (case, shape) in [vec![37u64, 29], vec![3, 8200], vec![2, 3, 4100]]
            .into_iter()
            .enumerate()
        {
            for dtype in [DType::BF16, DType::F16, DType::F32, DType::F64] {
                for (m, r) in [
                    (3usize, 0.1),
                    (1, 0.5),
                    (2, 1.0),
                    (4, 0.001),
                    (0, 0.3),
                    (2, 0.93),
                ] {
                    check(&shape, dtype, m, r, case as u64);
                }
            }
        }
    }

    /// A tensor larger than [`GATHER`] takes histogram passes before the gather (run in
    /// release: `cargo test --release -p mosaic-plugin-merge-sparse -- --ignored`).
    #[test]
    #[ignore = "slow in debug builds"]
    fn streamed_equals_whole_tensor_past_the_gather_size() {
        check(&[3, GATHER as u64 / 2 + 5], DType::BF16, 3, 0.1, 5);
        check(&[GATHER as u64 + 77], DType::F32, 2, 0.5, 6);
    }

    #[test]
    fn total_keys_order_as_total_cmp() {
        let xs = [
            -f64::INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-300,
            0.5,
            3.0,
            f64::INFINITY,
            f64::NAN,
        ];
        for a in xs {
            assert_eq!(from_total_key(total_key(a)).to_bits(), a.to_bits());
            for b in xs {
                assert_eq!(total_key(a).cmp(&total_key(b)), a.total_cmp(&b), "{a} {b}");
            }
        }
    }
}
