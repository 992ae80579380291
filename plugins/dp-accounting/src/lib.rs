//! Privacy accountants for Mosaic's DP family:
//!
//! - accountant `rdp`: Rényi DP (Mironov 2017) with the subsampled-Gaussian analyses of
//!   Mironov, Talwar and Zhang (2019, Poisson sampling, integer and fractional orders) and
//!   Wang, Balle and Kasiviswanathan (2019, sampling without replacement), Laplace, pure-DP,
//!   zCDP and RDP-curve events, converted to (ε, δ) by Canonne, Kamath and Steinke's bound at
//!   the best order (see [`rdp`]);
//! - accountant `pld`: privacy loss distributions (Meiser and Mohammadi 2018; Koskela, Jälkö
//!   and Honkela 2020) discretized pessimistically by connect-the-dots (Doroshenko, Ghazi,
//!   Kamath, Kumar and Manurangsi 2022) and composed by FFT (see [`pld`]);
//! - accountant `zcdp`: zero-concentrated DP (Bun and Steinke 2016) with the (ε, δ)
//!   conversion optimised over every real order (see [`zcdp`]).
//!
//! Each module carries its privacy argument (`proof.md`, in its rustdoc).
#![deny(missing_docs)]

use mosaic_abi::Plugin;

pub mod pld;
pub mod rdp;
pub mod zcdp;

fn plugin() -> Plugin {
    Plugin::new("dp-accounting", env!("CARGO_PKG_VERSION"))
        .accountant(rdp::descriptor(), rdp::Rdp::from_params)
        .accountant(pld::descriptor(), pld::Pld::from_params)
        .accountant(zcdp::descriptor(), zcdp::Zcdp::from_params)
}

mosaic_abi::export_plugin!(plugin);
