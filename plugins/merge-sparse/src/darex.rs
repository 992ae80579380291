//! DAREx-q delta-parameter pruning ("DARE the Extreme", Deng et al., ICLR 2025,
//! arXiv:2410.09344), as merge methods.
//!
//! - `dare_q`: DARE's random drop (keep each delta with probability `density` = 1 − p), but
//!   the kept deltas are multiplied by `1/q` instead of `1/(1 − p)`. With `q = 1 − p` (the
//!   default) this is DARE with the paper's inverse-keep-probability rescale, bit for bit.
//! - `dare_magnitude`: the paper's importance-based pruning baseline without activations:
//!   keep the `density` share of deltas with the largest |δ| (magnitude pruning), multiplied
//!   by `1/q` (default `q = 1`: no rescale).
//!
//! The pruned task vectors are then weighted and combined as in mergekit's generalized task
//! arithmetic ([`crate::gta`]), with an optional TIES sign consensus (`consensus`).

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
};
use mosaic_tensor::DType;

use crate::gta::{
    combine, model_rng, parse_consensus, prepare, require_base, task_vectors, weigh, Consensus,
};
use crate::select::{top_k_mask, TieBreak};
use crate::sparsify::{bernoulli_mask, scale_kept};
use crate::stream::{self, Band, Combine, ModelSpec, RandomDrop, Rounder};
use mosaic_tensor::convert::round_to;

/// Which deltas a DAREx method keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pruning {
    /// Each independently with probability `density` (DARE's Bernoulli mask).
    Random,
    /// The `density` share with the largest magnitudes.
    Magnitude,
}

/// A DAREx method: `dare_q` or `dare_magnitude`.
#[derive(Clone, Copy, Debug)]
pub struct DareX {
    pruning: Pruning,
}

impl DareX {
    /// The method's name.
    pub fn name(pruning: Pruning) -> &'static str {
        match pruning {
            Pruning::Random => "dare_q",
            Pruning::Magnitude => "dare_magnitude",
        }
    }

    /// The descriptor.
    pub fn descriptor(pruning: Pruning) -> AlgorithmDescriptor {
        let (doc, q_default, q_doc) = match pruning {
            Pruning::Random => (
                "DAREx-q: DARE's random drop with kept deltas rescaled by 1/q instead of \
                 1/(1-p) (arXiv:2410.09344).",
                0.0,
                "Rescale divisor: kept deltas are multiplied by 1/q. 0 (the default) means \
                 q = density = 1 - p, i.e. plain DARE; the paper tunes q per model.",
            ),
            Pruning::Magnitude => (
                "DAREx importance-based pruning: keep the largest-magnitude deltas, rescaled \
                 by 1/q (arXiv:2410.09344).",
                1.0,
                "Rescale divisor: kept deltas are multiplied by 1/q; 1 (the default) is plain \
                 magnitude pruning; the paper tunes q.",
            ),
        };
        let mut d = AlgorithmDescriptor::new(Family::Merge, Self::name(pruning), doc)
            .param(ParamSpec::str(
                "consensus",
                Some("none"),
                "Sign consensus over the weighted task vectors: `none` (linear sum), `sum` \
                 (TIES: sign of the summed deltas) or `count` (majority of signs).",
            ))
            .param(ParamSpec::bool(
                "normalize",
                Some(false),
                "Divide the merged delta by the sum of the (sign-agreeing) weights.",
            ))
            .param(ParamSpec::f64(
                "lambda",
                Some(1.0),
                "Scale of the merged delta, applied after normalizing.",
            ))
            .param(ParamSpec::f64("weight", None, "This model's task-vector weight.").per_model())
            .param(
                ParamSpec::f64(
                    "density",
                    Some(1.0),
                    "Share of task-vector elements kept (1 - p, p the drop rate).",
                )
                .range(0.0, 1.0)
                .per_model(),
            )
            .param(
                ParamSpec::f64("q", Some(q_default), q_doc)
                    .min(0.0)
                    .per_model(),
            );
        if pruning == Pruning::Magnitude {
            d = d.param(ParamSpec::str(
                "tie_break",
                Some("torch"),
                "Order of equal magnitudes at the cut: `torch` (torch's CPU sort order) or \
                 `index` (lower index first).",
            ));
        } else {
            d = d.tag("random");
        }
        d.tag("requires_base")
    }

    /// The method, checking its constructor parameters.
    pub fn new(pruning: Pruning, params: &ParamMap) -> Result<DareX, RError> {
        let m = DareX { pruning };
        m.options(params)?;
        Ok(m)
    }

    fn options(&self, params: &ParamMap) -> Result<(Option<Consensus>, TieBreak), RError> {
        let consensus = match params.get("consensus") {
            None => None,
            Some(_) if params.str("consensus")? == "none" => None,
            Some(_) => Some(parse_consensus(params, "consensus").map_err(|_| {
                RError::param(
                    "consensus",
                    format!(
                        "unknown consensus {:?} (known: none, sum, count)",
                        params.str("consensus").unwrap_or_default()
                    ),
                )
            })?),
        };
        let ties = match params.get("tie_break") {
            Some(_) => TieBreak::parse(params.str("tie_break")?)?,
            None => TieBreak::Torch,
        };
        Ok((consensus, ties))
    }

    /// A model's `density` and rescale divisor `q` (`dare_q`'s 0 meaning `density`), checked.
    fn density_q(&self, p: &ParamMap) -> Result<(f64, f64), RError> {
        let density = p.f64("density")?;
        let q = match p.f64("q")? {
            q if q == 0.0 && self.pruning == Pruning::Random => density,
            q => q,
        };
        if !(0.0..=1.0).contains(&density) {
            return Err(RError::param(
                "density",
                format!("must lie in [0, 1], got {density}"),
            ));
        }
        if (q <= 0.0 || q.is_nan()) && density > 0.0 {
            return Err(RError::param("q", format!("must be positive, got {q}")));
        }
        Ok((density, q))
    }

    fn prune(
        &self,
        call: &MergeCall<'_>,
        dtype: DType,
        index: usize,
        delta: &[f64],
        ties: TieBreak,
    ) -> Result<Vec<f64>, RError> {
        let (density, q) = self.density_q(&call.model_params[index])?;
        let keep = if density >= 1.0 {
            vec![true; delta.len()]
        } else {
            match self.pruning {
                Pruning::Random => {
                    bernoulli_mask(delta.len(), density, &mut model_rng(call, index))
                }
                Pruning::Magnitude => {
                    let k = (density * delta.len() as f64) as usize;
                    if density > 0.0 && !delta.is_empty() {
                        top_k_mask(delta, k.max(1), ties)
                    } else {
                        vec![false; delta.len()]
                    }
                }
            }
        };
        if q == 1.0 {
            // x / 1 is exact: skip the division.
            return Ok(delta
                .iter()
                .zip(&keep)
                .map(|(&d, &k)| if k { d } else { 0.0 })
                .collect());
        }
        Ok(scale_kept(dtype, delta, &keep, q))
    }
}

impl MergeMethod for DareX {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        match stream::rounder(call, out.numel())? {
            Some(r) => self.merge_streamed(call, out, r),
            None => self.merge_f64(call, out),
        }
    }
}

impl DareX {
    /// The chunked `f32` path ([`crate::stream`]): a random drop (`dare_q`) or a top-k band
    /// (`dare_magnitude`), kept elements divided by q; the same bits as [`Self::merge_f64`].
    fn merge_streamed(
        &self,
        call: &MergeCall<'_>,
        out: &mut TensorMut<'_>,
        r: Rounder,
    ) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        let dtype = call.float_compute_dtype()?;
        let base = require_base(call, Self::name(self.pruning))?;
        let (consensus, ties) = self.options(call.params)?;
        let n = out.numel();
        let mut specs = Vec::new();
        for (i, p) in call.model_params.iter().enumerate() {
            if Some(i) == call.base_index() {
                continue;
            }
            let (density, q) = self.density_q(p)?;
            let (band, drop) = if density >= 1.0 {
                (None, None)
            } else {
                match self.pruning {
                    Pruning::Random => (
                        None,
                        Some(RandomDrop {
                            density,
                            della: None,
                            rescale: None,
                            rng: model_rng(call, i),
                        }),
                    ),
                    Pruning::Magnitude => {
                        let k = if density > 0.0 && n > 0 {
                            ((density * n as f64) as usize).max(1)
                        } else {
                            0
                        };
                        let band = Band {
                            lo: 0,
                            hi: k,
                            descending: true,
                            rescale: false,
                        };
                        (Some(band), None)
                    }
                }
            };
            specs.push(ModelSpec {
                index: i,
                weight: round_to(dtype, p.f64("weight")?) as f32,
                band,
                drop,
                divide: (q != 1.0).then_some(q),
            });
        }
        let how = Combine {
            consensus,
            normalize: call.params.bool("normalize")?,
            lambda: call.params.f64("lambda")?,
            ties,
        };
        stream::merge(call, &base, out, r, &specs, how)
    }

    /// The whole-tensor `f64` path: every dtype.
    fn merge_f64(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let (dtype, base) = prepare(call, out, Self::name(self.pruning))?;
        let (consensus, ties) = self.options(call.params)?;
        let normalize = call.params.bool("normalize")?;
        let lambda = call.params.f64("lambda")?;
        let mut weights = Vec::new();
        let mut deltas = Vec::new();
        for (i, delta) in task_vectors(call, dtype, &base) {
            let pruned = self.prune(call, dtype, i, &delta, ties)?;
            weights.push(weigh(call, dtype, i, pruned, &mut deltas)?);
        }
        let result = combine(
            dtype, &base, &weights, &deltas, consensus, normalize, lambda,
        );
        out.write_f64(&result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gta::tests::{both_paths, Grid};
    use mosaic_abi::ParamScope;

    /// The chunked path equals the f64 path bit for bit: both prunings, q = 1 and q ≠ 1,
    /// densities 0 to 1, every consensus, three dtypes, one chunk and several.
    #[test]
    fn streamed_path_equals_f64_path() {
        let mut checked = 0;
        for pruning in [Pruning::Random, Pruning::Magnitude] {
            let d = DareX::descriptor(pruning);
            for (case, shape) in [[37u64, 29], [3, 8200]].into_iter().enumerate() {
                for dtype in [DType::BF16, DType::F16, DType::F32] {
                    for (opt, consensus) in ["none", "sum", "count"].into_iter().enumerate() {
                        let grid =
                            Grid::new(dtype, &shape, 3 + case as u64, 3, |i| (10 * i + 7, 6 + i));
                        let per_model: Vec<ParamMap> = (0..3)
                            .map(|i| {
                                ParamMap::new()
                                    .with("weight", [0.3, -0.7, 1.1][i])
                                    .with(
                                        "density",
                                        [[0.5, 1.0, 0.0], [0.31, 0.07, 1.0]][opt % 2][i],
                                    )
                                    .with("q", {
                                        // dare_q's 0 means q = density.
                                        let q0 = if pruning == Pruning::Random { 0.0 } else { 1.5 };
                                        [[q0, 0.8, 1.0], [1.0, 0.45, 2.0]][case][i]
                                    })
                                    .resolve(&d.params, ParamScope::PerModel)
                                    .unwrap()
                            })
                            .collect();
                        let mut global = ParamMap::new()
                            .with("consensus", consensus)
                            .with("normalize", opt != 1)
                            .with("lambda", if opt == 2 { 0.7 } else { 1.0 });
                        if pruning == Pruning::Magnitude {
                            global = global.with("tie_break", ["torch", "index"][case]);
                        }
                        let global = global.resolve(&d.params, ParamScope::Global).unwrap();
                        let m = DareX::new(pruning, &global).unwrap();
                        let (fast, slow) = grid.with_call(&per_model, &global, 9, false, |call| {
                            both_paths(
                                call,
                                dtype,
                                &shape,
                                |c, o, r| m.merge_streamed(c, o, r),
                                |c, o| m.merge_f64(c, o),
                            )
                        });
                        assert!(
                            fast == slow,
                            "{pruning:?} {dtype:?} {consensus} case {case}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 36);
    }
}
