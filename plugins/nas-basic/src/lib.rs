//! Mosaic's basic NAS strategies, black-box and model-free:
//!
//! - `random`: random search, [`random::RandomSearch`];
//! - `regularized-evolution`: aging evolution (Real et al. 2019),
//!   [`evolution::RegularizedEvolution`];
//! - `local-search`: hill climbing with restarts (White et al. 2021), [`local::LocalSearch`];
//! - `evopress`: evolutionary search of per-layer compression levels under an exact global
//!   budget (Sieberling et al. 2024), [`evopress::EvoPress`].
//!
//! Use it statically through [`plugin_module`], or build the `cdylib` with the `export`
//! feature and load it with `mosaic-host`.
#![deny(missing_docs)]

pub mod evolution;
pub mod evopress;
pub mod local;
pub mod random;
#[cfg(test)]
mod testutil;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("nas-basic", env!("CARGO_PKG_VERSION"))
        .nas_strategy(random::descriptor(), random::RandomSearch::from_params)
        .nas_strategy(
            evolution::descriptor(),
            evolution::RegularizedEvolution::from_params,
        )
        .nas_strategy(local::descriptor(), local::LocalSearch::from_params)
        .nas_strategy(evopress::descriptor(), evopress::EvoPress::from_params)
}

mosaic_abi::export_plugin!(plugin);
