//! Mosaic's RAPPOR frequency oracle ([`rappor`]): Bloom filters over cohorts, permanent and
//! instantaneous randomized response, and the least-squares (or lasso then least-squares)
//! decoding of the RAPPOR paper.
//!
//! Use it statically through [`plugin_module`], or build the `cdylib` with the `export`
//! feature and load it with `mosaic-host`.
#![deny(missing_docs)]

pub mod rappor;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("ldp-rappor", env!("CARGO_PKG_VERSION"))
        .ldp_oracle(rappor::descriptor(), rappor::Rappor::from_params)
}

mosaic_abi::export_plugin!(plugin);
