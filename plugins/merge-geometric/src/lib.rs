//! Geometric merge methods with mergekit 0.1.5 semantics, as a Mosaic merge plugin.
//!
//! Each method is per-tensor math on a [`MergeCall`](mosaic_abi::MergeCall): the base model's
//! tensor (when the config has `base_model`), the config's `models` in order, per-model and
//! global parameters already resolved for this tensor. Inputs are read in the compute dtype
//! (`f64` for mergekit's `float64`, else `f32`, after rounding to `bfloat16`/`float16` when
//! that is the merge dtype) and the result is written in the output's dtype.
//!
//! Methods: `slerp`, `model_stock`, `multislerp`, `nearswap`, `ram`, `ramplus_tl`, `nuslerp`,
//! `karcher`, `arcee_fusion`.
#![deny(missing_docs)]

pub mod arcee_fusion;
pub mod chunked;
pub mod common;
pub mod karcher;
pub mod model_stock;
pub mod multislerp;
pub mod nearswap;
pub mod nuslerp;
pub mod ram;
pub mod slerp;
pub mod torch_cpu;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("merge-geometric", env!("CARGO_PKG_VERSION"))
        .merge(slerp::descriptor(), slerp::Slerp::new)
        .merge(model_stock::descriptor(), model_stock::ModelStock::new)
        .merge(multislerp::descriptor(), multislerp::MultiSlerp::new)
        .merge(nearswap::descriptor(), nearswap::NearSwap::new)
        .merge(ram::descriptor_ram(), ram::Ram::new_ram)
        .merge(ram::descriptor_ramplus_tl(), ram::Ram::new_ramplus_tl)
        .merge(nuslerp::descriptor(), nuslerp::NuSlerp::new)
        .merge(karcher::descriptor(), karcher::Karcher::new)
        .merge(arcee_fusion::descriptor(), arcee_fusion::ArceeFusion::new)
}

mosaic_abi::export_plugin!(plugin);
