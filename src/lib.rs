//! Mosaic: algorithms that act on whole models and on the data that trains them.
//!
//! This facade re-exports the Mosaic crates behind cargo features so a user depends only on
//! what they need: `merge` (default), `dp`, `ldp`, `nas`, `optim`, `host`, or `full`.
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
pub use mosaic_merge as merge;
#[cfg(feature = "nas")]
pub use mosaic_nas as nas;
#[cfg(feature = "optim")]
pub use mosaic_optim as optim;
