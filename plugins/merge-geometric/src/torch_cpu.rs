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
//! - [`ln`]: the correctly rounded logarithm. torch's `torch.log` calls Intel MKL's `vsLn` in
//!   high-accuracy mode, which is not correctly rounded and whose code is not public; on the
//!   fixture data the two differ by one ULP in about 0.6% of the elements.
//!
//! Checked bit for bit against torch (see `docs/algorithms/arcee_fusion.md`).

/// Lanes of an AVX512 float vector (softmax).
const SOFTMAX_LANES: usize = 16;
/// Lanes of an AVX2 float vector (sum).
const SUM_LANES: usize = 8;

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

/// `multi_row_sum` of `SumKernel.cpp`: `nrows` interleaved running sums of `size` items each,
/// cascaded over 4 levels so that only partial sums of similar size are added.
fn multi_row_sum<const W: usize>(
    load: &dyn Fn(usize, usize) -> [f32; W],
    nrows: usize,
    size: usize,
) -> Vec<[f32; W]> {
    const LEVELS: usize = 4;
    let add = |a: &mut [f32; W], b: [f32; W]| {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
    };
    let power = (ceil_log2(size) / LEVELS).max(4);
    let step = 1usize << power;
    let mask = step - 1;
    let mut acc = vec![vec![[0f32; W]; nrows]; LEVELS];
    let mut i = 0;
    while i + step <= size {
        for _ in 0..step {
            for (k, a) in acc[0].iter_mut().enumerate() {
                add(a, load(i, k));
            }
            i += 1;
        }
        for j in 1..LEVELS {
            let (lower, upper) = acc.split_at_mut(j);
            for (a, b) in upper[0].iter_mut().zip(lower[j - 1].iter_mut()) {
                add(a, std::mem::replace(b, [0f32; W]));
            }
            if i & (mask << (j * power)) != 0 {
                break;
            }
        }
    }
    while i < size {
        for (k, a) in acc[0].iter_mut().enumerate() {
            add(a, load(i, k));
        }
        i += 1;
    }
    let mut out = acc[0].clone();
    for level in &acc[1..] {
        for (o, &v) in out.iter_mut().zip(level) {
            add(o, v);
        }
    }
    out
}

/// `row_sum` of `SumKernel.cpp`: 4 interleaved cascaded sums, the rest added to the first, then
/// the four added in order.
fn row_sum<const W: usize>(load: &dyn Fn(usize) -> [f32; W], size: usize) -> [f32; W] {
    const ILP: usize = 4;
    let size_ilp = size / ILP;
    let mut partial = multi_row_sum::<W>(&|i, k| load(i * ILP + k), ILP, size_ilp);
    for i in size_ilp * ILP..size {
        let v = load(i);
        for (x, y) in partial[0].iter_mut().zip(v) {
            *x += y;
        }
    }
    let mut total = partial[0];
    for p in &partial[1..] {
        for (x, y) in total.iter_mut().zip(p) {
            *x += y;
        }
    }
    total
}

/// torch's float32 sum of one contiguous row.
fn sum_row(x: &[f32]) -> f32 {
    let n = x.len();
    if n >= SUM_LANES {
        // Vectorized inner sum: cascaded 8-lane partial sums; then the elements after the last
        // whole vector, then the 8 lanes, each added in order to a running scalar.
        let vectors = n / SUM_LANES;
        let lanes = row_sum::<SUM_LANES>(
            &|i| {
                let mut v = [0f32; SUM_LANES];
                v.copy_from_slice(&x[i * SUM_LANES..(i + 1) * SUM_LANES]);
                v
            },
            vectors,
        );
        let tail = x[vectors * SUM_LANES..].iter().fold(0f32, |a, &b| a + b);
        lanes.iter().fold(tail, |a, &b| a + b)
    } else {
        row_sum::<1>(&|i| [x[i]], n)[0]
    }
}

/// `torch.sum(x, dim=-1)` in float32 over rows of `row` elements.
pub fn sum_lastdim(x: &[f32], row: usize) -> Vec<f32> {
    x.chunks(row.max(1)).map(sum_row).collect()
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
