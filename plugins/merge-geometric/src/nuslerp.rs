//! NuSLERP (mergekit 0.1.5 `nuslerp`): SLERP between two models with the interpolation factor
//! taken from their weights, optionally around a base (task vectors), optionally per row or
//! per column instead of over the flattened tensor.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::chunked::{chunk_buffer, for_chunks, sum_start, write_chunks, Chunk, Sources, Stream};
use crate::common::{clamp, global, is_f64, Rounding};

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

/// How the tensor splits into the vectors interpolated independently.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// The whole tensor, flattened, is one vector.
    Whole,
    /// Vectors along the last axis: rows of this many contiguous elements.
    Rows(usize),
    /// Vectors along axis 0: element `e` belongs to vector `e % rest`.
    Columns(usize),
}

impl Layout {
    /// The layout of a tensor of `shape` (`n` elements): the whole tensor when `flatten`, else
    /// vectors along axis 0 (`first_axis`) or along the last axis.
    fn of(shape: &[u64], n: usize, flatten: bool, first_axis: bool) -> Layout {
        if flatten || shape.len() <= 1 {
            Layout::Whole
        } else if first_axis {
            Layout::Columns(n / (shape[0] as usize).max(1))
        } else {
            Layout::Rows((shape[shape.len() - 1] as usize).max(1))
        }
    }

    /// The number of vectors in `n` elements.
    fn count(self, n: usize) -> usize {
        match self {
            Layout::Whole => 1,
            Layout::Rows(last) => n / last,
            Layout::Columns(rest) => rest,
        }
    }

    /// Call `f(i, v)` for each element `start + i` (`i < len`) with the index `v` of its
    /// vector. Visiting the elements in order visits each vector's elements in their order.
    fn for_each(self, start: usize, len: usize, mut f: impl FnMut(usize, usize)) {
        match self {
            Layout::Whole => (0..len).for_each(|i| f(i, 0)),
            Layout::Rows(last) => {
                let (mut v, mut col) = (start / last, start % last);
                for i in 0..len {
                    f(i, v);
                    col += 1;
                    if col == last {
                        (v, col) = (v + 1, 0);
                    }
                }
            }
            Layout::Columns(rest) => {
                let mut v = start % rest;
                for i in 0..len {
                    f(i, v);
                    v += 1;
                    if v == rest {
                        v = 0;
                    }
                }
            }
        }
    }
}

/// How one vector's elements combine: `(1−t)·v0 + t·v1` when the two are colinear, else
/// `(a·v0 + b·v1) / s` with `a = sin((1−t)θ)`, `b = sin(tθ)`, `s = sin θ`.
#[derive(Clone, Copy, Debug)]
enum Mix<F> {
    Linear,
    Spherical { a: F, b: F, s: F },
}

/// NuSLERP of the two inputs in `chunk` (`v0` at `t = 0`, `v1` at `t = 1`; relative to the base
/// that follows them when `has_base`, which is then added back), split into vectors by
/// `layout`, written to `out`.
///
/// Each op's result is stored in the merge dtype (`rd`); the Python floats `t`, `1 - t`
/// multiply in the compute type (torch's scalar operands); norms and sums accumulate in `f64`,
/// stored once. Streamed in three passes over the inputs: every vector's two norms, every
/// vector's dot product of the normalised inputs, then the result written chunk by chunk. Each
/// vector's sums run over its elements in order, so the bits equal the whole-tensor
/// computation; memory is the chunk buffers plus a few scalars per vector.
fn nuslerp_streamed<F: Stream>(
    t: f64,
    chunk: &mut Chunk<'_, F>,
    has_base: bool,
    layout: Layout,
    rd: Rounding,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let r = |x: F| rd.r(x);
    let n = out.numel();
    let (ft, fs) = (F::of(t), F::of(1.0 - t));
    let vectors = layout.count(n);
    let min_norm = r(F::of(1e-7));
    let mut v0 = chunk_buffer::<F>();
    let mut v1 = chunk_buffer::<F>();
    // The task vectors over a chunk (the inputs themselves without a base).
    let fill = |c: &Chunk<'_, F>, v0: &mut [F], v1: &mut [F]| {
        for (j, v) in [v0, v1].into_iter().enumerate() {
            let v = &mut v[..c.get(j).len()];
            if has_base {
                for ((y, &x), &b) in v.iter_mut().zip(c.get(j)).zip(c.get(2)) {
                    *y = r(x - b);
                }
            } else {
                v.copy_from_slice(c.get(j));
            }
        }
    };

    let mut sq = vec![(sum_start(), sum_start()); vectors];
    for_chunks(chunk, n, |start, c| {
        fill(c, &mut v0, &mut v1);
        layout.for_each(start, c.get(0).len(), |i, v| {
            let s = &mut sq[v];
            s.0 += v0[i].f64() * v0[i].f64();
            s.1 += v1[i].f64() * v1[i].f64();
        });
    })?;
    let clamp_norm = |s: f64| {
        let n = r(F::of(s.sqrt()));
        if n < min_norm {
            min_norm
        } else {
            n
        }
    };
    let norms: Vec<(F, F)> = sq
        .into_iter()
        .map(|(a, b)| (clamp_norm(a), clamp_norm(b)))
        .collect();

    let mut dots = vec![sum_start(); vectors];
    for_chunks(chunk, n, |start, c| {
        fill(c, &mut v0, &mut v1);
        layout.for_each(start, c.get(0).len(), |i, v| {
            let (n0, n1) = norms[v];
            dots[v] += r(r(v0[i] / n0) * r(v1[i] / n1)).f64();
        });
    })?;
    let mixes: Vec<Mix<F>> = dots
        .into_iter()
        .map(|d| {
            let cos = clamp(r(F::of(d)), -F::ONE, F::ONE);
            if r(F::ONE - r(cos * cos)) <= r(F::of(EPS * EPS)) {
                Mix::Linear
            } else {
                let theta = r(cos.acos());
                Mix::Spherical {
                    a: r(r(fs * theta).sin()),
                    b: r(r(ft * theta).sin()),
                    s: r(theta.sin()),
                }
            }
        })
        .collect();

    write_chunks(chunk, out, |start, c, dst| {
        fill(c, &mut v0, &mut v1);
        layout.for_each(start, dst.len(), |i, v| {
            dst[i] = match mixes[v] {
                Mix::Linear => r(r(fs * v0[i]) + r(ft * v1[i])),
                Mix::Spherical { a, b, s } => r(r(r(a * v0[i]) + r(b * v1[i])) / s),
            };
        });
        if has_base {
            for (y, &b) in dst.iter_mut().zip(c.get(2)) {
                *y = r(b + *y);
            }
        }
    })
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

    fn run<F: Stream>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = Sources::of(call, out)?;
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
        let rd = Rounding::of(call)?;
        let layout = Layout::of(&inputs.shape, inputs.numel(), flatten, row_wise);
        let has_base = inputs.base.is_some();
        let tensors = inputs.others.iter().copied().chain(inputs.base).collect();
        let mut chunk = Chunk::<F>::new(tensors, inputs.dtype);
        nuslerp_streamed(t, &mut chunk, has_base, layout, rd, out)
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
    use crate::chunked::testing::{values, Case, DTYPES, N};
    use crate::common::{gather, Real};
    use mosaic_abi::ParamMap;

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

    /// The whole-tensor NuSLERP of `v0` (at `t = 0`) and `v1` (at `t = 1`) of `shape`.
    fn nuslerp<F: Real>(
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

    /// The whole-tensor merge as it was: gather every input, compute, write.
    fn whole(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        fn go<F: Real>(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
            let inputs = gather::<F>(call, out)?;
            let w: Vec<f64> = inputs
                .other_params
                .iter()
                .map(|p| p.f64("weight").unwrap())
                .collect();
            let total = w[0] + w[1];
            let t = if total.abs() < 1e-6 {
                0.5
            } else {
                w[1] / total
            };
            let row_wise = call.params.bool("nuslerp_row_wise")?;
            let flatten = call.params.bool("nuslerp_flatten")?;
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
        if is_f64(call) {
            go::<f64>(call, out)
        } else {
            go::<f32>(call, out)
        }
    }

    /// Two models of `shape` (around a base when `base`; the second close to twice the first
    /// when `close`, with some rows exactly colinear), merged both ways in every layout and
    /// compute dtype.
    fn check(shape: &[u64], base: bool, close: bool) {
        let n = shape.iter().product::<u64>() as usize;
        let b = values(n, 1);
        let x0: Vec<f64> = b
            .iter()
            .zip(values(n, 2))
            .map(|(b, v)| b + 0.5 * v)
            .collect();
        let x1: Vec<f64> = if close {
            let last = *shape.last().unwrap() as usize;
            let offset = if base { &b[..] } else { &vec![0.0; n][..] };
            (0..n)
                .zip(values(n, 3))
                .map(|(e, v)| {
                    let noise = if (e / last).is_multiple_of(3) {
                        0.0
                    } else {
                        0.1 * v
                    };
                    offset[e] + 2.0 * (x0[e] - offset[e]) + noise
                })
                .collect()
        } else {
            values(n, 3)
        };
        let m = NuSlerp::new(
            &ParamMap::new()
                .with("nuslerp_row_wise", false)
                .with("nuslerp_flatten", true),
        )
        .unwrap();
        for (flatten, row_wise) in [(true, false), (false, false), (false, true)] {
            for (compute, storage, out) in DTYPES {
                let models = [x0.clone(), x1.clone()];
                let mut case = Case::new(shape, storage, compute, base.then_some(&b[..]), &models);
                case.model_params = vec![
                    ParamMap::new().with("weight", 1.0),
                    ParamMap::new().with("weight", 0.6),
                ];
                case.globals = ParamMap::new()
                    .with("nuslerp_row_wise", row_wise)
                    .with("nuslerp_flatten", flatten);
                let got = case.run(out, |c, o| m.merge(c, o)).unwrap();
                let want = case.run(out, whole).unwrap();
                assert!(
                    got == want,
                    "{compute:?}, {shape:?}, base {base}, close {close}, flatten {flatten}, row_wise {row_wise}"
                );
            }
        }
    }

    #[test]
    fn streamed_equals_whole_tensor() {
        for base in [false, true] {
            for close in [false, true] {
                check(&[N as u64], base, close);
                check(&[6, 4099], base, close);
            }
        }
        // Many short rows (vectors along axis 0 of several chunks each), and three axes.
        check(&[4099, 6], true, true);
        check(&[3, 2, 4099], false, false);
    }

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
