//! Mosaic's stable plugin ABI.
//!
//! Everything that crosses between the host (`mosaic-host`, the `mosaic` binary) and a plugin
//! library is defined here, with [`abi_stable`] layouts that the host checks when it loads a
//! library:
//!
//! - [`TensorRef`] / [`TensorMut`]: borrowed tensor views (pointer, length, dtype, shape);
//!   tensors are never copied across the boundary.
//! - [`ParamMap`], [`ParamSpec`]: typed parameters and their declared schema with defaults.
//! - [`RError`]: the error every call can return; a panic inside a plugin becomes one.
//! - [`RngSeed`]: randomness crosses as a seed, never as an RNG object.
//! - One `#[sabi_trait]` per family (in [`family`]), and a plain Rust trait per family that
//!   plugin authors implement ([`MergeMethod`], [`Optimizer`], [`Mechanism`], [`Accountant`],
//!   [`FrequencyOracle`], [`SearchStrategy`]).
//! - [`PluginMod`]: the root module every plugin library exports, built from a [`Plugin`] by
//!   [`export_plugin!`], which wraps every call in `catch_unwind`.
//!
//! A plugin crate is `crate-type = ["cdylib", "rlib"]`, declares a cargo feature `export`
//! (enabled when building the `.so`), depends on `abi_stable` and `mosaic-abi`, and ends its
//! `lib.rs` with `mosaic_abi::export_plugin!(plugin);` where `fn plugin() -> Plugin`.
#![deny(missing_docs)]

mod descriptor;
mod error;
pub mod family;
mod params;
mod plugin;
mod seed;
mod tensor;

pub use descriptor::{AlgorithmDescriptor, Family};
pub use error::{ErrorKind, RError};
pub use family::dp::{
    Accountant, AccountantBox, AccountantFfi, EpsilonReport, Mechanism, MechanismBox, MechanismFfi,
    Output, PrivacyEvent, Sampling,
};
pub use family::ldp::{
    Estimate, FrequencyOracle, FrequencyOracleBox, FrequencyOracleFfi, ItemEstimates, MeanEstimate,
    MeanLayout, MeanMechanism, MeanMechanismBox, MeanMechanismFfi, OracleId, OracleLayout,
    ReportDistribution, ReportSlice, Reports, State, StateKind, RNG_BLOCK,
};
pub use family::merge::{MergeCall, MergeMethod, MergeMethodBox, MergeMethodFfi};
pub use family::nas::{
    CellGraph, Choice, Edge, LinkChoice, NodeOp, Observation, SearchSpace, SearchStrategy,
    SearchStrategyBox, SearchStrategyFfi, MAX_CLASS_TABLE, NO_ARCHITECTURE,
};
pub use family::optim::{
    OptimStep, Optimizer, OptimizerBox, OptimizerFfi, Scalar, ScalarKind, StateBuffer, StateSpec,
    TensorStep,
};
pub use params::{ParamKind, ParamMap, ParamScope, ParamSpec, ParamValue};
pub use plugin::{
    guard, root_module, Plugin, PluginInfo, PluginMod, PluginModRef, PluginSource, PANIC_REPORT_ENV,
};
pub use seed::{RngSeed, SeedSource};
pub use tensor::{chunk_ranges, AbiDType, TensorMut, TensorRef, CHUNK_ELEMENTS};

/// The version of the Mosaic plugin ABI that this crate defines. A plugin reports the number
/// it was built with; the host refuses any other. Bump it whenever a type that crosses the
/// boundary changes in a way that `abi_stable`'s layout check would not catch.
///
/// History: 1, the first families; 2, typed DP privacy events and the optimizer state/step
/// ABI; 3, the LDP oracle ABI (error channels for every call, report layouts, per-item
/// variance, mergeable states) and the NAS strategy ABI (search spaces, batched asks, an
/// exhaustion error kind).
pub const ABI_VERSION: u32 = 3;

/// Re-exports used by [`export_plugin!`]; not part of the public API.
#[doc(hidden)]
pub mod reexports {
    pub use abi_stable;
}

/// Export a plugin built by `$builder: fn() -> Plugin`.
///
/// Generates `pub fn plugin_module() -> PluginModRef` (for static linking: register it with the
/// host's registry) and, when the calling crate's `export` feature is on, the `abi_stable` root
/// module symbol that makes the `cdylib` loadable. The symbol is behind a feature because two
/// plugins linked statically into one binary would otherwise define it twice.
///
/// Every call into the plugin runs inside `catch_unwind`: a panic becomes an [`RError`] of
/// kind [`ErrorKind::Panic`] and never unwinds into the host.
#[macro_export]
macro_rules! export_plugin {
    ($builder:path) => {
        #[doc(hidden)]
        pub struct __MosaicPluginSource;

        impl $crate::PluginSource for __MosaicPluginSource {
            fn plugin() -> &'static $crate::Plugin {
                static PLUGIN: ::std::sync::OnceLock<$crate::Plugin> = ::std::sync::OnceLock::new();
                PLUGIN.get_or_init($builder)
            }
        }

        /// This plugin's root module, for linking it statically into a host registry.
        pub fn plugin_module() -> $crate::PluginModRef {
            static MODULE: ::std::sync::OnceLock<$crate::PluginModRef> =
                ::std::sync::OnceLock::new();
            *MODULE.get_or_init($crate::root_module::<__MosaicPluginSource>)
        }

        #[cfg(feature = "export")]
        #[::abi_stable::export_root_module]
        fn __mosaic_export_root_module() -> $crate::PluginModRef {
            plugin_module()
        }
    };
}
