use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::RStr;
use mosaic_abi::{
    AccountantBox, AlgorithmDescriptor, Family, FrequencyOracleBox, MeanMechanismBox, MechanismBox,
    MergeMethodBox, OptimizerBox, ParamMap, ParamScope, PluginInfo, PluginModRef, RngSeed,
    SearchSpace, SearchStrategyBox, ABI_VERSION,
};

use crate::{HostError, DYLIB_EXTENSION, PLUGIN_PATH_ENV};

/// Where a plugin came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginOrigin {
    /// Linked statically and registered with [`Registry::add_static`].
    Static,
    /// Loaded from this library file.
    File(PathBuf),
}

impl fmt::Display for PluginOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginOrigin::Static => f.write_str("<statically linked>"),
            PluginOrigin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One loaded plugin library.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Where it came from.
    pub origin: PluginOrigin,
    module: PluginModRef,
}

impl LoadedPlugin {
    /// The plugin's root module (to run a conformance suite on it, or call it directly).
    pub fn module(&self) -> PluginModRef {
        self.module
    }
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// One algorithm in the registry.
#[derive(Clone, Debug)]
pub struct AlgorithmEntry {
    /// Its descriptor (family, name, doc, parameters, tags).
    pub descriptor: AlgorithmDescriptor,
    /// Index into [`Registry::plugins`].
    pub plugin: usize,
}

/// Where to look for plugins.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// Folders given explicitly (`--plugin-dir`), searched first. A missing one is an error.
    pub dirs: Vec<PathBuf>,
    /// Also search the folders in `MOSAIC_PLUGIN_PATH`.
    pub use_env: bool,
    /// Also search the `plugins` folder next to the running executable.
    pub use_exe_dir: bool,
}

impl Discovery {
    /// The default discovery: environment and executable folder, plus `dirs`.
    pub fn new(dirs: Vec<PathBuf>) -> Discovery {
        Discovery {
            dirs,
            use_env: true,
            use_exe_dir: true,
        }
    }

    /// The folders that will be searched, in order, with whether each must exist.
    pub fn folders(&self) -> Vec<(PathBuf, bool)> {
        let mut out: Vec<(PathBuf, bool)> = self.dirs.iter().map(|d| (d.clone(), true)).collect();
        if self.use_env {
            if let Some(v) = std::env::var_os(PLUGIN_PATH_ENV) {
                out.extend(
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .map(|p| (p, true)),
                );
            }
        }
        if self.use_exe_dir {
            if let Some(dir) = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|p| p.join("plugins")))
            {
                out.push((dir, false));
            }
        }
        // The same folder named twice would load every library twice: keep the first.
        let mut seen = Vec::new();
        out.retain(|(p, _)| {
            let key = p.canonicalize().unwrap_or_else(|_| p.clone());
            if seen.contains(&key) {
                false
            } else {
                seen.push(key);
                true
            }
        });
        out
    }
}

/// The algorithms of every loaded plugin, keyed by (family, name).
#[derive(Default)]
pub struct Registry {
    plugins: Vec<LoadedPlugin>,
    algorithms: BTreeMap<(Family, String), AlgorithmEntry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Discover and load every plugin in the folders of `discovery`.
    pub fn discover(discovery: &Discovery) -> Result<Registry, HostError> {
        let mut reg = Registry::new();
        for (dir, required) in discovery.folders() {
            if !dir.is_dir() {
                if required {
                    return Err(HostError::MissingFile { path: dir });
                }
                continue;
            }
            reg.load_dir(&dir)?;
        }
        Ok(reg)
    }

    /// Load every library (`*.so` / `*.dylib` / `*.dll`) in `dir`, in file-name order.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), HostError> {
        let entries = std::fs::read_dir(dir).map_err(|_| HostError::MissingFile {
            path: dir.to_path_buf(),
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == DYLIB_EXTENSION))
            .collect();
        files.sort();
        for f in files {
            self.load_file(&f)?;
        }
        Ok(())
    }

    /// Load one plugin library, checking its layout and ABI version.
    pub fn load_file(&mut self, path: &Path) -> Result<(), HostError> {
        if !path.exists() {
            return Err(HostError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Some(p) = self
            .plugins
            .iter()
            .find(|p| p.origin == PluginOrigin::File(path.clone()))
        {
            // Loading the same file twice is a no-op, not a duplicate.
            let _ = p;
            return Ok(());
        }
        let header = lib_header_from_path(&path).map_err(|e| classify(&path, e))?;
        let module = header
            .init_root_module::<PluginModRef>()
            .map_err(|e| classify(&path, e))?;
        self.add(module, PluginOrigin::File(path))
    }

    /// Register a plugin linked statically (its crate's `plugin_module()`).
    pub fn add_static(&mut self, module: PluginModRef) -> Result<(), HostError> {
        self.add(module, PluginOrigin::Static)
    }

    fn add(&mut self, module: PluginModRef, origin: PluginOrigin) -> Result<(), HostError> {
        let path = PathBuf::from(origin.to_string());
        let info: PluginInfo =
            (module.info())()
                .into_result()
                .map_err(|e| HostError::InvalidPlugin {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
        if info.abi_version != ABI_VERSION {
            return Err(HostError::AbiMismatch {
                path,
                reason: format!(
                    "plugin `{}` was built for Mosaic ABI version {}, this host speaks version {}",
                    info.name, info.abi_version, ABI_VERSION
                ),
            });
        }
        let index = self.plugins.len();
        let mut new = Vec::new();
        for d in info.algorithms.iter() {
            d.validate().map_err(|reason| HostError::InvalidPlugin {
                path: path.clone(),
                reason,
            })?;
            let key = (d.family, d.name.to_string());
            let clash = self
                .algorithms
                .get(&key)
                .map(|e| &self.plugins[e.plugin].origin)
                .or_else(|| new.iter().any(|(k, _)| k == &key).then_some(&origin));
            if let Some(first) = clash {
                return Err(HostError::Duplicate {
                    family: d.family,
                    name: d.name.to_string(),
                    first: first.to_string(),
                    second: origin.to_string(),
                });
            }
            new.push((
                key,
                AlgorithmEntry {
                    descriptor: d.clone(),
                    plugin: index,
                },
            ));
        }
        self.algorithms.extend(new);
        self.plugins.push(LoadedPlugin {
            name: info.name.to_string(),
            version: info.version.to_string(),
            origin,
            module,
        });
        Ok(())
    }

    /// The loaded plugins, in load order.
    pub fn plugins(&self) -> &[LoadedPlugin] {
        &self.plugins
    }

    /// Every algorithm, ordered by (family, name).
    pub fn algorithms(&self) -> impl Iterator<Item = &AlgorithmEntry> {
        self.algorithms.values()
    }

    /// The algorithms of one family.
    pub fn family(&self, family: Family) -> impl Iterator<Item = &AlgorithmEntry> {
        self.algorithms
            .values()
            .filter(move |e| e.descriptor.family == family)
    }

    /// The plugin that provides an entry.
    pub fn plugin_of(&self, entry: &AlgorithmEntry) -> &LoadedPlugin {
        &self.plugins[entry.plugin]
    }

    /// Look an algorithm up.
    pub fn get(&self, family: Family, name: &str) -> Result<&AlgorithmEntry, HostError> {
        self.algorithms
            .get(&(family, name.to_string()))
            .ok_or_else(|| HostError::UnknownAlgorithm {
                family,
                name: name.to_string(),
                available: {
                    let names: Vec<&str> = self
                        .family(family)
                        .map(|e| e.descriptor.name.as_str())
                        .collect();
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                },
            })
    }

    /// The descriptor of an algorithm.
    pub fn descriptor(
        &self,
        family: Family,
        name: &str,
    ) -> Result<&AlgorithmDescriptor, HostError> {
        Ok(&self.get(family, name)?.descriptor)
    }

    fn prepare(
        &self,
        family: Family,
        name: &str,
        params: &ParamMap,
        validate: bool,
    ) -> Result<(&LoadedPlugin, ParamMap), HostError> {
        let entry = self.get(family, name)?;
        let params = if validate {
            params
                .resolve(&entry.descriptor.params, ParamScope::Global)
                .map_err(|error| HostError::InvalidParam {
                    family,
                    name: name.to_string(),
                    error,
                })?
        } else {
            params.clone()
        };
        Ok((&self.plugins[entry.plugin], params))
    }

    fn plugin_err(
        family: Family,
        name: &str,
        p: &LoadedPlugin,
    ) -> impl Fn(mosaic_abi::RError) -> HostError {
        let name = name.to_string();
        let origin = p.origin.to_string();
        move |error| match error.kind {
            mosaic_abi::ErrorKind::InvalidParam => HostError::InvalidParam {
                family,
                name: name.clone(),
                error,
            },
            _ => HostError::Plugin {
                family,
                name: name.clone(),
                origin: origin.clone(),
                error,
            },
        }
    }

    /// Instantiate a merge method (its parameters arrive per tensor with each call).
    pub fn merge_method(&self, name: &str) -> Result<MergeMethodBox, HostError> {
        let (p, params) = self.prepare(Family::Merge, name, &ParamMap::new(), false)?;
        (p.module.new_merge())(RStr::from_str(name), &params)
            .into_result()
            .map_err(Self::plugin_err(Family::Merge, name, p))
    }

    /// Instantiate an optimizer with validated hyperparameters.
    pub fn optimizer(&self, name: &str, params: &ParamMap) -> Result<OptimizerBox, HostError> {
        let (p, params) = self.prepare(Family::Optim, name, params, true)?;
        (p.module.new_optimizer())(RStr::from_str(name), &params)
            .into_result()
            .map_err(Self::plugin_err(Family::Optim, name, p))
    }

    /// Instantiate a DP mechanism.
    pub fn mechanism(&self, name: &str, params: &ParamMap) -> Result<MechanismBox, HostError> {
        let (p, params) = self.prepare(Family::DpMechanism, name, params, true)?;
        (p.module.new_mechanism())(RStr::from_str(name), &params)
            .into_result()
            .map_err(Self::plugin_err(Family::DpMechanism, name, p))
    }

    /// Instantiate a DP accountant.
    pub fn accountant(&self, name: &str, params: &ParamMap) -> Result<AccountantBox, HostError> {
        let (p, params) = self.prepare(Family::DpAccountant, name, params, true)?;
        (p.module.new_accountant())(RStr::from_str(name), &params)
            .into_result()
            .map_err(Self::plugin_err(Family::DpAccountant, name, p))
    }

    /// Instantiate an LDP frequency oracle.
    pub fn ldp_oracle(
        &self,
        name: &str,
        params: &ParamMap,
    ) -> Result<FrequencyOracleBox, HostError> {
        let (p, params) = self.prepare(Family::LdpOracle, name, params, true)?;
        (p.module.new_ldp_oracle())(RStr::from_str(name), &params)
            .into_result()
            .map_err(Self::plugin_err(Family::LdpOracle, name, p))
    }

    /// Instantiate an LDP mean mechanism.
    pub fn ldp_mean(&self, name: &str, params: &ParamMap) -> Result<MeanMechanismBox, HostError> {
        let (p, params) = self.prepare(Family::LdpMean, name, params, true)?;
        (p.module.new_ldp_mean())(RStr::from_str(name), &params)
            .into_result()
            .map_err(Self::plugin_err(Family::LdpMean, name, p))
    }

    /// Instantiate a NAS strategy over `space`.
    pub fn nas_strategy(
        &self,
        name: &str,
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<SearchStrategyBox, HostError> {
        let (p, params) = self.prepare(Family::NasStrategy, name, params, true)?;
        (p.module.new_nas_strategy())(RStr::from_str(name), space, &params, seed)
            .into_result()
            .map_err(Self::plugin_err(Family::NasStrategy, name, p))
    }
}

fn classify(path: &Path, e: LibraryError) -> HostError {
    let path = path.to_path_buf();
    match e {
        LibraryError::OpenError { err, .. } => HostError::NotAPlugin {
            path,
            reason: format!("cannot be loaded as a library ({err})"),
        },
        LibraryError::GetSymbolError { .. } => HostError::NotAPlugin {
            path,
            reason: "it exports no Mosaic root module (was it built with the `export` feature?)"
                .to_string(),
        },
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => HostError::AbiMismatch {
            path,
            reason: format!(
                "plugin built against mosaic-abi {actual_version}, host uses {expected_version}"
            ),
        },
        LibraryError::AbiInstability(err) => HostError::AbiMismatch {
            path,
            reason: format!("type layouts differ: {err}"),
        },
        other => HostError::NotAPlugin {
            path,
            reason: other.to_string().trim().to_string(),
        },
    }
}
