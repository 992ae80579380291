//! Multi-SLERP (mergekit 0.1.5 `multislerp`): a weighted barycentre of several tensors on the
//! hypersphere, through the tangent space at their normalised weighted mean.
//!
//! Reference: C. Goddard, "Multi-SLERP" (goddard.blog/posts/multislerp-wow-what-a-cool-idea).

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::chunked::{chunk_buffer, for_chunks, sum_start, write_chunks, Chunk, Sources, Stream};
use crate::common::{global, is_f64, Real, Rounding};

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

/// The per-tensor scalars of a multi-SLERP and the elementwise steps that use them, over one
/// chunk of the inputs (the `k` non-base inputs, then the base if `has_base`).
struct Plan<F> {
    k: usize,
    has_base: bool,
    /// The weights, as mergekit's tensor of the merge dtype (normalised if asked).
    weights: Vec<F>,
    /// `‖vᵢ‖ + eps`: what each input is divided by to get its unit vector.
    divisors: Vec<F>,
    rd: Rounding,
}

impl<F: Real> Plan<F> {
    fn r(&self, x: F) -> F {
        self.rd.r(x)
    }

    /// The inputs over the chunk `c`, relative to the base when there is one, into `vs`.
    fn inputs(&self, c: &Chunk<'_, F>, vs: &mut [Vec<F>]) {
        for (i, v) in vs.iter_mut().enumerate() {
            let v = &mut v[..c.get(i).len()];
            if self.has_base {
                for ((y, &x), &b) in v.iter_mut().zip(c.get(i)).zip(c.get(self.k)) {
                    *y = self.r(x - b);
                }
            } else {
                v.copy_from_slice(c.get(i));
            }
        }
    }

    /// The unit vectors over the chunk `c`, into `us`.
    fn units(&self, c: &Chunk<'_, F>, us: &mut [Vec<F>]) {
        self.inputs(c, us);
        for (u, &d) in us.iter_mut().zip(&self.divisors) {
            u.iter_mut().for_each(|x| *x = self.rd.r(*x / d));
        }
    }

    /// `Σ rows[i][e]·wᵢ` for each element `e` of `dst`.
    fn weighted_sum(&self, rows: &[Vec<F>], dst: &mut [F]) {
        for (e, y) in dst.iter_mut().enumerate() {
            let mut s = F::ZERO;
            for (row, &w) in rows.iter().zip(&self.weights) {
                s += self.r(row[e] * w);
            }
            *y = self.r(s);
        }
    }

    /// Add the base over the chunk `c` back to `dst`, when there is one.
    fn add_base(&self, c: &Chunk<'_, F>, dst: &mut [F]) {
        if self.has_base {
            for (x, &b) in dst.iter_mut().zip(c.get(self.k)) {
                *x = self.r(*x + b);
            }
        }
    }
}

/// A sequential `f64` sum of squares carried on from `acc`.
fn sum_squares<F: Real>(acc: f64, x: &[F]) -> f64 {
    x.iter().fold(acc, |a, v| a + v.f64() * v.f64())
}

/// The message when the weighted mean of the unit vectors vanishes for three or more inputs.
const ZERO_MEAN: &str = "the weighted sum of the input tensors is zero (antipodal inputs whose \
                         weights balance out); use different weights";

/// Multi-SLERP of the `k` inputs in `chunk` (then the base, if `has_base`) with `weights`,
/// written to `out`. Errors when the weighted mean of the unit vectors vanishes for three or
/// more inputs (as mergekit does); `name` is the tensor's, for that message.
///
/// Every op's result is stored in the merge dtype (`rd`); sums accumulate in `f64` and are
/// stored once, as torch's reductions do. Streamed in up to five passes over the inputs, none
/// of which keeps a tensor-sized buffer: the norms of the (base-relative) inputs, the norm of
/// the weighted mean of their unit vectors, the dot product of each unit vector with the
/// normalised mean, the norm of the weighted tangent, then the result written chunk by chunk.
#[allow(clippy::too_many_arguments)]
fn multislerp_streamed<F: Stream>(
    chunk: &mut Chunk<'_, F>,
    k: usize,
    has_base: bool,
    weights: &[F],
    normalize_weights: bool,
    eps: F,
    rd: Rounding,
    name: &str,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let r = |x: F| rd.r(x);
    let n = out.numel();
    if k == 1 {
        // mergekit returns the single input unchanged (not re-based).
        return write_chunks(chunk, out, |_, c, dst| dst.copy_from_slice(c.get(0)));
    }
    // mergekit builds the weights as a tensor of the merge dtype.
    let weights: Vec<F> = weights.iter().map(|&w| r(w)).collect();
    let weights: Vec<F> = if normalize_weights {
        let mut s = F::ZERO;
        for &w in &weights {
            s += w;
        }
        let s = r(s);
        weights.iter().map(|&w| r(w / s)).collect()
    } else {
        weights
    };
    let mut plan = Plan {
        k,
        has_base,
        weights,
        divisors: Vec::new(),
        rd,
    };
    let mut vs: Vec<Vec<F>> = (0..k).map(|_| chunk_buffer()).collect();
    let mut mean = chunk_buffer::<F>();
    let mut tangent = chunk_buffer::<F>();

    let mut sq = vec![sum_start(); k];
    for_chunks(chunk, n, |_, c| {
        let len = c.get(0).len();
        plan.inputs(c, &mut vs);
        for (acc, v) in sq.iter_mut().zip(&vs) {
            *acc = sum_squares(*acc, &v[..len]);
        }
    })?;
    let norms: Vec<F> = sq.iter().map(|s| r(F::of(s.sqrt()))).collect();
    plan.divisors = norms.iter().map(|&nv| r(nv + eps)).collect();

    let mut mean_sq = sum_start();
    for_chunks(chunk, n, |_, c| {
        let m = &mut mean[..c.get(0).len()];
        plan.units(c, &mut vs);
        plan.weighted_sum(&vs, m);
        mean_sq = sum_squares(mean_sq, m);
    })?;
    let mean_norm = r(F::of(mean_sq.sqrt()));
    if mean_norm < eps {
        if k != 2 {
            return Err(RError::input(format!(
                "multislerp: tensor `{name}`: {ZERO_MEAN}"
            )));
        }
        let w = &plan.weights;
        return write_chunks(chunk, out, |_, c, dst| {
            plan.inputs(c, &mut vs);
            for (e, y) in dst.iter_mut().enumerate() {
                *y = r(r(vs[0][e] * w[0]) + r(vs[1][e] * w[1]));
            }
            plan.add_base(c, dst);
        });
    }
    // The normalised mean over a chunk whose unit vectors are in `us`.
    let normalised_mean = |us: &[Vec<F>], m: &mut [F]| {
        plan.weighted_sum(us, m);
        m.iter_mut().for_each(|x| *x = r(*x / mean_norm));
    };

    let mut dots = vec![sum_start(); k];
    for_chunks(chunk, n, |_, c| {
        let m = &mut mean[..c.get(0).len()];
        plan.units(c, &mut vs);
        normalised_mean(&vs, m);
        for (acc, u) in dots.iter_mut().zip(&vs) {
            *acc = m
                .iter()
                .zip(u.iter())
                .fold(*acc, |a, (&m, &x)| a + r(x * m).f64());
        }
    })?;
    let dots: Vec<F> = dots.iter().map(|&d| r(F::of(d))).collect();
    // The weighted tangent over a chunk: each unit vector's component orthogonal to the mean.
    let fill_tangent = |us: &mut [Vec<F>], m: &[F], g: &mut [F]| {
        for (u, &d) in us.iter_mut().zip(&dots) {
            for (x, &m) in u.iter_mut().zip(m) {
                *x = r(*x - r(d * m));
            }
        }
        plan.weighted_sum(us, g);
    };

    let mut tangent_sq = sum_start();
    for_chunks(chunk, n, |_, c| {
        let len = c.get(0).len();
        let (m, g) = (&mut mean[..len], &mut tangent[..len]);
        plan.units(c, &mut vs);
        normalised_mean(&vs, m);
        fill_tangent(&mut vs, m, g);
        tangent_sq = sum_squares(tangent_sq, g);
    })?;
    let tn = r(r(F::of(tangent_sq.sqrt())) + eps);
    let (cos, sin) = (r(tn.cos()), r(r(tn.sin()) / tn));
    let mut avg_norm = F::ZERO;
    for (&nv, &w) in norms.iter().zip(&plan.weights) {
        avg_norm += r(nv * w);
    }
    let avg_norm = r(avg_norm);
    write_chunks(chunk, out, |_, c, dst| {
        let len = dst.len();
        let (m, g) = (&mut mean[..len], &mut tangent[..len]);
        plan.units(c, &mut vs);
        normalised_mean(&vs, m);
        fill_tangent(&mut vs, m, g);
        for ((y, &m), &t) in dst.iter_mut().zip(m.iter()).zip(g.iter()) {
            *y = r(r(r(m * cos) + r(t * sin)) * avg_norm);
        }
        plan.add_base(c, dst);
    })
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

    fn run<F: Stream>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = Sources::of(call, out)?;
        inputs.expect_others("multislerp", call.name(), 1, None)?;
        let weights = inputs
            .other_params
            .iter()
            .map(|p| p.f64("weight").map(F::of))
            .collect::<Result<Vec<F>, RError>>()?;
        let nw = global(call, &self.params, "normalize_weights").bool("normalize_weights")?;
        let eps = F::of(global(call, &self.params, "eps").f64("eps")?);
        let rd = Rounding::of(call)?;
        let k = inputs.others.len();
        let has_base = inputs.base.is_some();
        let tensors = inputs.others.iter().copied().chain(inputs.base).collect();
        let mut chunk = Chunk::<F>::new(tensors, inputs.dtype);
        multislerp_streamed(
            &mut chunk,
            k,
            has_base,
            &weights,
            nw,
            eps,
            rd,
            call.name(),
            out,
        )
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
    use crate::chunked::testing::{values, Case, DTYPES, N};
    use crate::common::{gather, norm, sum};
    use mosaic_abi::ParamMap;

    /// The whole-tensor multi-SLERP of `tensors` with `weights`, around `base` when given. Errors when the
    /// weighted mean of the unit vectors vanishes for three or more inputs (as mergekit does).
    fn multislerp<F: Real>(
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

    /// The whole-tensor merge as it was: gather every input, compute, write.
    fn whole(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        fn go<F: Real>(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
            let inputs = gather::<F>(call, out)?;
            let weights: Vec<F> = inputs
                .other_params
                .iter()
                .map(|p| F::of(p.f64("weight").unwrap()))
                .collect();
            let nw = call.params.bool("normalize_weights")?;
            let eps = F::of(call.params.f64("eps")?);
            let rd = Rounding::of(call)?;
            let r = multislerp(
                &inputs.others,
                &weights,
                inputs.base.as_deref(),
                nw,
                eps,
                rd,
            )
            .map_err(RError::input)?;
            F::write(out, &r)
        }
        if is_f64(call) {
            go::<f64>(call, out)
        } else {
            go::<f32>(call, out)
        }
    }

    /// `k` models of `shape` (around a base when `base`), the second antipodal to the first
    /// when `antipodal`, with `weights`, merged both ways for every compute dtype; the
    /// streamed results.
    fn check(
        shape: &[u64],
        k: usize,
        base: bool,
        antipodal: bool,
        weights: &[f64],
        nw: bool,
    ) -> Vec<Result<Vec<u8>, RError>> {
        let n = shape.iter().product::<u64>() as usize;
        let b = values(n, 1);
        let mut models: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                b.iter()
                    .zip(values(n, 10 + i as u64))
                    .map(|(b, v)| b + 0.3 * v)
                    .collect()
            })
            .collect();
        if antipodal {
            let base_or_zero = |e: usize| if base { b[e] } else { 0.0 };
            models[1] = (0..n)
                .map(|e| 2.0 * base_or_zero(e) - models[0][e])
                .collect();
        }
        let m = MultiSlerp::new(
            &ParamMap::new()
                .with("normalize_weights", true)
                .with("eps", 1e-8),
        )
        .unwrap();
        let mut results = Vec::new();
        for (compute, storage, out) in DTYPES {
            let mut case = Case::new(shape, storage, compute, base.then_some(&b[..]), &models);
            for (p, &w) in case.model_params.iter_mut().zip(weights) {
                *p = ParamMap::new().with("weight", w);
            }
            case.globals = ParamMap::new()
                .with("normalize_weights", nw)
                .with("eps", 1e-8);
            let got = case.run(out, |c, o| m.merge(c, o));
            let want = case.run(out, whole);
            let what = format!("{compute:?}, {shape:?}, k {k}, base {base}, antipodal {antipodal}");
            match (&got, want) {
                (Ok(got), Ok(want)) => assert!(*got == want, "{what}"),
                (Err(_), Err(_)) => {}
                (got, want) => panic!("{what}: {:?} vs {:?}", got.as_ref().err(), want.err()),
            }
            results.push(got);
        }
        results
    }

    #[test]
    fn streamed_equals_whole_tensor() {
        for base in [false, true] {
            check(&[N as u64], 3, base, false, &[1.0, 2.0, 0.5], true);
            check(&[6, 4099], 2, base, false, &[0.3, 0.9], false);
            check(&[N as u64], 1, base, false, &[1.0], true);
            check(&[5], 3, base, false, &[1.0, 1.0, 1.0], true);
        }
        // Antipodal pairs of equal weight: the mean vanishes (the linear fallback for two
        // inputs, here exactly zero; an error for three).
        for r in check(&[N as u64], 2, false, true, &[1.0, 1.0], true) {
            assert!(r.unwrap().iter().all(|&b| b == 0));
        }
        for r in check(&[N as u64], 3, false, true, &[1.0, 1.0, 0.0], true) {
            assert!(r.unwrap_err().to_string().contains("weighted sum"));
        }
    }

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
