//! `linear`: a weighted average of the models' tensors (Wortsman et al., "Model soups",
//! arXiv:2203.05482), as mergekit 0.1.5 computes it.

use mosaic_abi::{
    chunk_ranges, AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamSpec, RError,
    TensorMut, CHUNK_ELEMENTS,
};

use mosaic_tensor::convert::Rounder;
use mosaic_tensor::convert::{accumulator, round_to};

/// The `linear` descriptor: per-model `weight` (required), global `normalize` (default true).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "linear",
        "Weighted average of the models' tensors (model soups); every input, base included, \
         is a weighted term.",
    )
    .param(ParamSpec::f64("weight", None, "This model's weight.").per_model())
    .param(ParamSpec::bool(
        "normalize",
        Some(true),
        "Divide by the sum of the weights.",
    ))
    .tag("base_is_input")
}

/// The linear merge. Every entry of `models` is a term, the base model included when the
/// config lists it (mergekit ignores which one is the base for this method).
#[derive(Debug, Default)]
pub struct Linear;

impl MergeMethod for Linear {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        let name = call.name();
        let dtype = call.float_compute_dtype()?;
        if call.base().is_some() && call.base_index().is_none() {
            return Err(RError::input(format!(
                "tensor `{name}`: linear takes the base model as one more weighted input, as \
                 mergekit does; pass it among `models` (with its `weight`) and set `base_index`"
            )));
        }
        if call.models.is_empty() {
            return Err(RError::input(format!(
                "tensor `{name}`: linear needs at least one model"
            )));
        }
        let normalize = call.params.bool("normalize")?;
        // mergekit computes in f32 (f64 only for f64 inputs) and casts the result back.
        let acc = accumulator(dtype);
        let weights = call
            .model_params
            .iter()
            .map(|p| Ok(round_to(acc, p.f64("weight")?)))
            .collect::<Result<Vec<f64>, RError>>()?;
        let denominator = weights.iter().fold(0f64, |d, &w| round_to(acc, d + w));
        if normalize && denominator == 0.0 {
            return Err(RError::param(
                "weight",
                format!(
                    "tensor `{name}`: the weights sum to zero, so `normalize: true` would \
                     divide by zero"
                ),
            ));
        }
        // Chunk by chunk: each element's sum runs over the models in config order.
        if let Some(r) = Rounder::of(dtype) {
            // The same operations in f32 (see `mosaic_tensor::convert::Rounder`): the accumulator is f32 for these
            // dtypes, so only the final result is rounded to the compute dtype.
            let weights: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
            let denominator = denominator as f32;
            let (mut result, mut x) = (vec![0f32; CHUNK_ELEMENTS], vec![0f32; CHUNK_ELEMENTS]);
            for (start, len) in chunk_ranges(out.numel()) {
                let (result, x) = (&mut result[..len], &mut x[..len]);
                result.fill(0.0);
                for (model, &w) in call.models.iter().zip(&weights) {
                    model.read_f32_in(r, start, x)?;
                    for (s, &x) in result.iter_mut().zip(x.iter()) {
                        *s += x * w;
                    }
                }
                if normalize {
                    result.iter_mut().for_each(|s| *s /= denominator);
                }
                r.round_slice(result);
                out.write_f32_at(start, result)?;
            }
            return Ok(());
        }
        let (mut result, mut x) = (vec![0f64; CHUNK_ELEMENTS], vec![0f64; CHUNK_ELEMENTS]);
        for (start, len) in chunk_ranges(out.numel()) {
            let (result, x) = (&mut result[..len], &mut x[..len]);
            result.fill(0.0);
            for (model, &w) in call.models.iter().zip(&weights) {
                model.read_f64_in(dtype, start, x)?;
                for (r, &x) in result.iter_mut().zip(x.iter()) {
                    *r = round_to(acc, *r + round_to(acc, x * w));
                }
            }
            for r in result.iter_mut() {
                if normalize {
                    *r = round_to(acc, *r / denominator);
                }
                *r = round_to(dtype, *r);
            }
            out.write_f64_at(start, result)?;
        }
        Ok(())
    }
}
