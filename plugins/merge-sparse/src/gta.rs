//! Generalized task arithmetic (mergekit 0.1.5 `generalized_task_arithmetic.py` semantics):
//! sparsify each task vector, weight it, optionally elect a sign per element, sum, normalize,
//! scale by `lambda`, add to the base.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
    TensorRef,
};
use mosaic_tensor::DType;
use rand_chacha::{rand_core::SeedableRng, ChaCha20Rng};

use crate::select::TieBreak;
use crate::sparsify::{self, RescaleRule};
use crate::stream::{self, Band, Combine, Della, ModelSpec, RandomDrop, Rounder};
use mosaic_tensor::convert::{accumulator, round_to};

/// How each task vector is sparsified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sparsification {
    /// Keep the largest magnitudes (TIES).
    Magnitude,
    /// Keep each element with probability `density` (DARE).
    Random,
    /// Drop the largest `gamma` share and the smallest, keep `density` (Model Breadcrumbs).
    MagnitudeOutliers,
    /// Magnitude-ranked keep probabilities around `density` (DELLA).
    DellaMagprune,
}

/// Sign consensus over the weighted task vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consensus {
    /// The sign of the per-element sum of weighted deltas (TIES).
    Sum,
    /// The majority of per-element signs.
    Count,
}

/// One member of the family: what mergekit 0.1.5 registers under `name`.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// mergekit's method name.
    pub name: &'static str,
    /// Sparsification, if any.
    pub sparsification: Sparsification,
    /// Whether the method elects signs.
    pub consensus: bool,
    /// Default of `normalize`.
    pub normalize: bool,
    /// Default of `rescale`.
    pub rescale: bool,
    /// One line of documentation.
    pub doc: &'static str,
}

/// The methods of this plugin, with mergekit 0.1.5's defaults.
pub const VARIANTS: [Variant; 7] = [
    Variant {
        name: "ties",
        sparsification: Sparsification::Magnitude,
        consensus: true,
        normalize: true,
        rescale: false,
        doc: "TIES: trim each task vector to its largest magnitudes, elect signs, merge agreeing deltas (arXiv:2306.01708).",
    },
    Variant {
        name: "dare_ties",
        sparsification: Sparsification::Random,
        consensus: true,
        normalize: false,
        rescale: true,
        doc: "DARE with TIES sign election: random drop and rescale, then sign consensus (arXiv:2311.03099).",
    },
    Variant {
        name: "dare_linear",
        sparsification: Sparsification::Random,
        consensus: false,
        normalize: false,
        rescale: true,
        doc: "DARE: randomly drop task-vector elements, rescale, add the weighted sum (arXiv:2311.03099).",
    },
    Variant {
        name: "breadcrumbs",
        sparsification: Sparsification::MagnitudeOutliers,
        consensus: false,
        normalize: false,
        rescale: false,
        doc: "Model Breadcrumbs: drop outliers and small magnitudes of each task vector (arXiv:2312.06795).",
    },
    Variant {
        name: "breadcrumbs_ties",
        sparsification: Sparsification::MagnitudeOutliers,
        consensus: true,
        normalize: false,
        rescale: false,
        doc: "Model Breadcrumbs with TIES sign election (arXiv:2312.06795).",
    },
    Variant {
        name: "della",
        sparsification: Sparsification::DellaMagprune,
        consensus: true,
        normalize: true,
        rescale: true,
        doc: "DELLA: magnitude-ranked random drop (MagPrune), sign election, merge (arXiv:2406.11617).",
    },
    Variant {
        name: "della_linear",
        sparsification: Sparsification::DellaMagprune,
        consensus: false,
        normalize: false,
        rescale: true,
        doc: "DELLA without sign election (arXiv:2406.11617).",
    },
];

impl Variant {
    fn is_random(&self) -> bool {
        matches!(
            self.sparsification,
            Sparsification::Random | Sparsification::DellaMagprune
        )
    }

    /// The descriptor: mergekit's parameters with their names, defaults and scopes, plus
    /// `consensus_method` (consensus methods) and `rescale_rule` (random methods).
    pub fn descriptor(&self) -> AlgorithmDescriptor {
        let mut d = AlgorithmDescriptor::new(Family::Merge, self.name, self.doc)
            .param(ParamSpec::bool(
                "int8_mask",
                Some(false),
                "Accepted for mergekit compatibility (a memory option there); no effect.",
            ))
            .param(ParamSpec::bool(
                "normalize",
                Some(self.normalize),
                "Divide the merged delta by the sum of the (sign-agreeing) weights.",
            ))
            .param(ParamSpec::bool(
                "rescale",
                Some(self.rescale),
                "Rescale kept task-vector elements after sparsification.",
            ))
            .param(ParamSpec::f64(
                "lambda",
                Some(1.0),
                "Scale of the merged delta, applied after normalizing.",
            ))
            .param(ParamSpec::f64("weight", None, "This model's task-vector weight.").per_model())
            .param(
                ParamSpec::f64("density", Some(1.0), "Share of task-vector elements kept.")
                    .per_model(),
            );
        match self.sparsification {
            Sparsification::MagnitudeOutliers => {
                d = d.param(
                    ParamSpec::f64(
                        "gamma",
                        Some(0.01),
                        "Share of the largest-magnitude elements removed as outliers.",
                    )
                    .per_model(),
                );
            }
            Sparsification::DellaMagprune => {
                d = d.param(
                    ParamSpec::f64(
                        "epsilon",
                        Some(0.15),
                        "Half-width of the keep probabilities around density.",
                    )
                    .per_model(),
                );
            }
            _ => {}
        }
        if matches!(
            self.sparsification,
            Sparsification::Magnitude | Sparsification::MagnitudeOutliers
        ) {
            d = d.param(ParamSpec::str(
                "tie_break",
                Some("torch"),
                "Order of equal magnitudes at the cut: `torch` (as mergekit on CPU, bit for \
                 bit) or `index` (lower index first). Mosaic extension.",
            ));
        }
        if self.consensus {
            d = d.param(ParamSpec::str(
                "consensus_method",
                Some("sum"),
                "Sign election: `sum` (sign of the summed weighted deltas) or `count` (majority \
                 of signs). Mosaic extension; mergekit 0.1.5 always uses `sum`.",
            ));
        }
        if self.is_random() {
            d = d
                .param(ParamSpec::str(
                    "rescale_rule",
                    Some("l1"),
                    "With `rescale`: `l1` (mergekit: match the task vector's L1 norm) or \
                     `inverse_keep_prob` (the paper: divide by the keep probability). Mosaic \
                     extension.",
                ))
                .tag("random");
        }
        d.tag("requires_base")
    }
}

/// A generalized task arithmetic method.
#[derive(Debug, Clone, Copy)]
pub struct GeneralizedTaskArithmetic {
    variant: Variant,
}

impl GeneralizedTaskArithmetic {
    /// The method for `variant`, checking its constructor parameters.
    pub fn new(variant: Variant, params: &ParamMap) -> Result<Self, RError> {
        let m = GeneralizedTaskArithmetic { variant };
        m.options(params)?;
        Ok(m)
    }

    fn options(
        &self,
        params: &ParamMap,
    ) -> Result<(Option<Consensus>, RescaleRule, TieBreak), RError> {
        let consensus = if self.variant.consensus {
            Some(parse_consensus(params, "consensus_method")?)
        } else {
            None
        };
        let rule = match params.get("rescale_rule") {
            Some(_) => RescaleRule::parse(params.str("rescale_rule")?)?,
            None => RescaleRule::L1,
        };
        let ties = match params.get("tie_break") {
            Some(_) => TieBreak::parse(params.str("tie_break")?)?,
            None => TieBreak::Torch,
        };
        Ok((consensus, rule, ties))
    }

    #[allow(clippy::too_many_arguments)]
    fn sparsify(
        &self,
        call: &MergeCall<'_>,
        dtype: DType,
        index: usize,
        delta: Vec<f64>,
        rescale: bool,
        rule: RescaleRule,
        ties: TieBreak,
    ) -> Result<Vec<f64>, RError> {
        let p = &call.model_params[index];
        let density = p.f64("density")?;
        let rng = || model_rng(call, index);
        Ok(match self.variant.sparsification {
            Sparsification::Magnitude => sparsify::magnitude(dtype, &delta, density, rescale, ties),
            Sparsification::MagnitudeOutliers => {
                sparsify::magnitude_outliers(dtype, &delta, density, p.f64("gamma")?, rescale, ties)
            }
            Sparsification::Random => {
                sparsify::bernoulli(dtype, &delta, density, rescale, rule, &mut rng())
            }
            Sparsification::DellaMagprune => sparsify::della_magprune(
                dtype,
                call.models[index].shape(),
                &delta,
                density,
                p.f64("epsilon")?,
                rescale,
                rule,
                &mut rng(),
            )?,
        })
    }
}

impl MergeMethod for GeneralizedTaskArithmetic {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        // Every member of the family streams in float32/bfloat16/float16.
        match stream::rounder(call, out.numel())? {
            Some(r) => self.merge_streamed(call, out, r),
            None => self.merge_f64(call, out),
        }
    }
}

impl GeneralizedTaskArithmetic {
    fn merge_streamed(
        &self,
        call: &MergeCall<'_>,
        out: &mut TensorMut<'_>,
        r: Rounder,
    ) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        let dtype = call.float_compute_dtype()?;
        let base = require_base(call, self.variant.name)?;
        let (consensus, rule, ties) = self.options(call.params)?;
        let rescale = call.params.bool("rescale")?.then_some(rule);
        let n = out.numel();
        let mut specs = Vec::new();
        for (i, p) in call.model_params.iter().enumerate() {
            if Some(i) == call.base_index() {
                continue;
            }
            let density = p.f64("density")?;
            let random = self.variant.is_random();
            let della = match self.variant.sparsification {
                Sparsification::DellaMagprune if density < 1.0 && density > 0.0 => {
                    let epsilon = p.f64("epsilon")?;
                    sparsify::della_check(density, epsilon)?;
                    let (_, m, inner) = sparsify::della_view(call.models[i].shape(), n);
                    Some(Della { epsilon, m, inner })
                }
                _ => None,
            };
            // (At density ≤ 0 every draw drops, as the f64 path's empty mask does.)
            let drop = (random && density < 1.0).then(|| RandomDrop {
                density,
                della,
                rescale,
                rng: model_rng(call, i),
            });
            let band = if density >= 1.0 || random {
                None
            } else {
                Some(match self.variant.sparsification {
                    Sparsification::MagnitudeOutliers => {
                        let (lo, hi) = sparsify::breadcrumbs_band(n, density, p.f64("gamma")?);
                        Band {
                            lo,
                            hi,
                            descending: false,
                            rescale: rescale.is_some(),
                        }
                    }
                    _ => Band {
                        lo: 0,
                        hi: sparsify::top_k_count(n, density),
                        descending: true,
                        rescale: rescale.is_some(),
                    },
                })
            };
            specs.push(ModelSpec {
                index: i,
                weight: round_to(dtype, p.f64("weight")?) as f32,
                band,
                drop,
                divide: None,
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

    /// The whole-tensor `f64` path: every method, every dtype.
    fn merge_f64(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let (dtype, base) = prepare(call, out, self.variant.name)?;
        let (consensus, rule, ties) = self.options(call.params)?;
        let normalize = call.params.bool("normalize")?;
        let rescale = call.params.bool("rescale")?;
        let lambda = call.params.f64("lambda")?;

        // Weighted, sparsified task vectors of the non-base models, in config order.
        let mut weights = Vec::new();
        let mut deltas = Vec::new();
        for (i, delta) in task_vectors(call, dtype, &base) {
            let delta = self.sparsify(call, dtype, i, delta, rescale, rule, ties)?;
            weights.push(weigh(call, dtype, i, delta, &mut deltas)?);
        }
        let result = combine(
            dtype, &base, &weights, &deltas, consensus, normalize, lambda,
        );
        out.write_f64(&result)
    }
}

/// The random stream of model `index`: ChaCha20 seeded by the call's seed, one stream per
/// model so that each model's mask is independent of the others'.
pub(crate) fn model_rng(call: &MergeCall<'_>, index: usize) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(call.seed.bytes);
    rng.set_stream(index as u64);
    rng
}

/// Check shapes and the compute dtype, require a base model and load it in the compute dtype.
pub(crate) fn prepare(
    call: &MergeCall<'_>,
    out: &TensorMut<'_>,
    method: &str,
) -> Result<(DType, Vec<f64>), RError> {
    call.check_shapes(out.shape())?;
    let dtype = call.float_compute_dtype()?;
    Ok((dtype, require_base(call, method)?.to_f64_in(dtype)))
}

/// The call's base model, or an error naming the tensor and `method`.
pub(crate) fn require_base<'a>(
    call: &MergeCall<'a>,
    method: &str,
) -> Result<TensorRef<'a>, RError> {
    call.base().ok_or_else(|| {
        RError::input(format!(
            "tensor `{}`: {method} requires a base model (`base_model`)",
            call.name()
        ))
    })
}

/// The task vectors `x_i − base` (rounded to `dtype`) of the models other than the base, in
/// config order, each with its index into `call.models`.
pub(crate) fn task_vectors<'c>(
    call: &'c MergeCall<'_>,
    dtype: DType,
    base: &'c [f64],
) -> impl Iterator<Item = (usize, Vec<f64>)> + 'c {
    call.models
        .iter()
        .enumerate()
        .filter(move |(i, _)| Some(*i) != call.base_index())
        .map(move |(i, model)| {
            let delta = model
                .to_f64_in(dtype)
                .iter()
                .zip(base)
                .map(|(x, b)| round_to(dtype, x - b))
                .collect();
            (i, delta)
        })
}

/// Multiply model `index`'s (sparsified) task vector by its `weight` as mergekit does (the
/// weight rounded to `dtype`), push it onto `deltas` and return the weight.
pub(crate) fn weigh(
    call: &MergeCall<'_>,
    dtype: DType,
    index: usize,
    mut delta: Vec<f64>,
    deltas: &mut Vec<Vec<f64>>,
) -> Result<f64, RError> {
    // mergekit builds the weight vector in the compute dtype.
    let w = round_to(dtype, call.model_params[index].f64("weight")?);
    for d in &mut delta {
        *d = round_to(dtype, *d * w);
    }
    deltas.push(delta);
    Ok(w)
}

/// Parse `consensus_method` (`sum` when absent).
pub(crate) fn parse_consensus(params: &ParamMap, key: &str) -> Result<Consensus, RError> {
    Ok(match params.get(key) {
        None => Consensus::Sum,
        Some(_) => match params.str(key)? {
            "sum" => Consensus::Sum,
            "count" => Consensus::Count,
            other => {
                return Err(RError::param(
                    key,
                    format!("unknown method {other:?} (known: sum, count)"),
                ))
            }
        },
    })
}

/// mergekit's generalized task arithmetic merge of weighted task vectors: per element, sum
/// the (sign-agreeing, with `consensus`) deltas, divide by the sum of their weights when
/// `normalize`, scale by `lambda`, add to `base`. Rounded as torch rounds in `dtype`.
pub(crate) fn combine(
    dtype: DType,
    base: &[f64],
    weights: &[f64],
    deltas: &[Vec<f64>],
    consensus: Option<Consensus>,
    normalize: bool,
    lambda: f64,
) -> Vec<f64> {
    if deltas.is_empty() {
        return base.to_vec();
    }
    let acc = accumulator(dtype);
    let lambda = round_to(acc, lambda);
    let plain_divisor = match round_to(dtype, weights.iter().fold(0.0, |s, w| round_to(acc, s + w)))
    {
        d if d.abs() < 1e-8 => 1.0,
        d => d,
    };
    let mut result = Vec::with_capacity(base.len());
    for (e, &b) in base.iter().enumerate() {
        let (mixed, divisor) = match consensus {
            None => {
                let s = deltas.iter().fold(0.0, |s, d| round_to(acc, s + d[e]));
                (round_to(dtype, s), plain_divisor)
            }
            Some(method) => {
                let positive = match method {
                    Consensus::Sum => {
                        deltas.iter().fold(0.0, |s, d| round_to(acc, s + d[e])) >= 0.0
                    }
                    Consensus::Count => deltas.iter().map(|d| sign(d[e])).sum::<i64>() >= 0,
                };
                let majority = if positive { 1 } else { -1 };
                let (mut s, mut div) = (0.0, 0.0);
                for (d, &w) in deltas.iter().zip(weights) {
                    if sign(d[e]) == majority {
                        s = round_to(acc, s + d[e]);
                        div = round_to(acc, div + w);
                    }
                }
                let div = round_to(dtype, div);
                (round_to(dtype, s), if div == 0.0 { 1.0 } else { div })
            }
        };
        let mut m = mixed;
        if normalize {
            m = round_to(dtype, m / divisor);
        }
        if lambda != 1.0 {
            m = round_to(dtype, m * lambda);
        }
        result.push(round_to(dtype, b + m));
    }
    result
}

/// torch's `sign`: −1, 0 or 1 (0 for ±0 and NaN).
pub(crate) fn sign(x: f64) -> i64 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use abi_stable::std_types::{RSlice, RStr};
    use mosaic_abi::{ParamScope, RngSeed, TensorRef};

    /// Values on a coarse grid, so that equal magnitudes straddle every cut.
    pub(crate) fn data(n: usize, seed: u64, levels: u64, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let q = (s % (2 * levels + 1)) as f32 - levels as f32;
                q * scale + if s >> 60 == 0 { 1e-3 } else { 0.0 }
            })
            .collect()
    }

    /// The outputs of a method's chunked path and of its whole-tensor `f64` path on `call`.
    pub(crate) fn both_paths(
        call: &MergeCall<'_>,
        dtype: DType,
        shape: &[u64],
        streamed: impl FnOnce(&MergeCall<'_>, &mut TensorMut<'_>, Rounder) -> Result<(), RError>,
        whole: impl FnOnce(&MergeCall<'_>, &mut TensorMut<'_>) -> Result<(), RError>,
    ) -> (Vec<u8>, Vec<u8>) {
        let n = shape.iter().product::<u64>() as usize;
        let r = stream::rounder(call, n).unwrap().expect("streamable");
        let mut fast = vec![0u8; n * dtype.size_of()];
        let mut slow = fast.clone();
        streamed(
            call,
            &mut TensorMut::new(dtype, shape, &mut fast).unwrap(),
            r,
        )
        .unwrap();
        whole(call, &mut TensorMut::new(dtype, shape, &mut slow).unwrap()).unwrap();
        (fast, slow)
    }

    pub(crate) fn bytes(dtype: DType, v: &[f32]) -> Vec<u8> {
        let mut b = vec![0u8; v.len() * dtype.size_of()];
        mosaic_tensor::convert::f32_to_bytes(v, dtype, &mut b).unwrap();
        b
    }

    /// A base on a coarse grid and models near it, stored in one dtype: the inputs of the
    /// tests that compare a method's two formulations (equal magnitudes straddle every cut,
    /// and many deltas are zero).
    pub(crate) struct Grid {
        dtype: DType,
        shape: Vec<u64>,
        base: Vec<f32>,
        base_bytes: Vec<u8>,
        models: Vec<Vec<u8>>,
    }

    impl Grid {
        /// `m` models of `shape` in `dtype`: the base is `data(n, base_seed, 40, 0.01)`, model
        /// `i` adds `data(n, seed, levels, 0.002)` with `(seed, levels) = model(i)`.
        pub(crate) fn new(
            dtype: DType,
            shape: &[u64],
            base_seed: u64,
            m: usize,
            model: impl Fn(u64) -> (u64, u64),
        ) -> Grid {
            let n = shape.iter().product::<u64>() as usize;
            let base = data(n, base_seed, 40, 0.01);
            let models = (0..m as u64)
                .map(|i| {
                    let (seed, levels) = model(i);
                    let delta = data(n, seed, levels, 0.002);
                    let x: Vec<f32> = base.iter().zip(&delta).map(|(b, d)| b + d).collect();
                    bytes(dtype, &x)
                })
                .collect();
            Grid {
                dtype,
                shape: shape.to_vec(),
                base_bytes: bytes(dtype, &base),
                base,
                models,
            }
        }

        /// `f` on a merge call over these inputs, computed in their dtype; the base is
        /// passed as `f32` values instead when `base_f32`.
        pub(crate) fn with_call<R>(
            &self,
            per_model: &[ParamMap],
            global: &ParamMap,
            seed: u64,
            base_f32: bool,
            f: impl FnOnce(&MergeCall<'_>) -> R,
        ) -> R {
            let refs: Vec<TensorRef<'_>> = self
                .models
                .iter()
                .map(|b| TensorRef::new(self.dtype, &self.shape, b).unwrap())
                .collect();
            let base = if base_f32 {
                TensorRef::from_f32(&self.shape, &self.base).unwrap()
            } else {
                TensorRef::new(self.dtype, &self.shape, &self.base_bytes).unwrap()
            };
            f(&MergeCall {
                tensor_name: RStr::from_str("t"),
                base: Some(base).into(),
                models: RSlice::from_slice(&refs),
                base_index: None.into(),
                model_params: RSlice::from_slice(per_model),
                params: global,
                compute_dtype: self.dtype.into(),
                seed: RngSeed::from_u64(seed),
            })
        }

        /// The outputs (in the inputs' dtype) of merging with `a` and with `b`.
        pub(crate) fn outputs(
            &self,
            per_model: &[ParamMap],
            global: &ParamMap,
            a: impl FnOnce(&MergeCall<'_>, &mut TensorMut<'_>) -> Result<(), RError>,
            b: impl FnOnce(&MergeCall<'_>, &mut TensorMut<'_>) -> Result<(), RError>,
        ) -> (Vec<u8>, Vec<u8>) {
            let n = self.shape.iter().product::<u64>() as usize;
            let (mut x, mut y) = (
                vec![0u8; n * self.dtype.size_of()],
                vec![0u8; n * self.dtype.size_of()],
            );
            self.with_call(per_model, global, 9, false, |call| {
                a(
                    call,
                    &mut TensorMut::new(self.dtype, &self.shape, &mut x).unwrap(),
                )
                .unwrap();
                b(
                    call,
                    &mut TensorMut::new(self.dtype, &self.shape, &mut y).unwrap(),
                )
                .unwrap();
            });
            (x, y)
        }
    }

    /// The streamed path equals the f64 path bit for bit, whatever the options.
    #[test]
    fn streamed_path_equals_f64_path() {
        let mut checked = 0;
        // One chunk, and several (with a partial last one); a 3-D tensor (DELLA ranks along
        // dimension 1 with a stride).
        for (shape, case, variant) in VARIANTS.iter().enumerate().flat_map(|(case, v)| {
            [
                (vec![37u64, 29], case, v),
                (vec![3, 8200], case + 100, v),
                (vec![2, 33, 7], case + 200, v),
            ]
        }) {
            let gta = GeneralizedTaskArithmetic { variant: *variant };
            let d = variant.descriptor();
            for dtype in [DType::BF16, DType::F16, DType::F32] {
                for (opt, ties) in ["torch", "index"].into_iter().enumerate() {
                    // Inputs: models in the compute dtype; the base in f32 (so it is
                    // rounded: the chunk-by-chunk cast) or in the compute dtype too (the
                    // fused loop, for up to four models). 1 to 5 models.
                    let m = [3usize, 1, 2, 4, 5][case % 5];
                    let grid =
                        Grid::new(dtype, &shape, 1 + case as u64, m, |i| (10 * i + 7, 6 + i));
                    let della = variant.sparsification == Sparsification::DellaMagprune;
                    let per_model: Vec<ParamMap> = (0..m)
                        .map(|i| {
                            let mut p = ParamMap::new()
                                .with("weight", [0.3, -0.7, 1.1, 0.45, -0.2][i])
                                .with("density", [0.5, 0.31, 0.07, 0.9, 0.0][i]);
                            if della {
                                p = p.with("epsilon", 0.05);
                            }
                            p.resolve(&d.params, ParamScope::PerModel).unwrap()
                        })
                        .collect();
                    let mut global = ParamMap::new()
                        .with("normalize", opt == 0)
                        .with("lambda", if opt == 0 { 1.0 } else { 0.7 });
                    if !variant.is_random() {
                        global = global.with("tie_break", ties);
                    }
                    // With and without rescaling (random drops: by either rule).
                    global = global.with("rescale", case % 3 != 2);
                    if variant.is_random() {
                        global = global.with("rescale_rule", ["l1", "inverse_keep_prob"][opt]);
                    }
                    if variant.consensus {
                        global = global.with("consensus_method", ["sum", "count"][opt]);
                    }
                    let global = global.resolve(&d.params, ParamScope::Global).unwrap();
                    let (fast, slow) = grid.with_call(&per_model, &global, 3, opt == 0, |call| {
                        both_paths(
                            call,
                            dtype,
                            &shape,
                            |c, o, r| gta.merge_streamed(c, o, r),
                            |c, o| gta.merge_f64(c, o),
                        )
                    });
                    assert!(fast == slow, "{} {dtype:?} {ties} opt {opt}", variant.name);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, VARIANTS.len() * 18);
    }
}
