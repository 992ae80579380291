//! Mosaic's LDP mean mechanisms: each user holds a vector of reals in `[-1, 1]` and sends one
//! ε-LDP report; the server estimates every attribute's mean, unbiased, with its variance.
//!
//! - [`duchi`]: `duchi`, Duchi, Jordan and Wainwright's mechanism — one attribute: report
//!   `±B`; several: a vector of `±B` on the side of a randomized sign vector.
//! - [`sampled`]: `piecewise` and `hybrid` (Wang et al., ICDE 2019), each user reporting `k`
//!   of the `d` attributes at budget `ε/k`, scaled by `d/k`.
//! - [`scalar`]: the one-attribute mechanisms and their closed-form variances.
//!
//! Use it statically through [`plugin_module`], or build the `cdylib` with the `export`
//! feature and load it with `mosaic-host`. No mechanism spawns threads: the host splits batches.
#![deny(missing_docs)]

pub mod duchi;
pub mod sampled;
pub mod scalar;

use mosaic_abi::Plugin;

fn plugin() -> Plugin {
    Plugin::new("ldp-mean", env!("CARGO_PKG_VERSION"))
        .ldp_mean(duchi::descriptor(), duchi::Duchi::from_params)
        .ldp_mean(sampled::piecewise_descriptor(), |p| {
            sampled::Sampled::from_params(scalar::Base::Piecewise, p)
        })
        .ldp_mean(sampled::hybrid_descriptor(), |p| {
            sampled::Sampled::from_params(scalar::Base::Hybrid, p)
        })
}

mosaic_abi::export_plugin!(plugin);

#[cfg(test)]
mod suite {
    use mosaic_abi::ParamMap;

    #[test]
    fn every_mechanism_passes_the_testkit_suites() {
        mosaic_testkit::conformance::check_plugin(crate::plugin_module()).unwrap();
        for name in ["duchi", "piecewise", "hybrid"] {
            for (eps, dims) in [(0.5, 1i64), (1.0, 1), (4.0, 5), (8.0, 6)] {
                let p = ParamMap::new().with("epsilon", eps).with("dims", dims);
                mosaic_testkit::ldp_mean::check_mean(crate::plugin_module(), name, &p).unwrap();
            }
        }
    }
}
