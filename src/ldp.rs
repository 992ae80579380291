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
//! [`registry`] holds the built-in oracles and mean mechanisms, to add your own plugin to.
//!
//! [`mean`] builds a mean mechanism (`duchi`, `piecewise`, `hybrid`, plugin `ldp-mean`), and
//! [`heavy_hitters`] finds the top `k` of `bits`-bit values with PEM, TreeHist or (for
//! several parties) TAP over OLH:
//!
//! ```
//! # fn main() -> Result<(), mosaic::Error> {
//! use mosaic::ldp::{heavy_hitters, mean, olh, PrefixTree, RngSeed};
//!
//! let pm = mean("piecewise", 1.0, 1)?;
//! let values = vec![0.5; 20_000]; // one value in [-1, 1] per user
//! let estimate = pm.estimate(&pm.aggregate(&pm.perturb(&values, RngSeed::from_os())?)?)?;
//! assert!((estimate.means[0] - 0.5).abs() < 6.0 * estimate.variance[0].sqrt());
//!
//! // 32-bit values, three of them heavy.
//! let users: Vec<u64> = (0..60_000u64)
//!     .map(|i| [0xdead_beef, 0x1234_5678, 0x0bad_f00d][(i % 3) as usize] ^ (i % 7 / 6) * i)
//!     .collect();
//! let top = heavy_hitters::pem(&users, &PrefixTree::pem(32, 3), &olh(4.0), RngSeed::from_os())?;
//! assert!(top.items.contains(&0xdead_beef));
//! # Ok(()) }
//! ```

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
        mosaic_plugin_ldp_mean::plugin_module(),
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

/// The built-in mean mechanism `name` (`duchi`, `piecewise`, `hybrid`) with budget `epsilon`
/// over `dims` attributes in `[-1, 1]` (other parameters at their defaults).
pub fn mean(name: &str, epsilon: f64, dims: u32) -> Result<MeanEstimator, Error> {
    let params = ParamMap::new()
        .with("epsilon", epsilon)
        .with("dims", dims as i64);
    let reg = registry()?;
    Ok(MeanEstimator::new(reg.ldp_mean(name, &params)?)?)
}

/// An oracle factory for [`heavy_hitters`]: the built-in OLH at `epsilon`.
pub fn olh(epsilon: f64) -> impl Fn(u64) -> mosaic_ldp::Result<Oracle> {
    move |d| {
        let params = ParamMap::new()
            .with("epsilon", epsilon)
            .with("domain_size", d as i64);
        Oracle::from_module(mosaic_plugin_ldp_freq::plugin_module(), "olh", &params)
    }
}
