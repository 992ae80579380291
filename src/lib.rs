//! Mosaic: algorithms that act on whole models and on the data that trains them.
//!
//! This facade re-exports the Mosaic crates behind cargo features so a user depends only on
//! what they need: `merge` (default), `dp`, `ldp`, `nas`, `optim`, `host`, or `full`. A
//! family's module adds a short entry point with the family's built-in plugins linked
//! statically: [`merge::Merge`] runs a whole merge from a mergekit YAML config;
//! `optim::optimizer` builds a built-in optimizer by name (feature `optim`).
//! `dp::accounting()` (feature `dp`) gives a DP-SGD run's ε and calibrates its noise.
//! `ldp::oracle` (feature `ldp`) builds a local-DP frequency oracle by name.
//! `nas::search` (feature `nas`) runs a NAS strategy on a tabular benchmark.
#![deny(missing_docs)]

pub use mosaic_abi as abi;
pub use mosaic_tensor as tensor;

#[cfg(feature = "dp")]
pub mod dp;
#[cfg(feature = "host")]
pub use mosaic_host as host;
#[cfg(feature = "ldp")]
pub mod ldp;
#[cfg(feature = "merge")]
pub mod merge;
#[cfg(feature = "nas")]
pub mod nas;
#[cfg(feature = "optim")]
pub mod optim;

/// An error of the facade's entry points: the error of the crate that failed, unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading or looking up a plugin, or the plugin's own error.
    #[cfg(feature = "host")]
    #[error(transparent)]
    Host(#[from] mosaic_host::HostError),
    /// A merge: config, planning, reading or writing checkpoints, the method.
    #[cfg(feature = "merge")]
    #[error(transparent)]
    Merge(#[from] mosaic_merge::MergeError),
    /// An optimizer step, its state or a checkpoint of it.
    #[cfg(feature = "optim")]
    #[error(transparent)]
    Optim(#[from] mosaic_optim::OptimError),
    /// Differential privacy: a bad parameter, or an accountant's or mechanism's error.
    #[cfg(feature = "dp")]
    #[error(transparent)]
    Dp(#[from] mosaic_dp::DpError),
    /// Local DP: an oracle's error, a malformed or foreign batch or state.
    #[cfg(feature = "ldp")]
    #[error(transparent)]
    Ldp(#[from] mosaic_ldp::LdpError),
    /// A NAS search: the benchmark, the strategy, the search loop.
    #[cfg(feature = "nas")]
    #[error(transparent)]
    Nas(#[from] mosaic_nas::NasError),
}

// The README's Rust examples run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
