//! Karcher mean (mergekit 0.1.5 `karcher`): the weighted Riemannian (Fréchet) mean of the
//! inputs' directions on the unit hypersphere, rescaled by their mean norm.
//!
//! Reference: H. Karcher, "Riemannian center of mass and mollifier smoothing", Comm. Pure Appl.
//! Math. 30 (1977); mergekit cites arXiv:2603.04972.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::common::{clamp, dot, gather_all, global, is_f64, is_half, norm, Real, Rounding};
use crate::torch_cpu::{dot_half, vector_norm};

/// The descriptor: global `max_iter` and `tol`; the base model's role is ignored (it is just
/// another input when the config has one).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "karcher",
        "Equal-weight Karcher mean of the inputs' directions on the hypersphere, scaled by their mean norm.",
    )
    .param(ParamSpec::i64(
        "max_iter",
        Some(10),
        "Maximum Riemannian gradient steps.",
    ))
    .param(ParamSpec::f64(
        "tol",
        Some(1e-5),
        "Convergence tolerance (also the smallest norm that counts as non-zero).",
    ))
}

/// Karcher mean of `tensors` with weights `alphas` (mergekit's `karcher_merge_tensors`).
pub fn karcher<F: Real>(tensors: &[Vec<F>], alphas: &[f64], max_iter: i64, tol: f64) -> Vec<F> {
    if tensors.len() == 1 {
        return tensors[0].clone();
    }
    let n = tensors[0].len();
    let norms: Vec<F> = tensors.iter().map(|t| norm(t)).collect();
    let units: Vec<Vec<F>> = tensors
        .iter()
        .zip(&norms)
        .map(|(t, &nv)| {
            if nv.f64() == 0.0 {
                vec![F::ZERO; n]
            } else {
                t.iter().map(|&x| x / nv).collect()
            }
        })
        .collect();
    let valid: Vec<usize> = (0..tensors.len())
        .filter(|&i| norms[i].f64() > tol)
        .collect();
    if valid.is_empty() {
        return vec![F::ZERO; n];
    }
    let alpha_sum: f64 = valid.iter().map(|&i| alphas[i]).sum();
    let w: Vec<f64> = valid.iter().map(|&i| alphas[i] / alpha_sum).collect();
    let us: Vec<&Vec<F>> = valid.iter().map(|&i| &units[i]).collect();

    let mut mean = vec![F::ZERO; n];
    for (&a, u) in w.iter().zip(&us) {
        let a = F::of(a);
        mean.iter_mut()
            .zip(u.iter())
            .for_each(|(m, &x)| *m += a * x);
    }
    let mn = norm(&mean);
    if mn.f64() < tol {
        mean = us[0].clone();
    } else {
        mean.iter_mut().for_each(|m| *m = *m / mn);
    }
    for _ in 0..max_iter.max(0) {
        let mut tangent = vec![F::ZERO; n];
        for (&a, u) in w.iter().zip(&us) {
            let d = clamp(dot(&mean, u), -F::ONE, F::ONE);
            let theta = d.acos();
            if theta.f64() < tol {
                continue;
            }
            let c = F::of(a) * (theta / theta.sin());
            tangent
                .iter_mut()
                .zip(u.iter().zip(&mean))
                .for_each(|(g, (&x, &m))| *g += c * (x - d * m));
        }
        let tn = norm(&tangent);
        if tn.f64() < tol {
            break;
        }
        let (c, s) = (tn.cos(), tn.sin());
        mean = mean
            .iter()
            .zip(&tangent)
            .map(|(&m, &g)| c * m + s * (g / tn))
            .collect();
        let un = norm(&mean);
        if un.f64() > tol {
            mean.iter_mut().for_each(|m| *m = *m / un);
        }
    }
    let mut scale = F::ZERO;
    for (&a, &nv) in alphas.iter().zip(&norms) {
        scale += F::of(a) * nv;
    }
    mean.into_iter().map(|m| scale * m).collect()
}

/// Karcher mean with a `bfloat16`/`float16` merge dtype, as mergekit runs it on torch's CPU
/// kernels: the inputs, unit vectors, running mean and tangent are tensors of the merge dtype
/// (`rd`), every elementwise result rounded to it; the norms are float32 ([`vector_norm`] of the
/// widened tensor), the dot products are torch's half-precision [`dot_half`] rounded to the merge
/// dtype, and the angle, its sine and the step coefficient are 0-dimensional tensors of the
/// merge dtype.
///
/// Which operand keeps float32 precision follows torch's type promotion: a float32 0-dim tensor
/// (a norm, the tangent norm's cosine and sine, the final scale) takes the merge dtype when it
/// meets a half-precision tensor, except that a float32 divisor or a Python-number multiplier on
/// the right of a half-precision tensor is applied in float32 (`x / norm`, `unit * alpha`).
pub fn karcher_half(
    tensors: &[Vec<f32>],
    alphas: &[f64],
    max_iter: i64,
    tol: f64,
    rd: Rounding,
) -> Vec<f32> {
    if tensors.len() == 1 {
        return tensors[0].clone();
    }
    let r = |x: f32| rd.r(x);
    let n = tensors[0].len();
    let norms: Vec<f32> = tensors.iter().map(|t| vector_norm(t)).collect();
    let units: Vec<Vec<f32>> = tensors
        .iter()
        .zip(&norms)
        .map(|(t, &nv)| {
            if nv == 0.0 {
                vec![0.0; n]
            } else {
                t.iter().map(|&x| r(x / nv)).collect()
            }
        })
        .collect();
    let valid: Vec<usize> = (0..tensors.len())
        .filter(|&i| f64::from(norms[i]) > tol)
        .collect();
    if valid.is_empty() {
        return vec![0.0; n];
    }
    let alpha_sum: f64 = valid.iter().map(|&i| alphas[i]).sum();
    // Python floats, applied as float32 multipliers.
    let w: Vec<f32> = valid
        .iter()
        .map(|&i| (alphas[i] / alpha_sum) as f32)
        .collect();
    let us: Vec<&Vec<f32>> = valid.iter().map(|&i| &units[i]).collect();

    let mut mean = vec![0f32; n];
    for (&a, u) in w.iter().zip(&us) {
        mean.iter_mut()
            .zip(u.iter())
            .for_each(|(m, &x)| *m = r(*m + r(x * a)));
    }
    let mn = vector_norm(&mean);
    if f64::from(mn) < tol {
        mean = us[0].clone();
    } else {
        mean.iter_mut().for_each(|m| *m = r(*m / mn));
    }
    for _ in 0..max_iter.max(0) {
        let mut tangent = vec![0f32; n];
        for (&a, u) in w.iter().zip(&us) {
            let d = clamp(r(dot_half(&mean, u)), -1.0, 1.0);
            let theta = r(d.acos());
            if f64::from(theta) < tol {
                continue;
            }
            let c = r(r(theta / r(theta.sin())) * a);
            tangent
                .iter_mut()
                .zip(u.iter().zip(&mean))
                .for_each(|(g, (&x, &m))| *g = r(*g + r(c * r(x - r(d * m)))));
        }
        let tn = vector_norm(&tangent);
        if f64::from(tn) < tol {
            break;
        }
        let (c, s) = (r(tn.cos()), r(tn.sin()));
        mean = mean
            .iter()
            .zip(&tangent)
            .map(|(&m, &g)| r(r(c * m) + r(s * r(g / tn))))
            .collect();
        let un = vector_norm(&mean);
        if f64::from(un) > tol {
            mean.iter_mut().for_each(|m| *m = r(*m / un));
        }
    }
    // Python's `sum` of float32 0-dim tensors `alpha * norm`, then rounded to the merge dtype
    // as the left operand of the product with the mean.
    let mut scale = 0f32;
    for (&a, &nv) in alphas.iter().zip(&norms) {
        scale += a as f32 * nv;
    }
    let scale = r(scale);
    mean.into_iter().map(|m| r(scale * m)).collect()
}

/// One call's inputs and parameters.
struct Setup<F> {
    all: Vec<Vec<F>>,
    max_iter: i64,
    tol: f64,
    alphas: Vec<f64>,
}

/// `karcher` as a merge method.
pub struct Karcher {
    params: ParamMap,
}

impl Karcher {
    /// Build from constructor parameters (`max_iter`, `tol`).
    pub fn new(params: &ParamMap) -> Result<Karcher, RError> {
        params.i64("max_iter")?;
        params.f64("tol")?;
        Ok(Karcher {
            params: params.clone(),
        })
    }

    /// The call's inputs (mergekit's model order) and its `max_iter`, `tol` and equal weights.
    fn inputs<F: Real>(
        &self,
        call: &MergeCall<'_>,
        out: &TensorMut<'_>,
    ) -> Result<Setup<F>, RError> {
        let all = gather_all::<F>(call, out)?;
        if all.is_empty() {
            return Err(RError::input(format!(
                "karcher: tensor `{}` has no inputs",
                call.name()
            )));
        }
        let max_iter = global(call, &self.params, "max_iter").i64("max_iter")?;
        let tol = global(call, &self.params, "tol").f64("tol")?;
        let alphas = vec![1.0 / all.len() as f64; all.len()];
        Ok(Setup {
            all,
            max_iter,
            tol,
            alphas,
        })
    }

    fn run<F: Real>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let s = self.inputs::<F>(call, out)?;
        F::write(out, &karcher(&s.all, &s.alphas, s.max_iter, s.tol))
    }

    fn run_half(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let s = self.inputs::<f32>(call, out)?;
        let rd = Rounding::of(call)?;
        f32::write(out, &karcher_half(&s.all, &s.alphas, s.max_iter, s.tol, rd))
    }
}

impl MergeMethod for Karcher {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        if is_f64(call) {
            self.run::<f64>(call, out)
        } else if is_half(call.compute_dtype) {
            self.run_half(call, out)
        } else {
            self.run::<f32>(call, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_circle_mean_is_the_bisector() {
        let r = karcher(&[vec![2.0f64, 0.0], vec![0.0, 2.0]], &[0.5, 0.5], 50, 1e-12);
        let h = 2.0 * std::f64::consts::FRAC_1_SQRT_2;
        assert!((r[0] - h).abs() < 1e-9 && (r[1] - h).abs() < 1e-9, "{r:?}");
    }
}
