//! SLERP between the base model and one other model (mergekit 0.1.5 `slerp`).
//!
//! Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985; mergekit applies it
//! to a whole tensor flattened into one vector.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::chunked::{
    chunk_buffer, for_chunks, sum_start, write_chunks, Chunk, Sources, Stream, CHUNK_ELEMENTS,
};
use crate::common::{clamp, global, is_f64, is_half, Real};
use crate::torch_cpu::{self, vector_norm, RowSum, VectorNorm, ROW_SUM_GROUP};

/// Above this |cos θ| the two vectors count as colinear and are interpolated linearly.
pub const DOT_THRESHOLD: f64 = 0.9995;
/// Norms at or below this are treated as 1 (no normalisation of a near-zero vector).
pub const EPS: f64 = 1e-8;

/// The descriptor: global `t` (required), a base model required.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "slerp",
        "Spherical linear interpolation from the base model (t=0) to the other model (t=1).",
    )
    .param(ParamSpec::f64(
        "t",
        None,
        "Interpolation factor: 0 gives the base model, 1 the other model.",
    ))
    .tag("requires_base")
}

/// The coefficients `(a, b)` of `a·v0 + b·v1` for the clamped cosine `d` of the angle between
/// the two vectors: spherical, or linear when they are nearly colinear or antipodal.
fn coefficients<F: Real>(t: F, d: F) -> (F, F) {
    let d = clamp(d, -F::ONE, F::ONE);
    if d.abs() > F::of(DOT_THRESHOLD) {
        (F::ONE - t, t)
    } else {
        let theta = d.acos();
        let s = theta.sin();
        (((F::ONE - t) * theta).sin() / s, (t * theta).sin() / s)
    }
}

/// A norm at or below [`EPS`] counts as 1.
fn or_one<F: Real>(n: F) -> F {
    if n > F::of(EPS) {
        n
    } else {
        F::ONE
    }
}

/// Spherical interpolation of `v0` (at `t = 0`) towards `v1` (at `t = 1`), both flattened to
/// one vector; linear interpolation when they are nearly colinear or antipodal. Streamed in
/// three passes over the inputs: the two norms (sequential `f64` sums of squares), the dot
/// product of the normalised vectors (a sequential `f64` sum), then the result.
fn slerp_streamed<F: Stream>(
    t: F,
    chunk: &mut Chunk<'_, F>,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let n = out.numel();
    let (mut s0, mut s1) = (sum_start(), sum_start());
    for_chunks(chunk, n, |_, c| {
        s0 = c.get(0).iter().fold(s0, |a, v| a + v.f64() * v.f64());
        s1 = c.get(1).iter().fold(s1, |a, v| a + v.f64() * v.f64());
    })?;
    let na = or_one(F::of(s0.sqrt()));
    let nb = or_one(F::of(s1.sqrt()));
    // Normalise before multiplying, as mergekit does, so the raw dot cannot overflow.
    let mut d = sum_start();
    for_chunks(chunk, n, |_, c| {
        d = c
            .get(0)
            .iter()
            .zip(c.get(1))
            .fold(d, |a, (&x, &y)| a + ((x / na) * (y / nb)).f64());
    })?;
    let (ca, cb) = coefficients(t, F::of(d));
    write_chunks(chunk, out, |_, c, dst| {
        for ((r, &x), &y) in dst.iter_mut().zip(c.get(0)).zip(c.get(1)) {
            *r = ca * x + cb * y;
        }
    })
}

/// Elements per chunk of mergekit's torch slerp: norms and dot sums are taken per chunk of
/// this many elements, then over the chunks.
const TORCH_CHUNK: usize = 1 << 20;
const _: () = assert!(TORCH_CHUNK.is_multiple_of(CHUNK_ELEMENTS));
const _: () = assert!(CHUNK_ELEMENTS.is_multiple_of(ROW_SUM_GROUP));

/// mergekit 0.1.5's slerp as torch runs it on the CPU in float32 (for bf16/f16 inputs, whose
/// result is then stored in the half dtype): both tensors flattened, norms of 2^20-element
/// chunks with torch's vector-norm kernel and then the norm of those norms, the dot as
/// torch's float32 sums of `(x/‖x‖)·(y/‖y‖)` per chunk and then of the chunk sums, and the
/// coefficients from glibc's `acosf`/`sinf` (what torch calls for one-element tensors). Each
/// step is one rounded float32 operation, as in torch.
///
/// Streamed in three passes: the per-2^20 norms ([`VectorNorm`] fed chunk by chunk; a chunk
/// never straddles two of torch's chunks), the per-2^20 dot sums ([`RowSum`]), then the result.
/// Besides the chunk buffers it keeps three floats per 2^20 elements.
fn slerp_torch_streamed(
    t: f32,
    chunk: &mut Chunk<'_, f32>,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let n = out.numel();
    let eps = EPS as f32;
    let torch_len = |start: usize| TORCH_CHUNK.min(n - start);
    let (mut parts0, mut parts1) = (Vec::new(), Vec::new());
    let (mut n0, mut n1) = (VectorNorm::default(), VectorNorm::default());
    for_chunks(chunk, n, |start, c| {
        n0.update(c.get(0));
        n1.update(c.get(1));
        if (start + c.get(0).len()) % TORCH_CHUNK == 0 || start + c.get(0).len() == n {
            parts0.push(std::mem::take(&mut n0).finish());
            parts1.push(std::mem::take(&mut n1).finish());
        }
    })?;
    let norm_of = |parts: &[f32]| {
        let v = vector_norm(parts);
        if v > eps {
            v
        } else {
            1.0
        }
    };
    let (na, nb) = (norm_of(&parts0), norm_of(&parts1));
    let mut parts = Vec::new();
    let mut prod = chunk_buffer::<f32>();
    let mut sum = RowSum::new(0);
    for_chunks(chunk, n, |start, c| {
        if start % TORCH_CHUNK == 0 {
            sum = RowSum::new(torch_len(start));
        }
        let len = c.get(0).len();
        for ((p, &x), &y) in prod.iter_mut().zip(c.get(0)).zip(c.get(1)) {
            *p = (x / na) * (y / nb);
        }
        sum.update(&prod[..len]);
        if (start + len) % TORCH_CHUNK == 0 || start + len == n {
            parts.push(std::mem::replace(&mut sum, RowSum::new(0)).finish());
        }
    })?;
    let dot = torch_cpu::sum_lastdim(&parts, parts.len())
        .first()
        .copied()
        .unwrap_or(0.0)
        .clamp(-1.0, 1.0);
    let (ca, cb) = torch_coefficients(t, dot);
    write_chunks(chunk, out, |_, c, dst| {
        for ((r, &x), &y) in dst.iter_mut().zip(c.get(0)).zip(c.get(1)) {
            *r = ca * x + cb * y;
        }
    })
}

/// The coefficients of mergekit's torch slerp for the clamped float32 cosine `dot`.
fn torch_coefficients(t: f32, dot: f32) -> (f32, f32) {
    let linear = dot.abs() > DOT_THRESHOLD as f32;
    let theta = if linear { 0.0f32 } else { dot }.acos();
    let sin_theta = theta.sin();
    if linear {
        (1.0 - t, t)
    } else {
        (
            ((1.0 - t) * theta).sin() / sin_theta,
            (t * theta).sin() / sin_theta,
        )
    }
}

/// `slerp` as a merge method.
pub struct Slerp {
    params: ParamMap,
}

impl Slerp {
    /// Build from constructor parameters (`t`).
    pub fn new(params: &ParamMap) -> Result<Slerp, RError> {
        // `t` may vary per tensor (a gradient): it is required per call, not here.
        if params.contains("t") {
            params.f64("t")?;
        }
        Ok(Slerp {
            params: params.clone(),
        })
    }

    fn run<F: Stream>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = Sources::of(call, out)?;
        let base = inputs.require_base("slerp", call.name())?;
        inputs.expect_others("slerp", call.name(), 1, Some(1))?;
        let t = global(call, &self.params, "t").f64("t")?;
        let pair = vec![base, inputs.others[0]];
        if is_half(call.compute_dtype) {
            slerp_torch_streamed(t as f32, &mut Chunk::new(pair, inputs.dtype), out)
        } else {
            slerp_streamed(F::of(t), &mut Chunk::<F>::new(pair, inputs.dtype), out)
        }
    }
}

impl MergeMethod for Slerp {
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
    use crate::common::{gather, norm};
    use mosaic_abi::ParamMap;

    /// The whole-tensor slerp (the reference for the streamed one).
    fn slerp<F: Real>(t: F, v0: &[F], v1: &[F]) -> Vec<F> {
        let eps = F::of(EPS);
        let na = norm(v0);
        let nb = norm(v1);
        let na = if na > eps { na } else { F::ONE };
        let nb = if nb > eps { nb } else { F::ONE };
        let d = F::of(
            v0.iter()
                .zip(v1)
                .map(|(&x, &y)| ((x / na) * (y / nb)).f64())
                .sum(),
        );
        let d = clamp(d, -F::ONE, F::ONE);
        let (ca, cb) = if d.abs() > F::of(DOT_THRESHOLD) {
            (F::ONE - t, t)
        } else {
            let theta = d.acos();
            let s = theta.sin();
            (((F::ONE - t) * theta).sin() / s, (t * theta).sin() / s)
        };
        v0.iter().zip(v1).map(|(&x, &y)| ca * x + cb * y).collect()
    }

    /// The whole-tensor torch slerp (the reference for the streamed one).
    fn slerp_torch(t: f32, v0: &[f32], v1: &[f32]) -> Vec<f32> {
        let eps = EPS as f32;
        let norm_of = |v: &[f32]| {
            let parts: Vec<f32> = v.chunks(TORCH_CHUNK).map(torch_cpu::vector_norm).collect();
            let n = torch_cpu::vector_norm(&parts);
            if n > eps {
                n
            } else {
                1.0
            }
        };
        let (na, nb) = (norm_of(v0), norm_of(v1));
        let parts: Vec<f32> = v0
            .chunks(TORCH_CHUNK)
            .zip(v1.chunks(TORCH_CHUNK))
            .map(|(x, y)| {
                let prod: Vec<f32> = x
                    .iter()
                    .zip(y)
                    .map(|(&x, &y)| (x / na) * (y / nb))
                    .collect();
                torch_cpu::sum_lastdim(&prod, prod.len())[0]
            })
            .collect();
        let dot = torch_cpu::sum_lastdim(&parts, parts.len())[0].clamp(-1.0, 1.0);
        let linear = dot.abs() > DOT_THRESHOLD as f32;
        let theta = if linear { 0.0f32 } else { dot }.acos();
        let sin_theta = theta.sin();
        let (ca, cb) = if linear {
            (1.0 - t, t)
        } else {
            (
                ((1.0 - t) * theta).sin() / sin_theta,
                (t * theta).sin() / sin_theta,
            )
        };
        v0.iter().zip(v1).map(|(&x, &y)| ca * x + cb * y).collect()
    }

    /// The whole-tensor merge as it was: gather every input, compute, write.
    fn whole(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let t = call.params.f64("t")?;
        if is_f64(call) {
            let inputs = gather::<f64>(call, out)?;
            let base = inputs.require_base("slerp", call.name())?;
            f64::write(out, &slerp(t, base, &inputs.others[0]))
        } else {
            let inputs = gather::<f32>(call, out)?;
            let base = inputs.require_base("slerp", call.name())?;
            if is_half(call.compute_dtype) {
                f32::write(out, &slerp_torch(t as f32, base, &inputs.others[0]))
            } else {
                f32::write(out, &slerp(t as f32, base, &inputs.others[0]))
            }
        }
    }

    /// Slerp of two tensors of `shape` whose angle is about 90° (`noise` = None), or of a
    /// tensor and twice itself plus `noise` times another (`0.1`: an angle of a few degrees,
    /// where the coefficients depend on every bit of the dot product; `1e-3`: colinear).
    fn check(n: usize, shape: &[u64], noise: Option<f64>) {
        let base = values(n, 1);
        let other: Vec<f64> = match noise {
            Some(e) => base
                .iter()
                .zip(values(n, 2))
                .map(|(b, v)| 2.0 * b + e * v)
                .collect(),
            None => values(n, 2),
        };
        let m = Slerp::new(&ParamMap::new()).unwrap();
        for (compute, storage, out) in DTYPES {
            let mut case = Case::new(
                shape,
                storage,
                compute,
                Some(&base),
                std::slice::from_ref(&other),
            );
            case.globals = ParamMap::new().with("t", 0.3);
            let got = case.run(out, |c, o| m.merge(c, o)).unwrap();
            let want = case.run(out, whole).unwrap();
            assert!(got == want, "{compute:?}, {shape:?}, noise {noise:?}");
        }
    }

    #[test]
    fn streamed_equals_whole_tensor() {
        for noise in [None, Some(0.1), Some(1e-3)] {
            check(N, &[N as u64], noise);
            check(6 * 4099, &[6, 4099], noise);
            check(5, &[5], noise);
        }
    }

    /// Several of torch's 2^20-element chunks (slow in a debug build: run it with
    /// `cargo test --release -- --ignored`).
    #[test]
    #[ignore]
    fn streamed_equals_whole_tensor_past_torch_chunks() {
        let n = 2 * TORCH_CHUNK + 3 * CHUNK_ELEMENTS + 17;
        check(n, &[n as u64], None);
        check(n, &[n as u64], Some(0.1));
    }

    #[test]
    fn quarter_turn_midpoint_is_on_the_circle() {
        let r = slerp(0.5f64, &[1.0, 0.0], &[0.0, 1.0]);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!(
            (r[0] - h).abs() < 1e-12 && (r[1] - h).abs() < 1e-12,
            "{r:?}"
        );
    }

    #[test]
    fn colinear_falls_back_to_lerp() {
        let r = slerp(0.25f64, &[1.0, 2.0], &[2.0, 4.0]);
        assert_eq!(r, vec![1.25, 2.5]);
    }
}
