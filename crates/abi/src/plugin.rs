//! The plugin root module and the builder plugin authors fill in.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    prefix_type::PrefixTypeTrait,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString, RVec},
    StableAbi,
};

use crate::family::{dp, ldp, merge, nas, optim};
use crate::{
    Accountant, AccountantBox, AlgorithmDescriptor, ErrorKind, Family, FrequencyOracle,
    FrequencyOracleBox, MeanMechanism, MeanMechanismBox, Mechanism, MechanismBox, MergeMethod,
    MergeMethodBox, Optimizer, OptimizerBox, ParamMap, ParamScope, RError, RngSeed, SearchSpace,
    SearchStrategy, SearchStrategyBox, ABI_VERSION,
};

/// Set (to anything but `0`) to also print the panic hook's usual report — the message and,
/// with `RUST_BACKTRACE`, the backtrace — for panics that [`guard`] catches.
pub const PANIC_REPORT_ENV: &str = "MOSAIC_PLUGIN_PANIC_REPORT";

thread_local! {
    /// How many [`guard`] calls are running on this thread.
    static GUARDS: Cell<u32> = const { Cell::new(0) };
    /// The message and location of the last panic caught inside a guard on this thread.
    static CAUGHT: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

static QUIET_HOOK: Once = Once::new();

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Install (once per copy of std: each cdylib has its own) a panic hook that, for a panic
/// inside a [`guard`], records its message and location for the error instead of printing
/// them; every other panic goes to the hook that was there before.
fn install_quiet_hook() {
    if std::thread::panicking() {
        return;
    }
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDS.try_with(Cell::get).unwrap_or(0) == 0 {
                return previous(info);
            }
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            let _ = CAUGHT.try_with(|c| {
                *c.borrow_mut() = Some((payload_text(info.payload()), location));
            });
            if std::env::var_os(PANIC_REPORT_ENV).is_some_and(|v| v != "0") {
                previous(info);
            }
        }));
    });
}

/// Run `f`, turning a panic into an [`RError`] of kind [`ErrorKind::Panic`] that names the call,
/// the panic's message and its location (`in `merge` at src/lib.rs:27:13: boom`). The panic
/// hook prints nothing for it (set [`PANIC_REPORT_ENV`] to see its usual report). Every call
/// the export macro generates goes through this.
pub fn guard<T>(call: &str, f: impl FnOnce() -> Result<T, RError>) -> RResult<T, RError> {
    install_quiet_hook();
    CAUGHT.with(|c| c.borrow_mut().take());
    GUARDS.with(|g| g.set(g.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDS.with(|g| g.set(g.get() - 1));
    match result {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e),
        Err(payload) => {
            let (msg, location) = CAUGHT
                .with(|c| c.borrow_mut().take())
                .unwrap_or_else(|| (payload_text(&*payload), None));
            let at = location.map(|l| format!(" at {l}")).unwrap_or_default();
            RResult::RErr(RError::new(
                ErrorKind::Panic,
                format!("in `{call}`{at}: {msg}"),
            ))
        }
    }
}

/// What a plugin library says about itself.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PluginInfo {
    /// The plugin's name (`merge-basic`).
    pub name: RString,
    /// The plugin's own version (its crate version).
    pub version: RString,
    /// The [`ABI_VERSION`] it was built against.
    pub abi_version: u32,
    /// Its algorithms.
    pub algorithms: RVec<AlgorithmDescriptor>,
}

/// The root module every plugin library exports (an `abi_stable` prefix type, so fields can be
/// appended in later versions without breaking plugins built earlier).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The plugin's name, version, ABI version and algorithm descriptors.
    pub info: extern "C" fn() -> RResult<PluginInfo, RError>,
    /// Construct a merge method. Merge parameters vary per tensor (mergekit's gradients and
    /// filters), so they arrive with each call in [`crate::MergeCall`]; the map given here is
    /// validated and completed with defaults, but required parameters may be absent.
    pub new_merge: extern "C" fn(RStr<'_>, &ParamMap) -> RResult<MergeMethodBox, RError>,
    /// Construct an optimizer from its hyperparameters.
    pub new_optimizer: extern "C" fn(RStr<'_>, &ParamMap) -> RResult<OptimizerBox, RError>,
    /// Construct a DP mechanism.
    pub new_mechanism: extern "C" fn(RStr<'_>, &ParamMap) -> RResult<MechanismBox, RError>,
    /// Construct a DP accountant.
    pub new_accountant: extern "C" fn(RStr<'_>, &ParamMap) -> RResult<AccountantBox, RError>,
    /// Construct an LDP frequency oracle.
    pub new_ldp_oracle: extern "C" fn(RStr<'_>, &ParamMap) -> RResult<FrequencyOracleBox, RError>,
    /// Construct a NAS strategy over a space, with a seed.
    #[sabi(last_prefix_field)]
    pub new_nas_strategy: extern "C" fn(
        RStr<'_>,
        &SearchSpace,
        &ParamMap,
        RngSeed,
    ) -> RResult<SearchStrategyBox, RError>,
    /// Construct an LDP mean mechanism (after the first prefix; every plugin of this
    /// `ABI_VERSION` has it).
    pub new_ldp_mean: extern "C" fn(RStr<'_>, &ParamMap) -> RResult<MeanMechanismBox, RError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "mosaic_plugin";
    const NAME: &'static str = "mosaic_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

type Ctor<T> = Box<dyn Fn(&ParamMap) -> Result<T, RError> + Send + Sync>;
type NasCtor = Box<
    dyn Fn(&SearchSpace, &ParamMap, RngSeed) -> Result<Box<dyn SearchStrategy>, RError>
        + Send
        + Sync,
>;

enum Constructor {
    Merge(Ctor<Box<dyn MergeMethod>>),
    Optim(Ctor<Box<dyn Optimizer>>),
    Mechanism(Ctor<Box<dyn Mechanism>>),
    Accountant(Ctor<Box<dyn Accountant>>),
    Ldp(Ctor<Box<dyn FrequencyOracle>>),
    LdpMean(Ctor<Box<dyn MeanMechanism>>),
    Nas(NasCtor),
}

struct Entry {
    descriptor: AlgorithmDescriptor,
    ctor: Constructor,
}

/// A plugin under construction: its name, version and algorithms with their constructors.
///
/// ```ignore
/// fn plugin() -> Plugin {
///     Plugin::new("merge-basic", env!("CARGO_PKG_VERSION"))
///         .merge(linear_descriptor(), |p| Ok(Linear::new(p)?))
/// }
/// mosaic_abi::export_plugin!(plugin);
/// ```
///
/// Constructors receive parameters already validated against the descriptor (global scope)
/// with defaults filled in.
pub struct Plugin {
    name: String,
    version: String,
    abi_version: u32,
    entries: Vec<Entry>,
}

impl Plugin {
    /// A plugin with no algorithms yet.
    pub fn new(name: &str, version: &str) -> Plugin {
        Plugin {
            name: name.to_string(),
            version: version.to_string(),
            abi_version: ABI_VERSION,
            entries: Vec::new(),
        }
    }

    /// Claim another ABI version. Only for testing the host's version check.
    #[doc(hidden)]
    pub fn with_abi_version(mut self, v: u32) -> Plugin {
        self.abi_version = v;
        self
    }

    fn push(mut self, descriptor: AlgorithmDescriptor, family: Family, ctor: Constructor) -> Self {
        assert_eq!(
            descriptor.family, family,
            "descriptor of `{}` registered under the wrong family",
            descriptor.name
        );
        self.entries.push(Entry { descriptor, ctor });
        self
    }

    /// Add a merge method.
    pub fn merge<M: MergeMethod>(
        self,
        descriptor: AlgorithmDescriptor,
        ctor: impl Fn(&ParamMap) -> Result<M, RError> + Send + Sync + 'static,
    ) -> Plugin {
        let c: Ctor<Box<dyn MergeMethod>> = Box::new(move |p| Ok(Box::new(ctor(p)?)));
        self.push(descriptor, Family::Merge, Constructor::Merge(c))
    }

    /// Add an optimizer.
    pub fn optimizer<O: Optimizer>(
        self,
        descriptor: AlgorithmDescriptor,
        ctor: impl Fn(&ParamMap) -> Result<O, RError> + Send + Sync + 'static,
    ) -> Plugin {
        let c: Ctor<Box<dyn Optimizer>> = Box::new(move |p| Ok(Box::new(ctor(p)?)));
        self.push(descriptor, Family::Optim, Constructor::Optim(c))
    }

    /// Add a DP mechanism.
    pub fn mechanism<M: Mechanism>(
        self,
        descriptor: AlgorithmDescriptor,
        ctor: impl Fn(&ParamMap) -> Result<M, RError> + Send + Sync + 'static,
    ) -> Plugin {
        let c: Ctor<Box<dyn Mechanism>> = Box::new(move |p| Ok(Box::new(ctor(p)?)));
        self.push(descriptor, Family::DpMechanism, Constructor::Mechanism(c))
    }

    /// Add a DP accountant.
    pub fn accountant<A: Accountant>(
        self,
        descriptor: AlgorithmDescriptor,
        ctor: impl Fn(&ParamMap) -> Result<A, RError> + Send + Sync + 'static,
    ) -> Plugin {
        let c: Ctor<Box<dyn Accountant>> = Box::new(move |p| Ok(Box::new(ctor(p)?)));
        self.push(descriptor, Family::DpAccountant, Constructor::Accountant(c))
    }

    /// Add an LDP frequency oracle.
    pub fn ldp_oracle<O: FrequencyOracle>(
        self,
        descriptor: AlgorithmDescriptor,
        ctor: impl Fn(&ParamMap) -> Result<O, RError> + Send + Sync + 'static,
    ) -> Plugin {
        let c: Ctor<Box<dyn FrequencyOracle>> = Box::new(move |p| Ok(Box::new(ctor(p)?)));
        self.push(descriptor, Family::LdpOracle, Constructor::Ldp(c))
    }

    /// Add an LDP mean mechanism.
    pub fn ldp_mean<M: MeanMechanism>(
        self,
        descriptor: AlgorithmDescriptor,
        ctor: impl Fn(&ParamMap) -> Result<M, RError> + Send + Sync + 'static,
    ) -> Plugin {
        let c: Ctor<Box<dyn MeanMechanism>> = Box::new(move |p| Ok(Box::new(ctor(p)?)));
        self.push(descriptor, Family::LdpMean, Constructor::LdpMean(c))
    }

    /// Add a NAS strategy.
    pub fn nas_strategy<S: SearchStrategy>(
        self,
        descriptor: AlgorithmDescriptor,
        ctor: impl Fn(&SearchSpace, &ParamMap, RngSeed) -> Result<S, RError> + Send + Sync + 'static,
    ) -> Plugin {
        let c: NasCtor = Box::new(move |s, p, seed| Ok(Box::new(ctor(s, p, seed)?)));
        self.push(descriptor, Family::NasStrategy, Constructor::Nas(c))
    }

    /// The plugin's self-description.
    pub fn info(&self) -> PluginInfo {
        PluginInfo {
            name: self.name.as_str().into(),
            version: self.version.as_str().into(),
            abi_version: self.abi_version,
            algorithms: self.entries.iter().map(|e| e.descriptor.clone()).collect(),
        }
    }

    fn find(&self, family: Family, name: &str) -> Result<&Entry, RError> {
        self.entries
            .iter()
            .find(|e| e.descriptor.family == family && e.descriptor.name.as_str() == name)
            .ok_or_else(|| {
                RError::unsupported(format!(
                    "plugin `{}` has no {family} algorithm `{name}`",
                    self.name
                ))
            })
    }

    fn resolve(&self, entry: &Entry, params: &ParamMap) -> Result<ParamMap, RError> {
        params.resolve(&entry.descriptor.params, ParamScope::Global)
    }

    /// Like `resolve`, but a required parameter may be absent (merge constructors: the real
    /// values arrive per tensor with each call).
    fn resolve_lenient(&self, entry: &Entry, params: &ParamMap) -> Result<ParamMap, RError> {
        let specs: Vec<_> = entry
            .descriptor
            .params
            .iter()
            .filter(|p| p.default.is_some() || params.contains(&p.name))
            .cloned()
            .collect();
        params.resolve(&specs, ParamScope::Global)
    }
}

/// Gives the export macro's generic entry points access to one plugin's [`Plugin`].
pub trait PluginSource: 'static {
    /// The plugin (built once, lazily).
    fn plugin() -> &'static Plugin;
}

macro_rules! ctor_fn {
    ($fn_name:ident, $family:expr, $variant:ident, $boxty:ty, $wrap:path) => {
        ctor_fn!($fn_name, $family, $variant, $boxty, $wrap, true);
    };
    ($fn_name:ident, $family:expr, $variant:ident, $boxty:ty, $wrap:path, $validate:expr) => {
        extern "C" fn $fn_name<P: PluginSource>(
            name: RStr<'_>,
            params: &ParamMap,
        ) -> RResult<$boxty, RError> {
            guard("constructor", || {
                let plugin = P::plugin();
                let entry = plugin.find($family, name.as_str())?;
                let params = if $validate {
                    plugin.resolve(entry, params)?
                } else {
                    plugin.resolve_lenient(entry, params)?
                };
                match &entry.ctor {
                    Constructor::$variant(c) => Ok($wrap(c(&params)?)),
                    _ => Err(RError::unsupported(format!(
                        "`{name}` is not a {} algorithm",
                        $family
                    ))),
                }
            })
        }
    };
}

// Merge parameters arrive per tensor: the constructor does not require them.
ctor_fn!(
    new_merge_impl,
    Family::Merge,
    Merge,
    MergeMethodBox,
    merge::into_ffi,
    false
);
ctor_fn!(
    new_optimizer_impl,
    Family::Optim,
    Optim,
    OptimizerBox,
    optim::into_ffi
);
ctor_fn!(
    new_mechanism_impl,
    Family::DpMechanism,
    Mechanism,
    MechanismBox,
    dp::mechanism_into_ffi
);
ctor_fn!(
    new_accountant_impl,
    Family::DpAccountant,
    Accountant,
    AccountantBox,
    dp::accountant_into_ffi
);
// LDP oracles are wrapped with their name and resolved parameters (stamped on every report).
extern "C" fn new_ldp_oracle_impl<P: PluginSource>(
    name: RStr<'_>,
    params: &ParamMap,
) -> RResult<FrequencyOracleBox, RError> {
    guard("constructor", || {
        let plugin = P::plugin();
        let entry = plugin.find(Family::LdpOracle, name.as_str())?;
        let params = plugin.resolve(entry, params)?;
        match &entry.ctor {
            Constructor::Ldp(c) => Ok(ldp::into_ffi(name.as_str(), params.clone(), c(&params)?)),
            _ => Err(RError::unsupported(format!(
                "`{name}` is not an LDP oracle"
            ))),
        }
    })
}

// Mean mechanisms are wrapped with their name and resolved parameters, like oracles.
extern "C" fn new_ldp_mean_impl<P: PluginSource>(
    name: RStr<'_>,
    params: &ParamMap,
) -> RResult<MeanMechanismBox, RError> {
    guard("constructor", || {
        let plugin = P::plugin();
        let entry = plugin.find(Family::LdpMean, name.as_str())?;
        let params = plugin.resolve(entry, params)?;
        match &entry.ctor {
            Constructor::LdpMean(c) => Ok(ldp::mean::into_ffi(
                name.as_str(),
                params.clone(),
                c(&params)?,
            )),
            _ => Err(RError::unsupported(format!(
                "`{name}` is not an LDP mean mechanism"
            ))),
        }
    })
}

extern "C" fn new_nas_strategy_impl<P: PluginSource>(
    name: RStr<'_>,
    space: &SearchSpace,
    params: &ParamMap,
    seed: RngSeed,
) -> RResult<SearchStrategyBox, RError> {
    guard("constructor", || {
        let plugin = P::plugin();
        let entry = plugin.find(Family::NasStrategy, name.as_str())?;
        let params = plugin.resolve(entry, params)?;
        match &entry.ctor {
            Constructor::Nas(c) => Ok(nas::into_ffi(c(space, &params, seed)?)),
            _ => Err(RError::unsupported(format!(
                "`{name}` is not a NAS strategy"
            ))),
        }
    })
}

extern "C" fn info_impl<P: PluginSource>() -> RResult<PluginInfo, RError> {
    guard("info", || Ok(P::plugin().info()))
}

/// Build the root module for plugin `P` (used by [`crate::export_plugin!`]).
pub fn root_module<P: PluginSource>() -> PluginModRef {
    PluginMod {
        info: info_impl::<P>,
        new_merge: new_merge_impl::<P>,
        new_optimizer: new_optimizer_impl::<P>,
        new_mechanism: new_mechanism_impl::<P>,
        new_accountant: new_accountant_impl::<P>,
        new_ldp_oracle: new_ldp_oracle_impl::<P>,
        new_nas_strategy: new_nas_strategy_impl::<P>,
        new_ldp_mean: new_ldp_mean_impl::<P>,
    }
    .leak_into_prefix()
}
