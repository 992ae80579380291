//! Mosaic's basic NAS strategies.
//!
//! - `random`: random search, [`random::RandomSearch`].
//!
//! Use it statically through [`plugin_module`], or build the `cdylib` with the `export`
//! feature and load it with `mosaic-host`.
#![deny(missing_docs)]

pub mod random;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("nas-basic", env!("CARGO_PKG_VERSION"))
        .nas_strategy(random::descriptor(), random::RandomSearch::from_params)
}

mosaic_abi::export_plugin!(plugin);
