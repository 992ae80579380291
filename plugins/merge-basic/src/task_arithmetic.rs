//! `task_arithmetic`: add the weighted sum of task vectors to the base model (Ilharco et al.,
//! "Editing Models with Task Arithmetic", arXiv:2212.04089), as mergekit 0.1.5's generalized
//! task arithmetic computes it with no sparsification and no sign consensus.

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamSpec, RError, TensorMut,
};

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
        let base = base_ref.to_f64_in(dtype);
        let normalize = call.params.bool("normalize")?;
        let lambda = call.params.f64("lambda")?;
        let acc = accumulator(dtype);

        let mut mixed = vec![0f64; base.len()];
        let mut weight_sum = 0f64;
        let mut any = false;
        for (i, (model, params)) in call.models.iter().zip(call.model_params.iter()).enumerate() {
            if Some(i) == call.base_index() {
                continue;
            }
            any = true;
            // mergekit builds the weight vector in the compute dtype.
            let w = round_to(dtype, params.f64("weight")?);
            weight_sum = round_to(acc, weight_sum + w);
            let x = model.to_f64_in(dtype);
            for ((m, x), b) in mixed.iter_mut().zip(x).zip(&base) {
                let delta = round_to(dtype, x - b);
                // torch sums over the model axis in an f32 (f64) accumulator.
                *m = round_to(acc, *m + round_to(dtype, delta * w));
            }
        }
        if !any {
            return out.write_f64(&base);
        }
        let divisor = match round_to(dtype, weight_sum) {
            d if d.abs() < 1e-8 => 1.0,
            d => d,
        };
        let lambda = round_to(acc, lambda);
        let result: Vec<f64> = mixed
            .iter()
            .zip(&base)
            .map(|(&m, &b)| {
                let mut m = round_to(dtype, m);
                if normalize {
                    m = round_to(dtype, m / divisor);
                }
                if lambda != 1.0 {
                    m = round_to(dtype, m * lambda);
                }
                round_to(dtype, b + m)
            })
            .collect();
        out.write_f64(&result)
    }
}
