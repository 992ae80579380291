//! Distributed and zeroth-order optimizers, and the per-step math of
//! [`mosaic_optim::distributed`]'s orchestration:
//!
//! - `spsa`: zeroth-order SPSA/MeZO with shared randomness, one byte per projected gradient,
//!   FedKSeed seed pools; a [`mosaic_optim::distributed::ZerothOrderRule`] for replicas.
//! - `ef21`: EF21 error feedback with a compressor ([`compress`]: TopK, RandK, a stochastic
//!   quantizer), the single-worker form of [`mosaic_optim::distributed::Ef21`].
//! - `diloco`: DiLoCo's single-worker form (inner AdamW, outer Nesterov on the parameter
//!   delta), the one-worker case of [`mosaic_optim::distributed::DiLoCo`].
#![deny(missing_docs)]

pub mod compress;
pub mod diloco;
pub mod ef21;
pub mod spsa;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("optim-distributed", env!("CARGO_PKG_VERSION"))
        .optimizer(spsa::descriptor(), spsa::Spsa::from_params)
        .optimizer(ef21::descriptor(), ef21::Ef21::from_params)
        .optimizer(diloco::descriptor(), diloco::DiLoCo::from_params)
}

mosaic_abi::export_plugin!(plugin);
