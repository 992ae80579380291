//! Mosaic's LDP frequency oracles beyond GRR, one folder per protocol:
//!
//! - [`unary`]: unary encoding, `sue` (symmetric, "basic RAPPOR") and `oue` (optimized);
//! - [`local_hashing`]: local hashing, `olh` (optimized, `g = round(e^ε) + 1`) and `blh`
//!   (binary, `g = 2`);
//! - [`hadamard`]: `hr`, Hadamard response (Acharya, Sun, Zhang), with blocks;
//! - [`cms`]: `cms`, Apple's count mean sketch;
//! - [`hcms`]: `hcms`, Apple's Hadamard count mean sketch.
//!
//! Use it statically through [`plugin_module`], or build the `cdylib` with the `export`
//! feature and load it with `mosaic-host`. No oracle spawns threads: the host splits batches.
#![deny(missing_docs)]

pub mod cms;
pub mod hadamard;
pub mod hcms;
pub mod local_hashing;
pub mod unary;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("ldp-freq", env!("CARGO_PKG_VERSION"))
        .ldp_oracle(unary::sue_descriptor(), |p| {
            unary::UnaryEncoding::from_params(unary::Kind::Symmetric, p)
        })
        .ldp_oracle(unary::oue_descriptor(), |p| {
            unary::UnaryEncoding::from_params(unary::Kind::Optimized, p)
        })
        .ldp_oracle(local_hashing::olh_descriptor(), |p| {
            local_hashing::LocalHashing::from_params(false, p)
        })
        .ldp_oracle(local_hashing::blh_descriptor(), |p| {
            local_hashing::LocalHashing::from_params(true, p)
        })
        .ldp_oracle(
            hadamard::descriptor(),
            hadamard::HadamardResponse::from_params,
        )
        .ldp_oracle(cms::descriptor(), cms::Cms::from_params)
        .ldp_oracle(hcms::descriptor(), hcms::Hcms::from_params)
}

mosaic_abi::export_plugin!(plugin);
