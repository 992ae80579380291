//! Basic merge methods with mergekit 0.1.5 semantics: `linear`, `passthrough` and
//! `task_arithmetic`.
//!
//! Each method is per-tensor math on a [`mosaic_abi::MergeCall`]: inputs are cast to the
//! call's compute dtype (mergekit's `dtype`) and every elementary operation is rounded as
//! torch rounds it on the CPU, so that `dtype: bfloat16` merges match mergekit bit for bit.
//!
//! Tags: `requires_base` (the planner must supply `base`), `base_is_input` (mergekit treats a
//! configured base model as one more input: the planner appends it to `models`, sets
//! `base_index` and resolves its per-model parameters from the global ones).
#![deny(missing_docs)]

pub mod linear;
pub mod passthrough;
pub mod task_arithmetic;

pub use linear::Linear;
pub use passthrough::Passthrough;
pub use task_arithmetic::TaskArithmetic;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("merge-basic", env!("CARGO_PKG_VERSION"))
        .merge(linear::descriptor(), |_| Ok(Linear))
        .merge(passthrough::descriptor(), |_| Ok(Passthrough))
        .merge(task_arithmetic::descriptor(), |_| Ok(TaskArithmetic))
}

mosaic_abi::export_plugin!(plugin);
