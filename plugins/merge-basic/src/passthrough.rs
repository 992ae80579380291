//! `passthrough`: copy the single input tensor, optionally scaled (mergekit 0.1.5).

use mosaic_abi::{
    chunk_ranges, AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamSpec, RError,
    TensorMut, CHUNK_ELEMENTS,
};
use mosaic_tensor::DType;

use mosaic_tensor::convert::round_to;

/// The `passthrough` descriptor: per-model `scale` (default 1, which copies unchanged).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "passthrough",
        "Copy the one input tensor, multiplied by its `scale` if given.",
    )
    .param(
        ParamSpec::f64(
            "scale",
            Some(1.0),
            "Multiply the tensor by this factor (mergekit's unset scale = 1).",
        )
        .per_model(),
    )
    .tag("base_is_input")
    .tag("single_input")
}

/// The passthrough method: exactly one input.
#[derive(Debug, Default)]
pub struct Passthrough;

impl MergeMethod for Passthrough {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        let name = call.name();
        let dtype = call.float_compute_dtype()?;
        let extra_base = usize::from(call.base().is_some() && call.base_index().is_none());
        let inputs = call.models.len() + extra_base;
        if inputs != 1 {
            return Err(RError::input(format!(
                "tensor `{name}`: passthrough takes exactly one input, got {inputs} (a \
                 base_model not listed among `models` counts as an input, as in mergekit)"
            )));
        }
        // The one input: the listed model, or the base model when no model is listed.
        let (input, scale) = match (call.models.first(), call.base()) {
            (Some(m), _) => (*m, call.model_params[0].f64("scale")?),
            (None, Some(b)) => (b, 1.0),
            (None, None) => unreachable!("exactly one input was checked above"),
        };
        // torch multiplies a half tensor by a Python float in f32.
        let s = round_to(
            if dtype == DType::F64 {
                dtype
            } else {
                DType::F32
            },
            scale,
        );
        let mut v = vec![0f64; CHUNK_ELEMENTS];
        for (start, len) in chunk_ranges(out.numel()) {
            let v = &mut v[..len];
            input.read_f64_in(dtype, start, v)?;
            if scale != 1.0 {
                for x in v.iter_mut() {
                    *x = round_to(dtype, *x * s);
                }
            }
            out.write_f64_at(start, v)?;
        }
        Ok(())
    }
}
