//! Differential privacy (feature `dp`): everything of [`mosaic_dp`], plus the built-in
//! accountants (`rdp`, `pld`, `zcdp` from `dp-accounting`, `basic` from `dp-basic`) and
//! mechanisms (`laplace` from `dp-basic`, the rest from `dp-mechanisms`) linked statically,
//! so accounting, calibration and releases need no plugin files.
//!
//! ```
//! # fn main() -> Result<(), mosaic::Error> {
//! // What does DP-SGD cost: 10,000 steps, batches sampled at rate 1 %, noise multiplier 1.1?
//! let rdp = mosaic::dp::accounting();
//! let report = rdp.dpsgd_epsilon(0.01, 1.1, 10_000, 1e-5)?;
//! assert!((report.epsilon - 5.632).abs() < 1e-3 && report.order() == Some(4.7));
//!
//! // The tighter PLD accountant, and calibration: the smallest σ for (ε, δ) = (3, 1e-5).
//! let pld = mosaic::dp::accounting().accountant("pld");
//! assert!(pld.dpsgd_epsilon(0.01, 1.1, 10_000, 1e-5)?.epsilon < report.epsilon);
//! let sigma = rdp.noise_multiplier(3.0, 1e-5, 0.01, 10_000)?;
//! assert!(sigma.epsilon <= 3.0 && sigma.noise_multiplier > 1.1);
//! # Ok(()) }
//! ```
//!
//! Any list of [`PrivacyEvent`]s composes the same way ([`Accounting::epsilon`]); a third
//! party's accountant plugin joins through [`registry`] and [`FnSource`].

use std::sync::OnceLock;

use mosaic_abi::{ParamMap, PluginModRef};
pub use mosaic_dp::*;
use mosaic_host::{HostError, Registry};

/// The built-in DP plugins' root modules, linked statically.
pub fn builtin_plugins() -> &'static [PluginModRef] {
    static MODULES: OnceLock<Vec<PluginModRef>> = OnceLock::new();
    MODULES.get_or_init(|| {
        vec![
            mosaic_plugin_dp_accounting::plugin_module(),
            mosaic_plugin_dp_basic::plugin_module(),
            mosaic_plugin_dp_mechanisms::plugin_module(),
        ]
    })
}

/// Accounting with the built-in `rdp` accountant; switch with
/// [`Accounting::accountant`]`("pld")` (or `"zcdp"`, `"basic"`).
pub fn accounting() -> Accounting<'static> {
    static SOURCE: OnceLock<Vec<PluginModRef>> = OnceLock::new();
    Accounting::new(SOURCE.get_or_init(|| builtin_plugins().to_vec()))
}

/// A registry holding the built-in DP plugins, linked statically; add your own with
/// `registry()?.add_static(my_plugin::plugin_module())?` and account through
/// `FnSource(|name, params| registry.accountant(name, params))`.
pub fn registry() -> Result<Registry, HostError> {
    let mut reg = Registry::new();
    for m in builtin_plugins() {
        reg.add_static(*m)?;
    }
    Ok(reg)
}

/// A built-in mechanism by name (`laplace`, `gaussian`, `geometric`, `discrete_gaussian`,
/// `exponential`, `report_noisy_max`, `permute_and_flip`, `noisy_top_k`, `sparse_vector`,
/// `randomized_response`), ready to release with fresh OS entropy per release
/// ([`Release::with_fixed_seed`] for labelled, non-private experiments).
///
/// ```
/// # fn main() -> Result<(), mosaic::Error> {
/// use mosaic::abi::ParamMap;
///
/// // Which of four items is most popular? One person changes each count by at most 1.
/// let mut em = mosaic::dp::mechanism("exponential", &ParamMap::new().with("epsilon", 2.0))?;
/// let chosen = em.release(&[10.0, 500.0, 12.0, 7.0], 1.0)?;
/// assert_eq!(chosen.output.indices().unwrap().len(), 1);
/// assert_eq!(chosen.event, mosaic::dp::PrivacyEvent::Pure { epsilon: 2.0 });
/// # Ok(()) }
/// ```
pub fn mechanism(name: &str, params: &ParamMap) -> Result<Release, HostError> {
    Ok(Release::new(registry()?.mechanism(name, params)?))
}
