//! The strategies' tests go through this plugin's ABI, with the testkit's NAS helpers.

use mosaic_abi::{ParamMap, SearchSpace, SearchStrategyBox};
pub use mosaic_testkit::nas::{ask_one as ask, independent_space as space, tell_one as tell};

/// Construct `name` through this plugin's root module.
pub fn strategy(name: &str, space: &SearchSpace, params: ParamMap, seed: u64) -> SearchStrategyBox {
    mosaic_testkit::nas::construct(crate::plugin_module(), name, space, &params, seed).unwrap()
}
