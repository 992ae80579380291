//! SLERP between the base model and one other model (mergekit 0.1.5 `slerp`).
//!
//! Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985; mergekit applies it
//! to a whole tensor flattened into one vector.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::common::{clamp, gather, global, is_f64, is_half, norm, Real};
use crate::torch_cpu;

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

/// Spherical interpolation of `v0` (at `t = 0`) towards `v1` (at `t = 1`), both flattened to
/// one vector; linear interpolation when they are nearly colinear or antipodal.
pub fn slerp<F: Real>(t: F, v0: &[F], v1: &[F]) -> Vec<F> {
    let eps = F::of(EPS);
    let na = norm(v0);
    let nb = norm(v1);
    let na = if na > eps { na } else { F::ONE };
    let nb = if nb > eps { nb } else { F::ONE };
    // Normalise before multiplying, as mergekit does, so the raw dot cannot overflow.
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

/// mergekit 0.1.5's slerp as torch runs it on the CPU in float32 (for bf16/f16 inputs, whose
/// result is then stored in the half dtype): both tensors flattened, norms of 2^20-element
/// chunks with torch's vector-norm kernel and then the norm of those norms, the dot as
/// torch's float32 sums of `(x/‖x‖)·(y/‖y‖)` per chunk and then of the chunk sums, and the
/// coefficients from glibc's `acosf`/`sinf` (what torch calls for one-element tensors). Each
/// step is one rounded float32 operation, as in torch.
pub fn slerp_torch(t: f32, v0: &[f32], v1: &[f32]) -> Vec<f32> {
    const CHUNK: usize = 1 << 20;
    let eps = EPS as f32;
    let norm_of = |v: &[f32]| {
        let parts: Vec<f32> = v.chunks(CHUNK).map(torch_cpu::vector_norm).collect();
        let n = torch_cpu::vector_norm(&parts);
        if n > eps {
            n
        } else {
            1.0
        }
    };
    let (na, nb) = (norm_of(v0), norm_of(v1));
    let parts: Vec<f32> = v0
        .chunks(CHUNK)
        .zip(v1.chunks(CHUNK))
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

    fn run<F: Real>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        let base = inputs.require_base("slerp", call.name())?;
        inputs.expect_others("slerp", call.name(), 1, Some(1))?;
        let t = F::of(global(call, &self.params, "t").f64("t")?);
        F::write(out, &slerp(t, base, &inputs.others[0]))
    }
}

impl MergeMethod for Slerp {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        if is_f64(call) {
            self.run::<f64>(call, out)
        } else if is_half(call.compute_dtype) {
            let inputs = gather::<f32>(call, out)?;
            let base = inputs.require_base("slerp", call.name())?;
            inputs.expect_others("slerp", call.name(), 1, Some(1))?;
            let t = global(call, &self.params, "t").f64("t")? as f32;
            f32::write(out, &slerp_torch(t, base, &inputs.others[0]))
        } else {
            self.run::<f32>(call, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
