//! Privacy accounting from Rust: what a run of mechanisms costs, in (ε, δ).
//!
//! Accountants are plugins (`rdp`, `pld`, `zcdp` in `mosaic-plugin-dp-accounting`, `basic`
//! in `mosaic-plugin-dp-basic`). An [`AccountantSource`] makes fresh ones by name: a host
//! registry of loaded `.so` files ([`FnSource`] around `Registry::accountant`), or plugin root
//! modules linked statically (`[PluginModRef]`). [`Accounting`] is the short path on top:
//!
//! - [`Accounting::dpsgd_epsilon`]: ε of `steps` Poisson-subsampled Gaussian steps (DP-SGD);
//! - [`Accounting::noise_multiplier`]: the smallest σ meeting a target (ε, δ) (calibration,
//!   see [`crate::calibrate`]);
//! - [`Accounting::max_steps`]: the most steps a σ affords;
//! - [`Accounting::epsilon`] / [`Accounting::delta`]: any list of [`PrivacyEvent`]s.
//!
//! The `mosaic` facade crate's `dp` feature registers the built-in accountants statically, so
//! `mosaic::dp::accounting()` needs no plugin files (its docs show it end to end).
//!
//! [`special`] and [`convert`] hold the numerics accountants share: log-space arithmetic,
//! tail-accurate special functions, and the RDP/zCDP → (ε, δ) conversions.

pub mod convert;
pub mod special;

use std::fmt;

use mosaic_abi::{
    AccountantBox, EpsilonReport, Family, ParamMap, ParamValue, PluginModRef, PrivacyEvent,
    Sampling,
};

use crate::calibrate::{self, NoiseCalibration, StepsCalibration};
use crate::DpError;

/// Something that makes fresh accountants by name.
pub trait AccountantSource {
    /// A new, empty accountant `name` with `params` (defaults filled in by the plugin).
    fn accountant(&self, name: &str, params: &ParamMap) -> Result<AccountantBox, DpError>;
}

/// An [`AccountantSource`] from a closure, e.g. around a host registry:
/// `FnSource(|name, params| registry.accountant(name, params))`.
pub struct FnSource<F>(pub F);

impl<F, E> AccountantSource for FnSource<F>
where
    F: Fn(&str, &ParamMap) -> Result<AccountantBox, E>,
    E: fmt::Display,
{
    fn accountant(&self, name: &str, params: &ParamMap) -> Result<AccountantBox, DpError> {
        (self.0)(name, params).map_err(|e| DpError::param("accountant", e.to_string()))
    }
}

fn declares(module: &PluginModRef, name: &str) -> bool {
    (module.info())().into_result().is_ok_and(|info| {
        info.algorithms
            .iter()
            .any(|a| a.family == Family::DpAccountant && a.name.as_str() == name)
    })
}

fn names(modules: &[PluginModRef]) -> Vec<String> {
    modules
        .iter()
        .filter_map(|m| (m.info())().into_result().ok())
        .flat_map(|info| {
            info.algorithms
                .iter()
                .filter(|a| a.family == Family::DpAccountant)
                .map(|a| a.name.to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

impl AccountantSource for [PluginModRef] {
    fn accountant(&self, name: &str, params: &ParamMap) -> Result<AccountantBox, DpError> {
        let Some(module) = self.iter().find(|m| declares(m, name)) else {
            let known = names(self);
            return Err(DpError::param(
                "accountant",
                format!(
                    "unknown accountant `{name}`; available: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        (module.new_accountant())(name.into(), params)
            .into_result()
            .map_err(|source| DpError::Plugin {
                call: "accountant construction",
                source,
            })
    }
}

impl AccountantSource for Vec<PluginModRef> {
    fn accountant(&self, name: &str, params: &ParamMap) -> Result<AccountantBox, DpError> {
        self.as_slice().accountant(name, params)
    }
}

impl AccountantSource for PluginModRef {
    fn accountant(&self, name: &str, params: &ParamMap) -> Result<AccountantBox, DpError> {
        std::slice::from_ref(self).accountant(name, params)
    }
}

/// δ must lie in (0, 1); the error names `delta`.
pub fn check_delta(delta: f64) -> Result<(), DpError> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(DpError::param(
            "delta",
            format!("must be in (0, 1), got {delta}"),
        ))
    }
}

/// A target ε must be finite and > 0; the error names `epsilon`.
pub fn check_epsilon(epsilon: f64) -> Result<(), DpError> {
    if epsilon.is_finite() && epsilon > 0.0 {
        Ok(())
    } else {
        Err(DpError::param(
            "epsilon",
            format!("must be finite and > 0, got {epsilon}"),
        ))
    }
}

/// A sampling rate must lie in (0, 1]; the error names `sampling_rate`.
pub fn check_sampling_rate(q: f64) -> Result<(), DpError> {
    if q > 0.0 && q <= 1.0 {
        Ok(())
    } else {
        Err(DpError::param(
            "sampling_rate",
            format!("must be in (0, 1], got {q}"),
        ))
    }
}

/// A noise multiplier must be finite and > 0; the error names `noise_multiplier`.
pub fn check_noise_multiplier(sigma: f64) -> Result<(), DpError> {
    if sigma.is_finite() && sigma > 0.0 {
        Ok(())
    } else {
        Err(DpError::param(
            "noise_multiplier",
            format!("must be finite and > 0, got {sigma}"),
        ))
    }
}

/// At least one step; the error names `steps`.
pub fn check_steps(steps: u64) -> Result<(), DpError> {
    if steps >= 1 {
        Ok(())
    } else {
        Err(DpError::param("steps", "must be at least 1, got 0"))
    }
}

/// The event of one DP-SGD step: the Gaussian mechanism (noise multiplier σ) on a Poisson
/// sample of rate q.
pub fn dpsgd_step(sampling_rate: f64, noise_multiplier: f64) -> PrivacyEvent {
    PrivacyEvent::Gaussian {
        noise_multiplier,
        sampling: Sampling::Poisson {
            rate: sampling_rate,
        },
    }
}

fn plugin<T>(
    call: &'static str,
    r: abi_stable::std_types::RResult<T, mosaic_abi::RError>,
) -> Result<T, DpError> {
    r.into_result()
        .map_err(|source| DpError::Plugin { call, source })
}

/// Accounting with one accountant (by name) from a source: ε of a run, and calibration.
///
/// Every query starts from a fresh accountant, so an `Accounting` can be reused and shared.
pub struct Accounting<'s> {
    source: &'s dyn AccountantSource,
    name: String,
    params: ParamMap,
    tolerance: f64,
}

impl<'s> Accounting<'s> {
    /// Accounting with the `rdp` accountant of `source`.
    pub fn new(source: &'s dyn AccountantSource) -> Accounting<'s> {
        Accounting {
            source,
            name: "rdp".to_string(),
            params: ParamMap::new(),
            tolerance: calibrate::DEFAULT_RELATIVE_TOLERANCE,
        }
    }

    /// Use accountant `name` (`rdp`, `pld`, `zcdp`, `basic`, or a third party's).
    pub fn accountant(mut self, name: &str) -> Accounting<'s> {
        self.name = name.to_string();
        self
    }

    /// Set one of the accountant's parameters (e.g. `value_discretization_interval` for
    /// `pld`, `orders` for `rdp`).
    pub fn param(mut self, key: &str, value: impl Into<ParamValue>) -> Accounting<'s> {
        self.params.insert(key, value);
        self
    }

    /// The relative tolerance of calibration (default
    /// [`calibrate::DEFAULT_RELATIVE_TOLERANCE`]).
    pub fn tolerance(mut self, relative: f64) -> Accounting<'s> {
        self.tolerance = relative;
        self
    }

    /// The accountant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A fresh, empty accountant.
    pub fn fresh(&self) -> Result<AccountantBox, DpError> {
        self.source.accountant(&self.name, &self.params)
    }

    /// A fresh accountant with `events` composed (each `(event, count)`).
    pub fn compose(&self, events: &[(PrivacyEvent, u64)]) -> Result<AccountantBox, DpError> {
        let mut acc = self.fresh()?;
        for (event, count) in events {
            plugin("accountant compose", acc.compose(event, *count))?;
        }
        Ok(acc)
    }

    /// ε of `events` at δ ∈ (0, 1), with the optimal order where the accountant has one.
    pub fn epsilon(
        &self,
        events: &[(PrivacyEvent, u64)],
        delta: f64,
    ) -> Result<EpsilonReport, DpError> {
        check_delta(delta)?;
        let acc = self.compose(events)?;
        plugin("accountant epsilon", acc.epsilon_report(delta))
    }

    /// δ of `events` at ε ≥ 0.
    pub fn delta(&self, events: &[(PrivacyEvent, u64)], epsilon: f64) -> Result<f64, DpError> {
        if !(epsilon >= 0.0) {
            return Err(DpError::param(
                "epsilon",
                format!("must be >= 0, got {epsilon}"),
            ));
        }
        let acc = self.compose(events)?;
        plugin("accountant delta", acc.delta(epsilon))
    }

    /// ε of DP-SGD: `steps` Gaussian steps with noise multiplier σ on Poisson samples of
    /// rate q, at δ.
    pub fn dpsgd_epsilon(
        &self,
        sampling_rate: f64,
        noise_multiplier: f64,
        steps: u64,
        delta: f64,
    ) -> Result<EpsilonReport, DpError> {
        check_sampling_rate(sampling_rate)?;
        check_noise_multiplier(noise_multiplier)?;
        check_steps(steps)?;
        self.epsilon(
            &[(dpsgd_step(sampling_rate, noise_multiplier), steps)],
            delta,
        )
    }

    /// The smallest noise multiplier whose DP-SGD run (rate q, `steps` steps) is
    /// (ε, δ)-DP, to the relative tolerance; its ε never exceeds the target.
    pub fn noise_multiplier(
        &self,
        epsilon: f64,
        delta: f64,
        sampling_rate: f64,
        steps: u64,
    ) -> Result<NoiseCalibration, DpError> {
        check_epsilon(epsilon)?;
        check_delta(delta)?;
        check_sampling_rate(sampling_rate)?;
        check_steps(steps)?;
        calibrate::smallest_noise_multiplier(epsilon, self.tolerance, |sigma| {
            self.dpsgd_epsilon(sampling_rate, sigma, steps, delta)
        })
    }

    /// The largest number of DP-SGD steps (rate q, noise multiplier σ) that stays
    /// (ε, δ)-DP (0 when even one step does not).
    pub fn max_steps(
        &self,
        epsilon: f64,
        delta: f64,
        sampling_rate: f64,
        noise_multiplier: f64,
    ) -> Result<StepsCalibration, DpError> {
        check_epsilon(epsilon)?;
        check_delta(delta)?;
        check_sampling_rate(sampling_rate)?;
        check_noise_multiplier(noise_multiplier)?;
        calibrate::largest_steps(epsilon, |steps| {
            self.dpsgd_epsilon(sampling_rate, noise_multiplier, steps, delta)
        })
    }
}
