//! Karcher mean (mergekit 0.1.5 `karcher`): the weighted Riemannian (Fréchet) mean of the
//! inputs' directions on the unit hypersphere, rescaled by their mean norm.
//!
//! Reference: H. Karcher, "Riemannian center of mass and mollifier smoothing", Comm. Pure Appl.
//! Math. 30 (1977); mergekit cites arXiv:2603.04972.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::chunked::{
    chunk_buffer, for_chunks, sum_start, write_chunks, Chunk, Sources, Stream, CHUNK_ELEMENTS,
};
use crate::common::{clamp, global, is_f64, is_half, Real, Rounding};
#[cfg(doc)]
use crate::torch_cpu::{dot_half, vector_norm};
use crate::torch_cpu::{DotHalf, VectorNorm, DOT_BLOCK};
use mosaic_tensor::DType;

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

/// The whole-tensor reductions of one variant, fed chunk by chunk.
trait Kernels<F>: Copy {
    /// A norm's running state.
    type Norm;
    /// A dot product's running state.
    type Dot;
    /// An empty norm.
    fn norm(self) -> Self::Norm;
    /// Feed the next elements of the norm's vector.
    fn norm_update(self, acc: &mut Self::Norm, x: &[F]);
    /// The norm of everything fed.
    fn norm_finish(self, acc: &Self::Norm) -> F;
    /// An empty dot product.
    fn dot(self) -> Self::Dot;
    /// Feed the next elements of both vectors.
    fn dot_update(self, acc: &mut Self::Dot, x: &[F], y: &[F]);
    /// The dot product of everything fed.
    fn dot_finish(self, acc: &Self::Dot) -> F;
    /// A buffer for the running mean of `n` elements.
    fn mean_store(self, n: usize) -> MeanStore<F>;
}

/// The running mean: the method's one tensor-sized buffer.
enum MeanStore<F> {
    /// In the compute type.
    Wide(Vec<F>),
    /// As the bits of the merge dtype (`bfloat16` or `float16`): the half-precision replay
    /// rounds every value of the mean to it, so its 16 bits hold the value exactly.
    Half(Vec<u16>, DType),
}

impl<F: Real> MeanStore<F> {
    /// Elements `start..start + dst.len()` of the mean.
    fn load(&self, start: usize, dst: &mut [F]) {
        match self {
            MeanStore::Wide(v) => dst.copy_from_slice(&v[start..start + dst.len()]),
            MeanStore::Half(v, dtype) => {
                for (d, &b) in dst.iter_mut().zip(&v[start..]) {
                    *d = F::of(match dtype {
                        DType::BF16 => half::bf16::from_bits(b).to_f64(),
                        _ => half::f16::from_bits(b).to_f64(),
                    });
                }
            }
        }
    }

    /// Store `src` as elements `start..start + src.len()` of the mean.
    fn save(&mut self, start: usize, src: &[F]) {
        match self {
            MeanStore::Wide(v) => v[start..start + src.len()].copy_from_slice(src),
            MeanStore::Half(v, dtype) => {
                for (b, &x) in v[start..].iter_mut().zip(src) {
                    let (bits, back) = match dtype {
                        DType::BF16 => {
                            let h = half::bf16::from_f64(x.f64());
                            (h.to_bits(), h.to_f64())
                        }
                        _ => {
                            let h = half::f16::from_f64(x.f64());
                            (h.to_bits(), h.to_f64())
                        }
                    };
                    debug_assert!(back == x.f64() || back.is_nan(), "{x:?} is no {dtype}");
                    *b = bits;
                }
            }
        }
    }
}

/// Sequential `f64` sums (the float32 and float64 merges).
#[derive(Clone, Copy)]
struct Wide;

impl<F: Real> Kernels<F> for Wide {
    type Norm = f64;
    type Dot = f64;
    fn norm(self) -> f64 {
        sum_start()
    }
    fn norm_update(self, acc: &mut f64, x: &[F]) {
        *acc = x.iter().fold(*acc, |a, v| a + v.f64() * v.f64());
    }
    fn norm_finish(self, acc: &f64) -> F {
        F::of(acc.sqrt())
    }
    fn dot(self) -> f64 {
        sum_start()
    }
    fn dot_update(self, acc: &mut f64, x: &[F], y: &[F]) {
        *acc = x
            .iter()
            .zip(y)
            .fold(*acc, |s, (a, b)| s + a.f64() * b.f64());
    }
    fn dot_finish(self, acc: &f64) -> F {
        F::of(*acc)
    }
    fn mean_store(self, n: usize) -> MeanStore<F> {
        MeanStore::Wide(vec![F::ZERO; n])
    }
}

/// torch's float32 [`vector_norm`] and half-precision [`dot_half`] (the bfloat16 and float16
/// merges, whose dtype this is).
#[derive(Clone, Copy)]
struct Torch(DType);

impl Kernels<f32> for Torch {
    type Norm = VectorNorm;
    type Dot = DotHalf;
    fn norm(self) -> VectorNorm {
        VectorNorm::default()
    }
    fn norm_update(self, acc: &mut VectorNorm, x: &[f32]) {
        acc.update(x);
    }
    fn norm_finish(self, acc: &VectorNorm) -> f32 {
        acc.finish()
    }
    fn dot(self) -> DotHalf {
        DotHalf::default()
    }
    fn dot_update(self, acc: &mut DotHalf, x: &[f32], y: &[f32]) {
        acc.update(x, y);
    }
    fn dot_finish(self, acc: &DotHalf) -> f32 {
        acc.finish()
    }
    fn mean_store(self, n: usize) -> MeanStore<f32> {
        MeanStore::Half(vec![0; n], self.0)
    }
}

// The torch kernels take pieces of whole 8-lane vectors and 64-element blocks.
const _: () = assert!(CHUNK_ELEMENTS.is_multiple_of(DOT_BLOCK));

/// What the stored mean still needs before use: the normalisation of the last step, or the
/// first valid unit vector when the initial mean vanished.
#[derive(Clone, Copy)]
enum Pending<F> {
    None,
    Divide(F),
    FirstUnit,
}

/// Karcher mean of the inputs in `chunk` with weights `alphas` (mergekit's
/// `karcher_merge_tensors`), written to `out`.
///
/// `rd` rounds every elementwise result to the merge dtype and `k` gives the reductions: with
/// [`Wide`] and no rounding this is the float32/float64 merge; with [`Torch`] and the
/// bfloat16/float16 rounding it replays mergekit's op sequence on torch's CPU kernels: the
/// inputs, unit vectors, running mean and tangent are tensors of the merge dtype, every
/// elementwise result rounded to it; the norms are float32 ([`vector_norm`] of the widened
/// tensor), the dot products are torch's half-precision [`dot_half`] rounded to the merge
/// dtype, and the angle, its sine and the step coefficient are 0-dimensional tensors of the
/// merge dtype. Which operand keeps float32 precision follows torch's type promotion: a float32
/// 0-dim tensor (a norm, the tangent norm's cosine and sine, the final scale) takes the merge
/// dtype when it meets a half-precision tensor, except that a float32 divisor or a
/// Python-number multiplier on the right of a half-precision tensor is applied in float32
/// (`x / norm`, `unit * alpha`).
///
/// Streamed: one pass for the input norms, one for the initial mean (stored, with its norm),
/// then per iteration one pass for the dot products of the mean with the unit vectors, one for
/// the tangent's norm and one that stores the next mean (with its norm), and a last pass that
/// writes the scaled mean. The mean is the one tensor-sized buffer ([`MeanStore`]: 16 bits an
/// element for the half-precision replay, the compute type otherwise): each iterate is a rounded
/// elementwise function of the inputs and the earlier iterates, not a fixed combination of the
/// inputs, so it is kept rather than recomputed.
#[allow(clippy::too_many_arguments)]
fn karcher_streamed<F: Stream, K: Kernels<F>>(
    k: K,
    rd: Rounding,
    chunk: &mut Chunk<'_, F>,
    alphas: &[f64],
    max_iter: i64,
    tol: f64,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let r = |x: F| rd.r(x);
    let n = out.numel();
    if alphas.len() == 1 {
        return write_chunks(chunk, out, |_, c, dst| dst.copy_from_slice(c.get(0)));
    }
    let mut accs: Vec<K::Norm> = alphas.iter().map(|_| k.norm()).collect();
    for_chunks(chunk, n, |_, c| {
        for (acc, x) in accs.iter_mut().zip(c.all()) {
            k.norm_update(acc, x);
        }
    })?;
    let norms: Vec<F> = accs.iter().map(|a| k.norm_finish(a)).collect();
    let valid: Vec<usize> = (0..alphas.len())
        .filter(|&i| norms[i].f64() > tol)
        .collect();
    if valid.is_empty() {
        return write_chunks(chunk, out, |_, _, dst| dst.fill(F::ZERO));
    }
    let alpha_sum: f64 = valid.iter().map(|&i| alphas[i]).sum();
    // Python floats, applied as multipliers in the compute type.
    let w: Vec<F> = valid
        .iter()
        .map(|&i| F::of(alphas[i] / alpha_sum))
        .collect();
    // The valid inputs' unit vectors over the chunk `c`.
    let mut units: Vec<Vec<F>> = valid.iter().map(|_| chunk_buffer()).collect();
    let fill_units = |c: &Chunk<'_, F>, units: &mut [Vec<F>]| {
        for (u, &i) in units.iter_mut().zip(&valid) {
            let nv = norms[i];
            for (y, &x) in u.iter_mut().zip(c.get(i)) {
                *y = if nv.f64() == 0.0 { F::ZERO } else { r(x / nv) };
            }
        }
    };

    let mut mean = k.mean_store(n);
    // The mean over one chunk.
    let mut mbuf = chunk_buffer::<F>();
    let mut mn = k.norm();
    for_chunks(chunk, n, |start, c| {
        fill_units(c, &mut units);
        let m = &mut mbuf[..c.get(0).len()];
        for (e, m) in m.iter_mut().enumerate() {
            let mut s = F::ZERO;
            for (&a, u) in w.iter().zip(&units) {
                s = r(s + r(u[e] * a));
            }
            *m = s;
        }
        mean.save(start, m);
        k.norm_update(&mut mn, m);
    })?;
    let mn = k.norm_finish(&mn);
    let mut pending = if mn.f64() < tol {
        Pending::FirstUnit
    } else {
        Pending::Divide(mn)
    };
    // Bring the stored mean over `m` up to date.
    let resolve = |pending: Pending<F>, m: &mut [F], units: &[Vec<F>]| match pending {
        Pending::None => {}
        Pending::Divide(d) => m.iter_mut().for_each(|x| *x = r(*x / d)),
        Pending::FirstUnit => m.copy_from_slice(&units[0][..m.len()]),
    };

    let mut tangent = chunk_buffer::<F>();
    // The tangent over `m`: Σ c·(u − d·m) over the active inputs `(j, d, c)`.
    let fill_tangent = |active: &[(usize, F, F)], m: &[F], units: &[Vec<F>], g: &mut [F]| {
        for (e, g) in g[..m.len()].iter_mut().enumerate() {
            let mut s = F::ZERO;
            for &(j, d, c) in active {
                s = r(s + r(c * r(units[j][e] - r(d * m[e]))));
            }
            *g = s;
        }
    };
    for _ in 0..max_iter.max(0) {
        let mut dots: Vec<K::Dot> = valid.iter().map(|_| k.dot()).collect();
        for_chunks(chunk, n, |start, c| {
            fill_units(c, &mut units);
            let len = c.get(0).len();
            let m = &mut mbuf[..len];
            mean.load(start, m);
            if !matches!(pending, Pending::None) {
                resolve(pending, m, &units);
                mean.save(start, m);
            }
            for (acc, u) in dots.iter_mut().zip(&units) {
                k.dot_update(acc, m, &u[..len]);
            }
        })?;
        pending = Pending::None;
        let mut active = Vec::new();
        for (j, (acc, &a)) in dots.iter().zip(&w).enumerate() {
            let d = clamp(r(k.dot_finish(acc)), -F::ONE, F::ONE);
            let theta = r(d.acos());
            if theta.f64() < tol {
                continue;
            }
            active.push((j, d, r(r(theta / r(theta.sin())) * a)));
        }

        let mut tn = k.norm();
        for_chunks(chunk, n, |start, c| {
            fill_units(c, &mut units);
            let m = &mut mbuf[..c.get(0).len()];
            mean.load(start, m);
            fill_tangent(&active, m, &units, &mut tangent);
            k.norm_update(&mut tn, &tangent[..m.len()]);
        })?;
        let tn = k.norm_finish(&tn);
        if tn.f64() < tol {
            break;
        }
        let (cos, sin) = (r(tn.cos()), r(tn.sin()));
        let mut un = k.norm();
        for_chunks(chunk, n, |start, c| {
            fill_units(c, &mut units);
            let m = &mut mbuf[..c.get(0).len()];
            mean.load(start, m);
            fill_tangent(&active, m, &units, &mut tangent);
            for (x, &g) in m.iter_mut().zip(&tangent) {
                *x = r(r(cos * *x) + r(sin * r(g / tn)));
            }
            mean.save(start, m);
            k.norm_update(&mut un, m);
        })?;
        let un = k.norm_finish(&un);
        if un.f64() > tol {
            pending = Pending::Divide(un);
        }
    }
    // Python's `sum` of 0-dim tensors `alpha * norm`, then stored in the merge dtype as the
    // left operand of the product with the mean.
    let mut scale = F::ZERO;
    for (&a, &nv) in alphas.iter().zip(&norms) {
        scale += F::of(a) * nv;
    }
    let scale = r(scale);
    write_chunks(chunk, out, |start, c, dst| {
        let m = &mut mbuf[..dst.len()];
        mean.load(start, m);
        if let Pending::FirstUnit = pending {
            fill_units(c, &mut units);
        }
        resolve(pending, m, &units);
        for (y, &x) in dst.iter_mut().zip(m.iter()) {
            *y = r(scale * x);
        }
    })
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

    /// Merge the call's inputs (mergekit's model order) with its `max_iter`, `tol` and equal
    /// weights, in the compute type `F` with the reductions `k` and the rounding `rd`.
    fn run<F: Stream, K: Kernels<F>>(
        &self,
        k: K,
        rd: Rounding,
        call: &MergeCall<'_>,
        out: &mut TensorMut<'_>,
    ) -> Result<(), RError> {
        let all = Sources::all(call, out)?;
        if all.is_empty() {
            return Err(RError::input(format!(
                "karcher: tensor `{}` has no inputs",
                call.name()
            )));
        }
        let max_iter = global(call, &self.params, "max_iter").i64("max_iter")?;
        let tol = global(call, &self.params, "tol").f64("tol")?;
        let alphas = vec![1.0 / all.len() as f64; all.len()];
        let mut chunk = Chunk::<F>::new(all, call.compute_dtype);
        karcher_streamed(k, rd, &mut chunk, &alphas, max_iter, tol, out)
    }
}

impl MergeMethod for Karcher {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        if is_f64(call) {
            self.run::<f64, _>(Wide, Rounding::none(), call, out)
        } else if is_half(call.compute_dtype) {
            let rd = Rounding::of(call)?;
            self.run::<f32, _>(Torch(call.compute_dtype.into()), rd, call, out)
        } else {
            self.run::<f32, _>(Wide, Rounding::none(), call, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunked::testing::{values, Case, DTYPES, N};
    use crate::common::{dot, gather_all, norm};
    use crate::torch_cpu::{dot_half, vector_norm};
    use mosaic_abi::ParamMap;

    /// The whole-tensor Karcher mean of `tensors` with weights `alphas` (mergekit's `karcher_merge_tensors`).
    fn karcher<F: Real>(tensors: &[Vec<F>], alphas: &[f64], max_iter: i64, tol: f64) -> Vec<F> {
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

    /// The whole-tensor Karcher mean with a `bfloat16`/`float16` merge dtype, as mergekit runs it on torch's CPU
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
    fn karcher_half(
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

    /// The whole-tensor merge as it was: gather every input, compute, write.
    fn whole(call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let max_iter = call.params.i64("max_iter")?;
        let tol = call.params.f64("tol")?;
        if is_f64(call) {
            let all = gather_all::<f64>(call, out)?;
            let alphas = vec![1.0 / all.len() as f64; all.len()];
            f64::write(out, &karcher(&all, &alphas, max_iter, tol))
        } else {
            let all = gather_all::<f32>(call, out)?;
            let alphas = vec![1.0 / all.len() as f64; all.len()];
            if is_half(call.compute_dtype) {
                let rd = Rounding::of(call)?;
                f32::write(out, &karcher_half(&all, &alphas, max_iter, tol, rd))
            } else {
                f32::write(out, &karcher(&all, &alphas, max_iter, tol))
            }
        }
    }

    /// Inputs of `shape` as base plus `k` models (nearly parallel when `close`), merged both
    /// ways with `max_iter` and `tol`, for every compute dtype.
    fn check(shape: &[u64], k: usize, close: bool, max_iter: i64, tol: f64) {
        let n = shape.iter().product::<u64>() as usize;
        let base = values(n, 1);
        let models: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                let v = values(n, 10 + i as u64);
                if close {
                    base.iter().zip(v).map(|(b, v)| b + 0.05 * v).collect()
                } else {
                    v
                }
            })
            .collect();
        let m = Karcher::new(&ParamMap::new().with("max_iter", 10i64).with("tol", 1e-5)).unwrap();
        for (compute, storage, out) in DTYPES {
            let mut case = Case::new(shape, storage, compute, Some(&base), &models);
            case.globals = ParamMap::new().with("max_iter", max_iter).with("tol", tol);
            let got = case.run(out, |c, o| m.merge(c, o)).unwrap();
            let want = case.run(out, whole).unwrap();
            assert!(
                got == want,
                "{compute:?}, {shape:?}, k {k}, close {close}, max_iter {max_iter}, tol {tol}"
            );
        }
    }

    #[test]
    fn streamed_equals_whole_tensor() {
        for close in [false, true] {
            // Far-apart inputs take every iteration: 4 keep the debug build fast.
            let max_iter = if close { 10 } else { 4 };
            check(&[N as u64], 3, close, max_iter, 1e-5);
            check(&[6, 4099], 2, close, max_iter, 1e-5);
        }
        // Stopping on max_iter (a pending normalisation at the end), none at all, a single
        // input, all inputs below tol, and tiny tensors.
        check(&[N as u64], 2, false, 1, 1e-9);
        check(&[N as u64], 2, false, 0, 1e-5);
        check(&[N as u64], 0, false, 10, 1e-5);
        check(&[N as u64], 2, false, 10, 1e9);
        check(&[7], 2, false, 10, 1e-5);
    }

    #[test]
    fn quarter_circle_mean_is_the_bisector() {
        let r = karcher(&[vec![2.0f64, 0.0], vec![0.0, 2.0]], &[0.5, 0.5], 50, 1e-12);
        let h = 2.0 * std::f64::consts::FRAC_1_SQRT_2;
        assert!((r[0] - h).abs() < 1e-9 && (r[1] - h).abs() < 1e-9, "{r:?}");
    }
}
