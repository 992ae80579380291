//! `task_arithmetic`: add the weighted sum of task vectors to the base model (Ilharco et al.,
//! "Editing Models with Task Arithmetic", arXiv:2212.04089), as mergekit 0.1.5's generalized
//! task arithmetic computes it with no sparsification and no sign consensus.

use mosaic_abi::{
    chunk_ranges, AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamSpec, RError,
    TensorMut, CHUNK_ELEMENTS,
};

use mosaic_tensor::convert::Rounder;
use mosaic_tensor::convert::{accumulator, round_to};

/// The `task_arithmetic` descriptor, with mergekit's parameter set for the method family.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "task_arithmetic",
        "Base + lambda * sum_i weight_i * (model_i - base), optionally divided by sum weight_i.",
    )
    .param(ParamSpec::bool(
        "int8_mask",
        Some(false),
        "Accepted for mergekit compatibility; has no effect on the result.",
    ))
    .param(ParamSpec::bool(
        "normalize",
        Some(false),
        "Divide the summed weighted task vectors by the sum of the weights.",
    ))
    .param(ParamSpec::bool(
        "rescale",
        Some(false),
        "Accepted for mergekit compatibility; task arithmetic does not sparsify.",
    ))
    .param(ParamSpec::f64(
        "lambda",
        Some(1.0),
        "Scale of the merged task vector, applied after normalizing.",
    ))
    .param(ParamSpec::f64("weight", None, "This model's task-vector weight.").per_model())
    .param(
        ParamSpec::f64(
            "density",
            Some(1.0),
            "Accepted for mergekit compatibility; task arithmetic keeps every element.",
        )
        .per_model(),
    )
    .tag("requires_base")
}

/// The task arithmetic merge.
#[derive(Debug, Default)]
pub struct TaskArithmetic;

impl MergeMethod for TaskArithmetic {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        let name = call.name();
        let dtype = call.float_compute_dtype()?;
        let base_ref = call.base().ok_or_else(|| {
            RError::input(format!(
                "tensor `{name}`: task_arithmetic requires a base model (`base_model`)"
            ))
        })?;
        let normalize = call.params.bool("normalize")?;
        let lambda = call.params.f64("lambda")?;
        let acc = accumulator(dtype);

        // The non-base models and their weights (mergekit builds the weight vector in the
        // compute dtype).
        let mut terms = Vec::new();
        let mut weight_sum = 0f64;
        for (i, (model, params)) in call.models.iter().zip(call.model_params.iter()).enumerate() {
            if Some(i) == call.base_index() {
                continue;
            }
            let w = round_to(dtype, params.f64("weight")?);
            weight_sum = round_to(acc, weight_sum + w);
            terms.push((model, w));
        }
        let divisor = match round_to(dtype, weight_sum) {
            d if d.abs() < 1e-8 => 1.0,
            d => d,
        };
        let lambda = round_to(acc, lambda);
        // Chunk by chunk: each element's sum runs over the models in config order.
        if let Some(r) = Rounder::of(dtype) {
            // The same operations in f32 (see `mosaic_tensor::convert::Rounder`), each rounded where the f64 form
            // rounds to the compute dtype.
            let terms: Vec<_> = terms.iter().map(|&(m, w)| (m, w as f32)).collect();
            let (divisor, lambda) = (divisor as f32, lambda as f32);
            let [mut base, mut mixed, mut x, mut t] = [(); 4].map(|_| vec![0f32; CHUNK_ELEMENTS]);
            for (start, len) in chunk_ranges(out.numel()) {
                let (base, mixed) = (&mut base[..len], &mut mixed[..len]);
                let (x, t) = (&mut x[..len], &mut t[..len]);
                base_ref.read_f32_in(r, start, base)?;
                if terms.is_empty() {
                    out.write_f32_at(start, base)?;
                    continue;
                }
                mixed.fill(0.0);
                for &(model, w) in &terms {
                    model.read_f32_in(r, start, x)?;
                    for ((t, &x), &b) in t.iter_mut().zip(x.iter()).zip(base.iter()) {
                        *t = x - b;
                    }
                    r.round_slice(t);
                    t.iter_mut().for_each(|t| *t *= w);
                    r.round_slice(t);
                    for (m, &t) in mixed.iter_mut().zip(t.iter()) {
                        *m += t;
                    }
                }
                r.round_slice(mixed);
                if normalize {
                    mixed.iter_mut().for_each(|m| *m /= divisor);
                    r.round_slice(mixed);
                }
                if lambda != 1.0 {
                    mixed.iter_mut().for_each(|m| *m *= lambda);
                    r.round_slice(mixed);
                }
                for (m, &b) in mixed.iter_mut().zip(base.iter()) {
                    *m += b;
                }
                r.round_slice(mixed);
                out.write_f32_at(start, mixed)?;
            }
            return Ok(());
        }
        let mut base = vec![0f64; CHUNK_ELEMENTS];
        let (mut mixed, mut x) = (vec![0f64; CHUNK_ELEMENTS], vec![0f64; CHUNK_ELEMENTS]);
        for (start, len) in chunk_ranges(out.numel()) {
            let (base, mixed, x) = (&mut base[..len], &mut mixed[..len], &mut x[..len]);
            base_ref.read_f64_in(dtype, start, base)?;
            if terms.is_empty() {
                out.write_f64_at(start, base)?;
                continue;
            }
            mixed.fill(0.0);
            for &(model, w) in &terms {
                model.read_f64_in(dtype, start, x)?;
                for ((m, &x), &b) in mixed.iter_mut().zip(x.iter()).zip(base.iter()) {
                    let delta = round_to(dtype, x - b);
                    // torch sums over the model axis in an f32 (f64) accumulator.
                    *m = round_to(acc, *m + round_to(dtype, delta * w));
                }
            }
            for (m, &b) in mixed.iter_mut().zip(base.iter()) {
                let mut v = round_to(dtype, *m);
                if normalize {
                    v = round_to(dtype, v / divisor);
                }
                if lambda != 1.0 {
                    v = round_to(dtype, v * lambda);
                }
                *m = round_to(dtype, b + v);
            }
            out.write_f64_at(start, mixed)?;
        }
        Ok(())
    }
}
