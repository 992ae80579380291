//! Mosaic's basic local-DP frequency oracles.
//!
//! - `grr`: generalized (k-ary) randomized response, [`grr::Grr`].
//!
//! Use it statically through [`plugin_module`], or build the `cdylib` with the `export`
//! feature and load it with `mosaic-host`.
#![deny(missing_docs)]

pub mod grr;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("ldp-basic", env!("CARGO_PKG_VERSION"))
        .ldp_oracle(grr::descriptor(), grr::Grr::from_params)
}

mosaic_abi::export_plugin!(plugin);
