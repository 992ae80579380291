//! Differential privacy (feature `dp`): everything of [`mosaic_dp`], plus the built-in
//! accountants (`rdp`, `pld`, `zcdp` from `dp-accounting`, `basic` from `dp-basic`) linked
//! statically, so accounting and calibration need no plugin files.
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

use mosaic_abi::PluginModRef;
use mosaic_host::{HostError, Registry};
pub use mosaic_dp::*;

/// The built-in DP plugins' root modules, linked statically.
pub fn builtin_plugins() -> &'static [PluginModRef] {
    static MODULES: OnceLock<Vec<PluginModRef>> = OnceLock::new();
    MODULES.get_or_init(|| {
        vec![
            mosaic_plugin_dp_accounting::plugin_module(),
            mosaic_plugin_dp_basic::plugin_module(),
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
