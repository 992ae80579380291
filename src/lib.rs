//! Mosaic: algorithms that act on whole models and on the data that trains them.
//!
//! This facade re-exports the Mosaic crates behind cargo features so a user depends only on
//! what they need: `merge` (default), `dp`, `ldp`, `nas`, `optim`, `host`, or `full`. A
//! family's module adds a short entry point with the family's built-in plugins linked
//! statically: [`merge::Merge`] runs a whole merge from a mergekit YAML config; `nas::search`
runs a NAS strategy on a tabular benchmark.
#![deny(missing_docs)]

pub use mosaic_abi as abi;
pub use mosaic_tensor as tensor;

#[cfg(feature = "dp")]
pub use mosaic_dp as dp;
#[cfg(feature = "host")]
pub use mosaic_host as host;
#[cfg(feature = "ldp")]
pub use mosaic_ldp as ldp;
#[cfg(feature = "merge")]
pub mod merge;
#[cfg(feature = "nas")]
pub mod nas;
#[cfg(feature = "optim")]
pub use mosaic_optim as optim;

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
    /// A NAS search: the benchmark, the strategy, the search loop.
    #[cfg(feature = "nas")]
    #[error(transparent)]
    Nas(#[from] mosaic_nas::NasError),
}

// The README's Rust examples run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
