//! The optimizers from the papers Mosaic builds on, plus two that users now expect:
//!
//! - `adamp`, `sgdp`: AdamP / SGDP (Heo et al., ICLR 2021), no radial update on
//!   scale-invariant weights.
//!
//! Each optimizer is a folder (`src/<name>/{mod.rs, tests.rs}`); what several share lives in
//! [`shared`]. Semantics, parameter names and defaults follow pytorch-optimizer 4.x where it
//! has the optimizer, the paper's reference code otherwise.
#![deny(missing_docs)]

pub mod adam4bit;
pub mod adamp;
pub mod frugal;
pub mod muon;
pub mod schedulefree_adamw;
pub mod sgdp;
pub mod shared;
pub mod soap;

#[cfg(test)]
mod testing;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("optim-research", env!("CARGO_PKG_VERSION"))
        .optimizer(adamp::descriptor(), adamp::AdamP::from_params)
        .optimizer(adam4bit::descriptor(), adam4bit::Adam4bit::from_params)
        .optimizer(frugal::descriptor(), frugal::Frugal::from_params)
        .optimizer(sgdp::descriptor(), sgdp::Sgdp::from_params)
        .optimizer(soap::descriptor(), soap::Soap::from_params)
        .optimizer(muon::descriptor(), muon::Muon::from_params)
        .optimizer(
            schedulefree_adamw::descriptor(),
            schedulefree_adamw::ScheduleFreeAdamW::from_params,
        )
}

mosaic_abi::export_plugin!(plugin);
