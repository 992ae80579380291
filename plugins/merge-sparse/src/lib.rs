//! The generalized task arithmetic family of merge methods with mergekit 0.1.5 semantics:
//! `ties`, `dare_ties`, `dare_linear`, `breadcrumbs`, `breadcrumbs_ties`, `della`,
//! `della_linear`; SCE (`sce`, mergekit 0.1.5 `sce.py`); PCB merging (`pcb`); DAREx-q
//! (`dare_q`, `dare_magnitude`).
//!
//! Each method is per-tensor math on a [`mosaic_abi::MergeCall`]: inputs are cast to the
//! call's compute dtype (mergekit's `dtype`) and every elementary operation is rounded as
//! torch rounds it on the CPU. Magnitude selection is linear-time (radix select over the bit
//! patterns of `|x|`, ties broken by index, see [`select`]); randomized methods draw from
//! ChaCha20 seeded by the call's seed, one stream per model.
//!
//! Tags: `requires_base` on every method (the planner must supply `base`; a base listed among
//! `models` is skipped via `base_index` and its per-model parameters are ignored), `random`
//! on DARE and DELLA.
#![deny(missing_docs)]

mod chunks;
pub mod darex;
pub mod gta;
pub mod pcb;
pub mod sce;
pub mod select;
pub mod sparsify;
pub mod stream;
mod torch_order;

pub use darex::{DareX, Pruning};
pub use gta::{GeneralizedTaskArithmetic, Variant, VARIANTS};
pub use pcb::Pcb;
pub use sce::Sce;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    VARIANTS
        .iter()
        .fold(
            Plugin::new("merge-sparse", env!("CARGO_PKG_VERSION")),
            |p, &v| {
                p.merge(v.descriptor(), move |params| {
                    GeneralizedTaskArithmetic::new(v, params)
                })
            },
        )
        .merge(Sce::descriptor(), Sce::new)
        .merge(Pcb::descriptor(), Pcb::new)
        .merge(DareX::descriptor(Pruning::Random), |p| {
            DareX::new(Pruning::Random, p)
        })
        .merge(DareX::descriptor(Pruning::Magnitude), |p| {
            DareX::new(Pruning::Magnitude, p)
        })
}

mosaic_abi::export_plugin!(plugin);
