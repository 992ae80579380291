//! Float32 kernels with the exact rounding of torch's CPU kernels (torch 2.15, x86-64, the
//! `AVX512` CPU capability, as mergekit 0.1.5 runs them), for methods whose outcome can hinge on
//! the last bit of an intermediate (arcee_fusion compares importances to a quantile threshold).
//!
//! - [`exp`]: `Vectorized<float>::exp`, which is SLEEF's `expf` with 1-ULP bound (the FMA
//!   variant): a range reduction by `ln 2` in two parts and a degree-6 polynomial.
//! - [`softmax_lastdim`]: `torch.softmax(x, dim=-1)`: per row the maximum, `exp(x - max)`, the
//!   sum over 16-lane accumulators folded as a tree, then multiplication by `1 / sum`.
//! - [`sum_lastdim`]: `torch.sum(x, dim=-1)`: the cascade sum of `SumKernel.cpp` over 8-lane
//!   vectors (torch registers the sum kernel for AVX2 only, so AVX512 machines run it too).
//! - [`vector_norm`]: `torch.linalg.vector_norm(x)` of a contiguous float32 tensor: squares
//!   summed in 8 lanes, the lanes folded in order, the tail after the last whole vector, then a
//!   correctly rounded square root.
//! - [`dot_half`]: `torch.dot` of two bfloat16 (or float16) vectors: float32 products summed in
//!   eight 8-lane accumulators, folded as a tree, then the whole 16-element vectors after the
//!   last 64-element block in one more accumulator, then the rest one by one.
//!
//! Both run with 8 float lanes (AVX2 vectors) on the AVX512 machine too: inputs with large
//! cancelling terms tell 8 lanes from 16, and torch agreed with 8 every time.
//! - [`ln`]: the correctly rounded logarithm. torch's `torch.log` calls Intel MKL's `vsLn` in
//!   high-accuracy mode, which is not correctly rounded and whose code is not public; on the
//!   fixture data the two differ by one ULP in about 0.6% of the elements.
//!
//! Checked bit for bit against torch (see `docs/algorithms/arcee_fusion.md`).

/// Lanes of an AVX512 float vector (softmax).
const SOFTMAX_LANES: usize = 16;
/// Lanes of an AVX2 float vector (sum, vector norm, half-precision dot).
const SUM_LANES: usize = 8;
/// Float32 accumulators of the half-precision dot's main loop.
const DOT_REGISTERS: usize = 8;

/// `2^q` for `q` in the normal exponent range, built from its bits.
fn pow2i(q: i32) -> f32 {
    f32::from_bits(((q + 0x7f) as u32) << 23)
}

/// torch's vectorized float `exp` (SLEEF `expf`, 1-ULP variant, with fused multiply-adds).
pub fn exp(d: f32) -> f32 {
    // ln 2 split in a high part with trailing zero bits (0.693145751953125) and a low part
    // (1.4286068e-6), and the polynomial's coefficients, as SLEEF's float constants.
    let ln2_hi = f32::from_bits(0x3f31_7200);
    let ln2_lo = f32::from_bits(0x35bf_be8e);
    let q = (d * std::f32::consts::LOG2_E).round_ties_even() as i32;
    let qf = q as f32;
    let s = qf.mul_add(-ln2_lo, qf.mul_add(-ln2_hi, d));
    // 1.9852762e-4, then 1.3930436e-3, 8.333361e-3, 4.1666485e-2, 0.16666667, 0.5.
    let mut u = f32::from_bits(0x3950_2bda);
    for c in [
        0x3ab6_96c9,
        0x3c08_88a6,
        0x3d2a_aa7a,
        0x3e2a_aaab,
        0x3f00_0000,
    ] {
        u = u.mul_add(s, f32::from_bits(c));
    }
    u = 1.0 + (s * s).mul_add(u, s);
    // Scale by 2^q in two steps so that q near the range ends does not overflow.
    u = u * pow2i(q >> 1) * pow2i(q - (q >> 1));
    if d < -104.0 {
        0.0
    } else if d > 100.0 {
        f32::INFINITY
    } else {
        u
    }
}

/// The correctly rounded natural logarithm (see the module notes for how torch differs).
pub fn ln(x: f32) -> f32 {
    (x as f64).ln() as f32
}

/// Lane-wise tree fold of one 16-lane accumulator: halves, quarters, pairs, then lanes 0 and 1.
fn tree_sum(mut v: [f32; SOFTMAX_LANES]) -> f32 {
    for step in [8, 4, 2, 1] {
        let w = v;
        for (i, x) in v.iter_mut().enumerate() {
            *x = w[i] + w[i ^ step];
        }
    }
    v[0]
}

/// `at::vec::reduce_all` with `+` over one row (16 lanes, AVX512).
fn reduce_all_sum(x: &[f32]) -> f32 {
    let n = x.len();
    if n < SOFTMAX_LANES {
        // Fewer elements than lanes: a plain running sum.
        return x.iter().skip(1).fold(x[0], |a, &b| a + b);
    }
    let mut acc = [0f32; SOFTMAX_LANES];
    acc.copy_from_slice(&x[..SOFTMAX_LANES]);
    let mut d = SOFTMAX_LANES;
    while d + SOFTMAX_LANES <= n {
        for (a, &b) in acc.iter_mut().zip(&x[d..d + SOFTMAX_LANES]) {
            *a += b;
        }
        d += SOFTMAX_LANES;
    }
    for (a, &b) in acc.iter_mut().zip(&x[d..]) {
        *a += b;
    }
    tree_sum(acc)
}

/// `torch.softmax(x, dim=-1)` in float32 over rows of `row` elements.
pub fn softmax_lastdim(x: &[f32], row: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for r in x.chunks(row.max(1)) {
        let max = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let start = out.len();
        out.extend(r.iter().map(|&v| exp(v - max)));
        let inv = 1.0 / reduce_all_sum(&out[start..]);
        for v in &mut out[start..] {
            *v *= inv;
        }
    }
    out
}

/// `ceil(log2(x))` (0 for 0 and 1).
fn ceil_log2(x: usize) -> usize {
    if x <= 1 {
        0
    } else {
        (usize::BITS - (x - 1).leading_zeros()) as usize
    }
}

/// Levels of `multi_row_sum`'s cascade.
const LEVELS: usize = 4;

/// The state of `multi_row_sum` of `SumKernel.cpp`: `nrows` interleaved running sums of `size`
/// items each, cascaded over 4 levels so that only partial sums of similar size are added.
/// Items are pushed one at a time, in order, so a row can be summed a chunk at a time.
struct Cascade<const W: usize> {
    /// `LEVELS` levels of `nrows` partial sums.
    acc: Vec<Vec<[f32; W]>>,
    /// log2 of the items per level-0 group.
    power: usize,
    /// Items in the whole groups, after which items are only added to level 0.
    whole: usize,
    /// Items pushed so far.
    i: usize,
}

fn add_lanes<const W: usize>(a: &mut [f32; W], b: [f32; W]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

impl<const W: usize> Cascade<W> {
    fn new(nrows: usize, size: usize) -> Self {
        let power = (ceil_log2(size) / LEVELS).max(4);
        Cascade {
            acc: vec![vec![[0f32; W]; nrows]; LEVELS],
            power,
            whole: size >> power << power,
            i: 0,
        }
    }

    /// Add item `i` (`load(k)` for row `k`); after each whole group of `2^power` items, carry
    /// level 0 into level 1, and on up while the item count is a multiple of the next level's
    /// group.
    fn push(&mut self, load: impl Fn(usize) -> [f32; W]) {
        for (k, a) in self.acc[0].iter_mut().enumerate() {
            add_lanes(a, load(k));
        }
        self.i += 1;
        let mask = (1usize << self.power) - 1;
        if self.i & mask != 0 || self.i > self.whole {
            return;
        }
        for j in 1..LEVELS {
            let (lower, upper) = self.acc.split_at_mut(j);
            for (a, b) in upper[0].iter_mut().zip(lower[j - 1].iter_mut()) {
                add_lanes(a, std::mem::replace(b, [0f32; W]));
            }
            if self.i & (mask << (j * self.power)) != 0 {
                break;
            }
        }
    }

    /// The `nrows` sums: the levels added in order.
    fn finish(self) -> Vec<[f32; W]> {
        let mut out = self.acc[0].clone();
        for level in &self.acc[1..] {
            for (o, &v) in out.iter_mut().zip(level) {
                add_lanes(o, v);
            }
        }
        out
    }
}

/// Items interleaved by `row_sum`.
const ILP: usize = 4;

/// `row_sum` of `SumKernel.cpp`: 4 interleaved cascaded sums, the rest added to the first, then
/// the four added in order.
fn row_sum<const W: usize>(load: &dyn Fn(usize) -> [f32; W], size: usize) -> [f32; W] {
    let size_ilp = size / ILP;
    let mut cascade = Cascade::<W>::new(ILP, size_ilp);
    for i in 0..size_ilp {
        cascade.push(|k| load(i * ILP + k));
    }
    let rest: Vec<[f32; W]> = (size_ilp * ILP..size).map(load).collect();
    fold_row_sum(cascade, &rest)
}

/// The end of `row_sum`: the vectors after the last whole group of 4 added to the first
/// partial sum, then the 4 partial sums added in order.
fn fold_row_sum<const W: usize>(cascade: Cascade<W>, rest: &[[f32; W]]) -> [f32; W] {
    let mut partial = cascade.finish();
    for &v in rest {
        add_lanes(&mut partial[0], v);
    }
    let mut total = partial[0];
    for &p in &partial[1..] {
        add_lanes(&mut total, p);
    }
    total
}

/// torch's float32 sum of one contiguous row of a length known in advance, fed a piece at a
/// time ([`RowSum::update`]) so that a long row need not be in memory at once; the result has
/// the bits of [`sum_lastdim`] over the whole row.
///
/// A row of 8 or more elements is summed as 8-lane vectors: 4 interleaved cascaded sums over
/// groups of 4 vectors (32 elements), then the vectors after the last whole group added to the
/// first sum, then the elements after the last whole vector and the 8 lanes, each added in
/// order to a running scalar. Shorter rows use the scalar form of the same kernel.
pub struct RowSum {
    /// Elements of the row.
    n: usize,
    /// Elements fed so far.
    pos: usize,
    /// The cascade over groups of 4 vectors (rows of 8 or more elements).
    cascade: Cascade<SUM_LANES>,
    /// Elements after the last whole group of 4 vectors (fewer than 32), or the whole row
    /// when it is shorter than one vector.
    rest: Vec<f32>,
}

/// Elements in one item of [`RowSum`]'s cascade: 4 vectors of 8 lanes.
pub const ROW_SUM_GROUP: usize = ILP * SUM_LANES;

impl RowSum {
    /// The sum of a row of `n` elements.
    pub fn new(n: usize) -> RowSum {
        RowSum {
            n,
            pos: 0,
            cascade: Cascade::new(ILP, n / SUM_LANES / ILP),
            rest: Vec::new(),
        }
    }

    /// Elements of the row in the whole groups of 4 vectors.
    fn grouped(&self) -> usize {
        if self.n >= SUM_LANES {
            self.n / ROW_SUM_GROUP * ROW_SUM_GROUP
        } else {
            0
        }
    }

    /// Feed the next `x.len()` elements of the row. Every piece but the last must have a
    /// multiple of [`ROW_SUM_GROUP`] elements (panics otherwise).
    pub fn update(&mut self, x: &[f32]) {
        assert!(
            self.pos + x.len() <= self.n,
            "RowSum: more than {} elements",
            self.n
        );
        let grouped = self.grouped();
        let in_groups = grouped.saturating_sub(self.pos).min(x.len());
        assert!(
            in_groups.is_multiple_of(ROW_SUM_GROUP) && (in_groups == x.len() || self.pos + in_groups == grouped),
            "RowSum: a piece before the end of the row must have a multiple of {ROW_SUM_GROUP} elements"
        );
        for g in x[..in_groups].chunks_exact(ROW_SUM_GROUP) {
            self.cascade.push(|k| {
                let mut v = [0f32; SUM_LANES];
                v.copy_from_slice(&g[k * SUM_LANES..(k + 1) * SUM_LANES]);
                v
            });
        }
        self.rest.extend_from_slice(&x[in_groups..]);
        self.pos += x.len();
    }

    /// The sum (after all `n` elements were fed).
    pub fn finish(self) -> f32 {
        assert_eq!(self.pos, self.n, "RowSum: row not complete");
        if self.n < SUM_LANES {
            return row_sum::<1>(&|i| [self.rest[i]], self.n)[0];
        }
        let vectors = self.n / SUM_LANES;
        let rest_vectors = vectors - self.grouped() / SUM_LANES;
        let (vecs, tail) = self.rest.split_at(rest_vectors * SUM_LANES);
        let rest: Vec<[f32; SUM_LANES]> = vecs
            .chunks_exact(SUM_LANES)
            .map(|v| v.try_into().expect("8 lanes"))
            .collect();
        let lanes = fold_row_sum(self.cascade, &rest);
        let tail = tail.iter().fold(0f32, |a, &b| a + b);
        lanes.iter().fold(tail, |a, &b| a + b)
    }
}

/// torch's float32 sum of one contiguous row.
fn sum_row(x: &[f32]) -> f32 {
    let mut s = RowSum::new(x.len());
    s.update(x);
    s.finish()
}

/// `torch.sum(x, dim=-1)` in float32 over rows of `row` elements.
pub fn sum_lastdim(x: &[f32], row: usize) -> Vec<f32> {
    x.chunks(row.max(1)).map(sum_row).collect()
}

/// `torch.linalg.vector_norm(x)` (the 2-norm of all elements) of a contiguous float32 tensor.
///
/// The `norm_two` kernel of `ReduceOpsKernel.cpp` on one row: `acc += v * v` over 8-lane
/// vectors (a rounded product, then a rounded sum), the lanes added in order to lane 0, then the
/// `n % 8` elements after the last vector; then `std::sqrt`. GCC compiled that scalar tail with
/// a 4-wide vector square for the first 4 of 4 to 7 remaining elements (rounded squares, added in
/// order) and fused multiply-adds for the rest.
pub fn vector_norm(x: &[f32]) -> f32 {
    let mut s = VectorNorm::default();
    s.update(x);
    s.finish()
}

/// [`vector_norm`] fed a piece at a time: every piece but the last must have a multiple of 8
/// elements (panics otherwise); the result has the bits of [`vector_norm`] of the whole.
#[derive(Clone, Debug, Default)]
pub struct VectorNorm {
    /// The 8 lanes of squares.
    acc: [f32; SUM_LANES],
    /// The elements after the last whole vector (fewer than 8), once the last piece came.
    tail: Vec<f32>,
}

impl VectorNorm {
    /// Feed the next elements.
    pub fn update(&mut self, x: &[f32]) {
        assert!(
            self.tail.is_empty(),
            "VectorNorm: a piece before the last must have a multiple of {SUM_LANES} elements"
        );
        let whole = x.len() / SUM_LANES * SUM_LANES;
        for v in x[..whole].chunks_exact(SUM_LANES) {
            for (a, &e) in self.acc.iter_mut().zip(v) {
                *a += e * e;
            }
        }
        self.tail.extend_from_slice(&x[whole..]);
    }

    /// The norm of everything fed.
    pub fn finish(&self) -> f32 {
        let mut s = self.acc[1..].iter().fold(self.acc[0], |a, &b| a + b);
        let squared = self.tail.len() / 4 * 4;
        for &e in &self.tail[..squared] {
            s += e * e;
        }
        for &e in &self.tail[squared..] {
            s = e.mul_add(e, s);
        }
        s.sqrt()
    }
}

/// Lane-wise tree fold of one 8-lane accumulator (`vec_reduce_all` with `+`, AVX2): halves,
/// pairs, then lanes 0 and 1.
fn tree_sum8(mut v: [f32; SUM_LANES]) -> f32 {
    for step in [4, 2, 1] {
        let w = v;
        for (i, x) in v.iter_mut().enumerate() {
            *x = w[i] + w[i ^ step];
        }
    }
    v[0]
}

/// `torch.dot` of two bfloat16 or float16 vectors (`bf16_dot_with_fp32_arith` and its float16
/// twin in `ReducedPrecisionFloatGemvFastPathKernel.cpp`), before torch rounds the result to the
/// input dtype. `a` and `b` hold values of that dtype, widened to `f32`.
///
/// Blocks of 64 elements feed 8 accumulators of 8 lanes: accumulator `2k` takes elements
/// `16k..16k+8` of the block, `2k+1` elements `16k+8..16k+16`. The 8 are added pairwise (`i`
/// and `i+4`, then `i+2`, then `i+1`) and folded as a tree. The whole 16-element vectors after
/// the last block go into one more 8-lane accumulator (low half, then high half), tree-folded
/// and added; the last `n % 16` elements are added one by one. The product of two values with
/// at most 11 significant bits is exact in `f32`, so torch's fused multiply-adds round the same
/// way as the separate multiply and add here.
pub fn dot_half(a: &[f32], b: &[f32]) -> f32 {
    let mut d = DotHalf::default();
    d.update(a, b);
    d.finish()
}

/// Elements of one block of [`dot_half`]'s main loop.
pub const DOT_BLOCK: usize = DOT_REGISTERS * SUM_LANES;

/// [`dot_half`] fed a piece at a time: every piece but the last must have a multiple of
/// [`DOT_BLOCK`] elements (panics otherwise); the result has the bits of [`dot_half`] of the
/// whole vectors.
#[derive(Clone, Debug, Default)]
pub struct DotHalf {
    /// The 8 accumulators of 8 lanes.
    sum: [[f32; SUM_LANES]; DOT_REGISTERS],
    /// The elements after the last whole block (fewer than 64), once the last piece came.
    tail: (Vec<f32>, Vec<f32>),
}

impl DotHalf {
    /// Feed the next elements of both vectors (the shorter length counts).
    pub fn update(&mut self, a: &[f32], b: &[f32]) {
        assert!(
            self.tail.0.is_empty(),
            "DotHalf: a piece before the last must have a multiple of {DOT_BLOCK} elements"
        );
        let n = a.len().min(b.len());
        let blocks = n / DOT_BLOCK * DOT_BLOCK;
        for (x, y) in a[..blocks]
            .chunks_exact(DOT_BLOCK)
            .zip(b[..blocks].chunks_exact(DOT_BLOCK))
        {
            for (r, acc) in self.sum.iter_mut().enumerate() {
                let o = r * SUM_LANES;
                for (l, s) in acc.iter_mut().enumerate() {
                    *s += x[o + l] * y[o + l];
                }
            }
        }
        self.tail.0.extend_from_slice(&a[blocks..n]);
        self.tail.1.extend_from_slice(&b[blocks..n]);
    }

    /// The dot product of everything fed.
    pub fn finish(&self) -> f32 {
        const HALF_LANES: usize = 2 * SUM_LANES;
        let mut sum = self.sum;
        let mut width = DOT_REGISTERS;
        while width > 1 {
            width /= 2;
            for i in 0..width {
                let hi = sum[width + i];
                for (s, h) in sum[i].iter_mut().zip(hi) {
                    *s += h;
                }
            }
        }
        let mut total = tree_sum8(sum[0]);
        let (a, b) = (&self.tail.0, &self.tail.1);
        let vectors = a.len() / HALF_LANES * HALF_LANES;
        let mut tail = [0f32; SUM_LANES];
        for (x, y) in a[..vectors]
            .chunks_exact(SUM_LANES)
            .zip(b[..vectors].chunks_exact(SUM_LANES))
        {
            for ((t, &p), &q) in tail.iter_mut().zip(x).zip(y) {
                *t += p * q;
            }
        }
        total += tree_sum8(tail);
        for (&p, &q) in a[vectors..].iter().zip(&b[vectors..]) {
            total += p * q;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_and_exact_at_zero() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(101.0), f32::INFINITY);
        // Normal results only (below about -87.3 they are subnormal).
        for i in -870..=800 {
            let x = i as f32 * 0.1;
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 2.5e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
    }

    /// Inputs where SLEEF's `expf` is not correctly rounded, with the bits torch returns: made by
    /// a small C program calling `Sleef_expf16_u10` exported by torch 2.15.0's
    /// `libtorch_cpu.so` (PyPI wheel) on the softmax inputs of the merge fixtures.
    #[test]
    fn exp_matches_sleef_bits_where_it_is_not_correctly_rounded() {
        let cases: [(u32, u32); 8] = [
            (0xbe0d2366, 0x3f5f0a02), // exp(-0.13783035) = 0.87124646 (rounded: 0.8712465)
            (0xbd8467ba, 0x3f6ff918), // exp(-0.06465097) = 0.9373946 (rounded: 0.93739456)
            (0xbeb35cc7, 0x3f3457ca), // exp(-0.3503172) = 0.70446455 (rounded: 0.7044646)
            (0xbe2de39e, 0x3f5804ba), // exp(-0.1698136) = 0.8438221 (rounded: 0.84382206)
            (0xc23a3084, 0x1de62234), // exp(-46.54738) = 6.091586e-21 (rounded: 6.0915854e-21)
            (0xc159fc60, 0x35a28786), // exp(-13.624115) = 1.2109383e-6 (rounded: 1.2109384e-6)
            (0x41d631f8, 0x52c5b786), // exp(26.7744) = 4.2459378e11 (rounded: 4.2459382e11)
            (0x41b8d290, 0x5020eece), // exp(23.102814) = 1.080002e10 (rounded: 1.0800018e10)
        ];
        for (x, want) in cases {
            let x = f32::from_bits(x);
            assert_eq!(exp(x).to_bits(), want, "exp({x})");
            assert_ne!(((x as f64).exp() as f32).to_bits(), want, "exp({x})");
        }
    }

    /// Deterministic test data: `((i * m + seed) % 1000) * 1e-3 - 0.5`, scaled by `2^(i % 7 - 3)`,
    /// in float32 arithmetic (the same rounding in numpy's float32, which made the references).
    fn pattern(n: usize, m: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let v = ((i * m + seed) % 1000) as f32 * 1e-3 - 0.5;
                v * 2f32.powi((i % 7) as i32 - 3)
            })
            .collect()
    }

    /// References: `torch.linalg.vector_norm(torch.tensor(pattern(n, 7919, 13)))` in torch
    /// 2.15.0 (CPU, this machine's AVX512 capability).
    #[test]
    fn vector_norm_matches_torch_bits() {
        let cases: [(usize, u32); 8] = [
            (5, 0x3f03_0646),
            (8, 0x3f34_29b2),
            (13, 0x4008_58ef),
            (37, 0x40b9_adee),
            (777, 0x41e0_a076),
            (1027, 0x4200_e308),
            (3072, 0x425f_369f),
            (4096, 0x4280_f29c),
        ];
        let mut differs_from_exact = 0;
        for (n, want) in cases {
            let x = pattern(n, 7919, 13);
            assert_eq!(vector_norm(&x).to_bits(), want, "n = {n}");
            let exact = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt() as f32;
            differs_from_exact += usize::from(exact.to_bits() != want);
        }
        // The cases tell torch's order from a correctly rounded norm.
        assert_eq!(differs_from_exact, 2);
    }

    /// `torch.dot` of bfloat16 vectors: `pattern(n, 7919, 13)` and `pattern(n, m, 7)` where
    /// elements `i % p == 3` are set to (64, 64) and `i % p == 5` to (64, -64), so that large
    /// products cancel and the summation order shows; references from torch 2.15.0 (bf16 bits).
    #[test]
    fn dot_half_matches_torch_bf16_bits() {
        let cases: [(usize, usize, usize, u16); 6] = [
            (7, 11, 104_729, 0x3dfb),
            (40, 13, 6007, 0xc134),
            (200, 17, 3001, 0xc041),
            (200, 24, 6007, 0x3fbf),
            (1000, 9, 3001, 0xc12b),
            (1030, 11, 104_729, 0xc239),
        ];
        let bf = |v: f32| mosaic_tensor::convert::round_bf16(v);
        let mut differs_from_exact = 0;
        for (n, p, m, want) in cases {
            let (mut a, mut b) = (pattern(n, 7919, 13), pattern(n, m, 7));
            for i in 0..n {
                if i % p == 3 {
                    (a[i], b[i]) = (64.0, 64.0);
                }
                if i % p == 5 {
                    (a[i], b[i]) = (64.0, -64.0);
                }
            }
            let a: Vec<f32> = a.into_iter().map(bf).collect();
            let b: Vec<f32> = b.into_iter().map(bf).collect();
            let got = bf(dot_half(&a, &b));
            assert_eq!((got.to_bits() >> 16) as u16, want, "n = {n}, p = {p}");
            let exact = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| x as f64 * y as f64)
                .sum::<f64>();
            differs_from_exact += usize::from((bf(exact as f32).to_bits() >> 16) as u16 != want);
        }
        assert_eq!(differs_from_exact, 2);
    }

    /// The kernels fed in pieces (as the streamed merges feed them) give the bits of one call
    /// on the whole vector.
    #[test]
    fn kernels_fed_in_pieces_equal_whole_calls() {
        let bf = |v: f32| mosaic_tensor::convert::round_bf16(v);
        for n in [5usize, 37, 100, 1000, 3 * 8192 + 17, 70_001] {
            let a = pattern(n, 7919, 13);
            let b: Vec<f32> = pattern(n, 6007, 7).into_iter().map(bf).collect();
            let a_bf: Vec<f32> = a.iter().copied().map(bf).collect();
            for piece in [64usize, 192, 8192] {
                let mut norm = VectorNorm::default();
                let mut sum = RowSum::new(n);
                let mut dot = DotHalf::default();
                for (x, y) in a.chunks(piece).zip(a_bf.chunks(piece).zip(b.chunks(piece))) {
                    norm.update(x);
                    sum.update(x);
                    dot.update(y.0, y.1);
                }
                assert_eq!(norm.finish().to_bits(), vector_norm(&a).to_bits(), "n {n}");
                assert_eq!(sum.finish().to_bits(), sum_row(&a).to_bits(), "n {n}");
                assert_eq!(
                    dot.finish().to_bits(),
                    dot_half(&a_bf, &b).to_bits(),
                    "n {n}"
                );
            }
        }
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let x: Vec<f32> = (0..96)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.3)
            .collect();
        for row in [1, 3, 16, 32, 48, 96] {
            let p = softmax_lastdim(&x, row);
            for r in p.chunks(row) {
                let s: f64 = r.iter().map(|&v| v as f64).sum();
                assert!((s - 1.0).abs() < 1e-6, "row {row}: {s}");
            }
        }
    }

    #[test]
    fn sum_matches_f64_closely_and_is_exact_on_integers() {
        for n in [1usize, 7, 8, 9, 31, 64, 100, 1000, 5000, 70_000] {
            let x: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
            let want: f64 = x.iter().map(|&v| v as f64).sum();
            assert_eq!(sum_row(&x) as f64, want, "n = {n}");
        }
        let x: Vec<f32> = (0..3000)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let want: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((sum_row(&x) as f64 - want).abs() < 1e-4);
    }
}
