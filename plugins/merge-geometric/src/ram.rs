//! Reinforced Agent Merging (mergekit 0.1.5 `ram` and `ramplus_tl`).
//!
//! Reference: arXiv:2601.13572. Per element, task vectors that are non-zero (|Δ| > ε) in
//! exactly one model are kept as they are; where several models contribute they are averaged
//! over the contributing models. RAM+ (tensor-local) rescales the unique part of each model by
//! `1 + r · clamp(shared/unique, 0, α)`, counted over this tensor.

use mosaic_abi::{
    chunk_ranges, AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError,
    TensorMut, TensorRef,
};

use crate::chunked::{Chunk, Sources, Stream};
use crate::common::{clamp, global, is_f64, Real};

/// The `ram` descriptor: global `epsilon`; a base model required.
pub fn descriptor_ram() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "ram",
        "Keep unique task-vector entries, average overlapping ones over the contributing models.",
    )
    .param(ParamSpec::f64(
        "epsilon",
        Some(1e-5),
        "A task-vector entry counts as non-zero when its magnitude exceeds epsilon.",
    ))
    .tag("requires_base")
}

/// The `ramplus_tl` descriptor: global `r`, `alpha`, `epsilon`; a base model required.
pub fn descriptor_ramplus_tl() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "ramplus_tl",
        "RAM with each model's unique entries rescaled by its shared/unique ratio (tensor-local).",
    )
    .param(ParamSpec::f64("r", Some(0.1), "Rescaling strength."))
    .param(ParamSpec::f64(
        "alpha",
        Some(0.2),
        "Upper clamp on the shared/unique ratio.",
    ))
    .param(ParamSpec::f64(
        "epsilon",
        Some(1e-5),
        "A task-vector entry counts as non-zero when its magnitude exceeds epsilon.",
    ))
    .tag("requires_base")
}

/// One chunk's task vectors `x − base` (one buffer per model) and, per element, how many
/// models' entries are non-zero (`|Δ| > ε`).
struct TaskChunk<F> {
    tv: Vec<Vec<F>>,
    counts: Vec<usize>,
}

impl<F: Real> TaskChunk<F> {
    fn new(models: usize) -> TaskChunk<F> {
        TaskChunk {
            tv: vec![Vec::new(); models],
            counts: Vec::new(),
        }
    }

    /// Fill from one chunk of the base and the models.
    fn load(&mut self, base: &[F], tensors: &[&[F]], epsilon: F) {
        for (tv, t) in self.tv.iter_mut().zip(tensors) {
            tv.clear();
            tv.extend(t.iter().zip(base).map(|(&x, &b)| x - b));
        }
        self.counts.clear();
        self.counts.resize(base.len(), 0);
        for tv in &self.tv {
            for (c, v) in self.counts.iter_mut().zip(tv) {
                *c += usize::from(v.abs() > epsilon);
            }
        }
    }
}

/// RAM+'s factor per model, `1 + r · clamp(shared / unique, 0, α)`, from its counts of
/// non-zero entries shared with another model and unique to it.
fn lambda<F: Stream>(shared: usize, unique: usize, epsilon: F, r: F, alpha: F) -> F {
    // torch clamps the integer count with a float minimum: 0 becomes epsilon.
    let den = if (unique as f64) < epsilon.f64() {
        epsilon
    } else {
        F::of(unique as f64)
    };
    let rho = F::of(shared as f64) / den;
    F::ONE + r * clamp(rho, F::ZERO, alpha)
}

/// RAM (`plus = None`) or RAM+ tensor-local (`plus = Some((r, alpha))`) of the views'
/// non-base models around `base`, written into `out` chunk by chunk. RAM+ first counts each
/// model's shared and unique entries in a pass of its own.
fn ram_streamed<F: Stream>(
    v: &Sources<'_>,
    base: TensorRef<'_>,
    epsilon: F,
    plus: Option<(F, F)>,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let n = v.numel();
    let models = v.others.len();
    let mut inputs = vec![base];
    inputs.extend(&v.others);
    let mut reader = Chunk::<F>::new(inputs, v.dtype);
    if models == 0 {
        for (start, len) in chunk_ranges(n) {
            F::write_range(out, start, reader.read(start, len)?[0])?;
        }
        return Ok(());
    }
    let mut chunk = TaskChunk::<F>::new(models);
    let lambdas: Vec<F> = match plus {
        None => vec![F::ONE; models],
        Some((r, alpha)) => {
            let (mut shared, mut unique) = (vec![0usize; models], vec![0usize; models]);
            for (start, len) in chunk_ranges(n) {
                let bufs = reader.read(start, len)?;
                chunk.load(bufs[0], &bufs[1..], epsilon);
                for (m, tv) in chunk.tv.iter().enumerate() {
                    for (v, &c) in tv.iter().zip(&chunk.counts) {
                        if v.abs() > epsilon {
                            shared[m] += usize::from(c > 1);
                            unique[m] += usize::from(c == 1);
                        }
                    }
                }
            }
            (0..models)
                .map(|m| lambda(shared[m], unique[m], epsilon, r, alpha))
                .collect()
        }
    };
    let mut result = Vec::new();
    for (start, len) in chunk_ranges(n) {
        let bufs = reader.read(start, len)?;
        chunk.load(bufs[0], &bufs[1..], epsilon);
        result.clear();
        result.extend((0..len).map(|e| {
            let c = chunk.counts[e];
            let mut s = F::ZERO;
            for (tv, &l) in chunk.tv.iter().zip(&lambdas) {
                let z = if tv[e].abs() > epsilon {
                    tv[e]
                } else {
                    F::ZERO
                };
                let unique = if c == 1 { z * l } else { F::ZERO };
                let overlap = if c > 1 { z / F::of(c as f64) } else { F::ZERO };
                s += unique + overlap;
            }
            bufs[0][e] + s
        }));
        F::write_range(out, start, &result)?;
    }
    Ok(())
}

/// `ram` / `ramplus_tl` as a merge method.
pub struct Ram {
    name: &'static str,
    plus: bool,
    params: ParamMap,
}

impl Ram {
    /// `ram`, from constructor parameters (`epsilon`).
    pub fn new_ram(params: &ParamMap) -> Result<Ram, RError> {
        params.f64("epsilon")?;
        Ok(Ram {
            name: "ram",
            plus: false,
            params: params.clone(),
        })
    }

    /// `ramplus_tl`, from constructor parameters (`r`, `alpha`, `epsilon`).
    pub fn new_ramplus_tl(params: &ParamMap) -> Result<Ram, RError> {
        for k in ["r", "alpha", "epsilon"] {
            params.f64(k)?;
        }
        Ok(Ram {
            name: "ramplus_tl",
            plus: true,
            params: params.clone(),
        })
    }

    fn run<F: Stream>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let views = Sources::of(call, out)?;
        let base = views.require_base(self.name, call.name())?;
        let get = |k: &str| global(call, &self.params, k).f64(k).map(F::of);
        let eps = get("epsilon")?;
        let plus = if self.plus {
            Some((get("r")?, get("alpha")?))
        } else {
            None
        };
        ram_streamed(&views, base, eps, plus, out)
    }
}

impl MergeMethod for Ram {
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

    /// The whole-tensor RAM (`plus = None`) or RAM+ tensor-local (`plus = Some((r, alpha))`)
    /// of `tensors` around `base`: the reference for the streamed path.
    fn ram<F: Stream>(base: &[F], tensors: &[Vec<F>], epsilon: F, plus: Option<(F, F)>) -> Vec<F> {
        let n = base.len();
        let tv: Vec<Vec<F>> = tensors
            .iter()
            .map(|t| t.iter().zip(base).map(|(&x, &b)| x - b).collect())
            .collect();
        let nonzero = |m: usize, e: usize| tv[m][e].abs() > epsilon;
        let counts: Vec<usize> = (0..n)
            .map(|e| (0..tv.len()).filter(|&m| nonzero(m, e)).count())
            .collect();
        let lambdas: Vec<F> = match plus {
            None => vec![F::ONE; tv.len()],
            Some((r, alpha)) => (0..tv.len())
                .map(|m| {
                    let shared = (0..n).filter(|&e| nonzero(m, e) && counts[e] > 1).count();
                    let unique = (0..n).filter(|&e| nonzero(m, e) && counts[e] == 1).count();
                    // torch clamps the integer count with a float minimum: 0 becomes epsilon.
                    let den = if (unique as f64) < epsilon.f64() {
                        epsilon
                    } else {
                        F::of(unique as f64)
                    };
                    let rho = F::of(shared as f64) / den;
                    F::ONE + r * clamp(rho, F::ZERO, alpha)
                })
                .collect(),
        };
        (0..n)
            .map(|e| {
                let c = counts[e];
                let mut s = F::ZERO;
                for (m, t) in tv.iter().enumerate() {
                    let z = if nonzero(m, e) { t[e] } else { F::ZERO };
                    let unique = if c == 1 { z * lambdas[m] } else { F::ZERO };
                    let overlap = if c > 1 { z / F::of(c as f64) } else { F::ZERO };
                    s += unique + overlap;
                }
                base[e] + s
            })
            .collect()
    }

    /// The method as it ran before streaming: whole tensors in, whole tensor out.
    fn whole<F: Stream>(
        call: &MergeCall<'_>,
        out: &mut TensorMut<'_>,
        plus: Option<(f64, f64)>,
    ) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        let base = inputs.base.as_deref().expect("a base");
        let plus = plus.map(|(r, a)| (F::of(r), F::of(a)));
        if inputs.others.is_empty() {
            return F::write(out, base);
        }
        F::write(out, &ram(base, &inputs.others, F::of(1e-5), plus))
    }

    #[test]
    fn unique_kept_overlap_averaged() {
        let base = [0.0f64; 3];
        let ts = vec![vec![1.0, 2.0, 0.0], vec![0.0, 4.0, 0.0]];
        assert_eq!(ram(&base, &ts, 1e-5, None), vec![1.0, 3.0, 0.0]);
        // Model 0: one shared, one unique → rho 1 → clamp 0.2 → lambda 1.02 on its unique entry.
        let r = ram(&base, &ts, 1e-5, Some((0.1, 0.2)));
        assert!((r[0] - 1.02).abs() < 1e-12 && r[1] == 3.0, "{r:?}");
    }

    /// Three models around a base, each equal to it (a zero task vector) on its own residue
    /// classes of the element index, so that entries are unique, shared by two or by three;
    /// `models` of them (0: the base alone).
    fn inputs(models: usize) -> impl Fn(usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        move |n| {
            let base = pattern(n, 1);
            let others = (0..models)
                .map(|m| {
                    let d = pattern(n, 2 + m as u64);
                    (0..n)
                        .map(|i| match (i % 7, m) {
                            (0, _) => base[i],
                            (1, 0) | (2, 1) | (3, 2) | (4, 0) | (4, 1) => base[i],
                            // Below epsilon: counts as zero, still added when kept.
                            (5, _) => base[i] + 4e-6,
                            _ => base[i] + d[i],
                        })
                        .collect()
                })
                .collect();
            (base, others)
        }
    }

    #[test]
    fn streamed_equals_whole_tensor() {
        let n = 3 * mosaic_abi::CHUNK_ELEMENTS + 17;
        let shapes: [&[u64]; 2] = [&[n as u64], &[97, 300]];
        // alpha 5 leaves shared/unique unclamped, so that every count shows in the output.
        let ctor = ParamMap::new()
            .with("epsilon", 1e-5)
            .with("r", 0.1)
            .with("alpha", 5.0);
        for (method, plus) in [
            (Ram::new_ram(&ctor).unwrap(), None),
            (Ram::new_ramplus_tl(&ctor).unwrap(), Some((0.1, 5.0))),
        ] {
            let reference = |c: &MergeCall<'_>, o: &mut TensorMut<'_>| {
                if is_f64(c) {
                    whole::<f64>(c, o, plus)
                } else {
                    whole::<f32>(c, o, plus)
                }
            };
            for models in [0, 1, 3] {
                assert_streamed_equals_whole(
                    &shapes,
                    &inputs(models),
                    &ParamMap::new(),
                    &|c, o| method.merge(c, o),
                    &reference,
                );
            }
        }
    }
}
