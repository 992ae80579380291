//! Mosaic's model-based NAS strategies — each learns from the scores it is told:
//!
//! - `reinforce`: an LSTM controller trained by policy gradient (Zoph & Le 2017; ENAS;
//!   GraphNAS / Auto-GNN), [`reinforce::Reinforce`];
//! - `cmab-nas`: per-choice bandits searched by nested Monte-Carlo search (Huang et al.
//!   2021), [`cmab::CmabNas`];
//! - `bananas`: Bayesian optimization with an ensemble of MLPs on the path encoding (White et
//!   al. 2021), [`bananas::Bananas`].
//!
//! Use it statically through [`plugin_module`], or build the `cdylib` with the `export`
//! feature and load it with `mosaic-host`. No threads: training runs on the calling thread.
#![deny(missing_docs)]

pub mod bananas;
pub mod cmab;
pub mod nn;
pub mod reinforce;
#[cfg(test)]
mod testutil;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("nas-model", env!("CARGO_PKG_VERSION"))
        .nas_strategy(reinforce::descriptor(), reinforce::Reinforce::from_params)
        .nas_strategy(cmab::descriptor(), cmab::CmabNas::from_params)
        .nas_strategy(bananas::descriptor(), bananas::Bananas::from_params)
}

mosaic_abi::export_plugin!(plugin);
