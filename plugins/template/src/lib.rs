//! A third-party Mosaic plugin: the element-wise median merge.
//!
//! For each element, the output is the median of that element across the models (the mean of
//! the two middle values for an even count). Robust to one outlying fine-tune, parameter free.
//! It exists to show the whole shape of a plugin: a descriptor, an implementation of a family
//! trait, the export macro, and the conformance suite in `tests/`.
#![deny(missing_docs)]

use mosaic_abi::{AlgorithmDescriptor, Family, MergeCall, MergeMethod, Plugin, RError, TensorMut};

/// Element-wise median across models.
pub struct Median;

impl MergeMethod for Median {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        if call.models.is_empty() {
            return Err(RError::input(format!(
                "tensor `{}`: no models to merge",
                call.name()
            )));
        }
        let inputs: Vec<Vec<f32>> = call.models.iter().map(|m| m.to_f32_vec()).collect();
        let mut column = vec![0f32; inputs.len()];
        let mut result = vec![0f32; out.numel()];
        for (i, r) in result.iter_mut().enumerate() {
            for (c, m) in column.iter_mut().zip(&inputs) {
                *c = m[i];
            }
            column.sort_by(f32::total_cmp);
            let k = column.len();
            *r = if k % 2 == 1 {
                column[k / 2]
            } else {
                (column[k / 2 - 1] + column[k / 2]) / 2.0
            };
        }
        out.write_f32(&result)
    }
}

fn plugin() -> Plugin {
    Plugin::new("template", env!("CARGO_PKG_VERSION")).merge(
        AlgorithmDescriptor::new(
            Family::Merge,
            "median",
            "Element-wise median across models (third-party template plugin).",
        ),
        |_| Ok(Median),
    )
}

mosaic_abi::export_plugin!(plugin);
