//! Reinforced Agent Merging (mergekit 0.1.5 `ram` and `ramplus_tl`).
//!
//! Reference: arXiv:2601.13572. Per element, task vectors that are non-zero (|Δ| > ε) in
//! exactly one model are kept as they are; where several models contribute they are averaged
//! over the contributing models. RAM+ (tensor-local) rescales the unique part of each model by
//! `1 + r · clamp(shared/unique, 0, α)`, counted over this tensor.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};

use crate::common::{clamp, gather, global, is_f64, Real};

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

/// RAM (`plus = None`) or RAM+ tensor-local (`plus = Some((r, alpha))`) of `tensors` around
/// `base`.
pub fn ram<F: Real>(base: &[F], tensors: &[Vec<F>], epsilon: F, plus: Option<(F, F)>) -> Vec<F> {
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

    fn run<F: Real>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        let base = inputs.require_base(self.name, call.name())?;
        let get = |k: &str| global(call, &self.params, k).f64(k).map(F::of);
        let eps = get("epsilon")?;
        let plus = if self.plus {
            Some((get("r")?, get("alpha")?))
        } else {
            None
        };
        if inputs.others.is_empty() {
            return F::write(out, base);
        }
        F::write(out, &ram(base, &inputs.others, eps, plus))
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

    #[test]
    fn unique_kept_overlap_averaged() {
        let base = [0.0f64; 3];
        let ts = vec![vec![1.0, 2.0, 0.0], vec![0.0, 4.0, 0.0]];
        assert_eq!(ram(&base, &ts, 1e-5, None), vec![1.0, 3.0, 0.0]);
        // Model 0: one shared, one unique → rho 1 → clamp 0.2 → lambda 1.02 on its unique entry.
        let r = ram(&base, &ts, 1e-5, Some((0.1, 0.2)));
        assert!((r[0] - 1.02).abs() < 1e-12 && r[1] == 3.0, "{r:?}");
    }
}
