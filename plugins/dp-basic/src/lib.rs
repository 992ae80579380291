//! Basic central-DP algorithms for Mosaic:
//!
//! - mechanism `laplace`: the Laplace mechanism, ε-calibrated, sampled exactly on a
//!   power-of-two grid (OpenDP's discipline for floats; see [`laplace`]);
//! - accountant `basic`: basic (sequential) composition of pure and approximate DP events
//!   (see [`basic`]).
#![deny(missing_docs)]

use mosaic_abi::Plugin;

pub mod basic;
pub mod laplace;

fn plugin() -> Plugin {
    Plugin::new("dp-basic", env!("CARGO_PKG_VERSION"))
        .mechanism(laplace::descriptor(), laplace::Laplace::from_params)
        .accountant(basic::descriptor(), |_| Ok(basic::BasicComposition::new()))
}

mosaic_abi::export_plugin!(plugin);
