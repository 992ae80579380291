//! Local differential privacy (feature `ldp`): everything of [`mosaic_ldp`], plus
//! [`oracle`], which builds a frequency oracle from the built-in plugins (`ldp-basic`,
//! `ldp-freq`, `ldp-rappor`, linked statically) by name, ε and domain size.
//!
//! ```
//! # fn main() -> Result<(), mosaic::Error> {
//! use mosaic::ldp::{oracle, RngSeed};
//!
//! let olh = oracle("olh", 1.0, 1024)?;
//! let values: Vec<u64> = (0..20_000).map(|i| (i * i) % 1024).collect();
//! let reports = olh.perturb(&values, RngSeed::from_os())?; // clients
//! let state = olh.aggregate(&reports)?; // a server; states of several servers merge
//! let estimate = olh.estimate(&state)?; // a count and its variance per item
//! assert_eq!(estimate.counts.len(), 1024);
//! # Ok(()) }
//! ```
//!
//! [`oracle_with`] takes the oracle's other parameters (`g`, `hashes`, `cohorts`...);
//! [`registry`] holds the built-in oracles, to add your own plugin to.

use mosaic_abi::ParamMap;
use mosaic_host::{HostError, Registry};
pub use mosaic_ldp::*;

use crate::Error;

/// A registry holding the built-in LDP oracles, linked statically.
pub fn registry() -> Result<Registry, HostError> {
    let mut reg = Registry::new();
    for module in [
        mosaic_plugin_ldp_basic::plugin_module(),
        mosaic_plugin_ldp_freq::plugin_module(),
        mosaic_plugin_ldp_rappor::plugin_module(),
    ] {
        reg.add_static(module)?;
    }
    Ok(reg)
}

/// The built-in oracle `name` (`grr`, `sue`, `oue`, `olh`, `blh`, `hr`, `cms`, `hcms`,
/// `rappor`) with budget `epsilon` over `domain_size` items, other parameters at their
/// defaults.
pub fn oracle(name: &str, epsilon: f64, domain_size: u64) -> Result<Oracle, Error> {
    oracle_with(name, epsilon, domain_size, ParamMap::new())
}

/// Like [`oracle`], with other parameters.
pub fn oracle_with(
    name: &str,
    epsilon: f64,
    domain_size: u64,
    params: ParamMap,
) -> Result<Oracle, Error> {
    let params = params
        .with("epsilon", epsilon)
        .with("domain_size", domain_size as i64);
    let reg = registry()?;
    Ok(Oracle::new(reg.ldp_oracle(name, &params)?)?)
}
