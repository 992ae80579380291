//! Model merging (feature `merge`): everything of [`mosaic_merge`], plus [`Merge`], which runs
//! a whole merge — read a mergekit YAML config, plan it, stream it into safetensors — with the
//! built-in merge methods (`merge-basic`, `merge-sparse`, `merge-geometric`) linked statically.
//!
//! ```
//! # fn main() -> Result<(), mosaic::Error> {
//! # let tmp = tempfile::tempdir().unwrap();
//! # let out = tmp.path().join("ties");
//! // Relative model paths resolve against `models_in` (default: the current directory).
//! let report = mosaic::merge::Merge::from_file("tests/fixtures/merge/cfg/ties.yaml")?
//!     .models_in("tests/fixtures/merge")
//!     .run(&out)?;
//! assert_eq!(report.tensors, 30);
//! # Ok(()) }
//! ```
//!
//! [`merge_yaml`] is the one-call form, as `mosaic merge CONFIG OUT_DIR` runs it.

use std::path::{Path, PathBuf};

use mosaic_abi::Family;
use mosaic_host::{HostError, Registry};
pub use mosaic_merge::*;

use crate::Error;

/// A registry holding the built-in merge methods, linked statically. Add your own plugin
/// with `registry()?.add_static(my_plugin::plugin_module())?` and hand it to
/// [`Merge::registry`].
pub fn registry() -> Result<Registry, HostError> {
    let mut reg = Registry::new();
    for module in [
        mosaic_plugin_merge_basic::plugin_module(),
        mosaic_plugin_merge_sparse::plugin_module(),
        mosaic_plugin_merge_geometric::plugin_module(),
    ] {
        reg.add_static(module)?;
    }
    Ok(reg)
}

/// Merge the models of a mergekit YAML config into `out_dir`, as `mosaic merge` does: model
/// paths relative to the current directory, default options, built-in methods.
pub fn merge_yaml(
    config: impl AsRef<Path>,
    out_dir: impl AsRef<Path>,
) -> Result<MergeReport, Error> {
    Merge::from_file(config)?.run(out_dir)
}

/// A whole merge, configured step by step and run with [`Merge::run`].
pub struct Merge {
    config: MergeConfig,
    models_in: Option<PathBuf>,
    seed: Option<u64>,
    options: ExecuteOptions,
    registry: Option<Registry>,
}

impl Merge {
    /// A merge of `config`.
    pub fn new(config: MergeConfig) -> Merge {
        Merge {
            config,
            models_in: None,
            seed: None,
            options: ExecuteOptions::default(),
            registry: None,
        }
    }

    /// Read and validate a mergekit YAML config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Merge, Error> {
        Ok(Merge::new(MergeConfig::from_file(path)?))
    }

    /// Parse and validate a mergekit YAML config.
    pub fn from_yaml(text: &str) -> Result<Merge, Error> {
        Ok(Merge::new(MergeConfig::from_yaml(text)?))
    }

    /// Resolve relative model paths against `dir` (default: the current directory, as
    /// mergekit does).
    pub fn models_in(mut self, dir: impl Into<PathBuf>) -> Merge {
        self.models_in = Some(dir.into());
        self
    }

    /// Seed the randomized methods (DARE, DELLA); the default is fixed, so runs repeat.
    pub fn seed(mut self, seed: u64) -> Merge {
        self.seed = Some(seed);
        self
    }

    /// Worker threads (tensors merged at once); 0 (the default) = one per core.
    pub fn threads(mut self, threads: usize) -> Merge {
        self.options.threads = threads;
        self
    }

    /// Largest output shard in bytes (default 5·10⁹, as mergekit's).
    pub fn max_shard_size(mut self, bytes: u64) -> Merge {
        self.options.max_shard_size = bytes;
        self
    }

    /// Replace `out_dir` if it exists (only after the merge succeeded).
    pub fn overwrite(mut self, overwrite: bool) -> Merge {
        self.options.overwrite = overwrite;
        self
    }

    /// Call `progress(done, total, bytes)` after each tensor.
    pub fn progress(mut self, progress: ProgressFn) -> Merge {
        self.options.progress = Some(progress);
        self
    }

    /// Take the merge methods from `registry` (plugins loaded from files, or [`registry`]
    /// plus your own) instead of the built-in ones.
    pub fn registry(mut self, registry: Registry) -> Merge {
        self.registry = Some(registry);
        self
    }

    /// The config.
    pub fn config(&self) -> &MergeConfig {
        &self.config
    }

    fn with_registry<T>(&self, f: impl FnOnce(&Registry) -> Result<T, Error>) -> Result<T, Error> {
        match &self.registry {
            Some(reg) => f(reg),
            None => f(&registry()?),
        }
    }

    fn build_plan(&self, reg: &Registry) -> Result<Plan, Error> {
        let descriptor = reg.descriptor(Family::Merge, &self.config.merge_method)?;
        let base_dir = match &self.models_in {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().map_err(|source| MergeError::Io {
                path: PathBuf::from("."),
                source,
            })?,
        };
        Ok(Plan::build(
            &self.config,
            &base_dir,
            descriptor,
            &PlanOptions { seed: self.seed },
        )?)
    }

    /// The plan (every tensor: method, inputs, resolved parameters) without merging; its
    /// `Display` is `mosaic merge --dry-run`'s output.
    pub fn plan(&self) -> Result<Plan, Error> {
        self.with_registry(|reg| self.build_plan(reg))
    }

    /// Merge into `out_dir` (written to a temporary folder, renamed on success).
    pub fn run(self, out_dir: impl AsRef<Path>) -> Result<MergeReport, Error> {
        self.with_registry(|reg| {
            let plan = self.build_plan(reg)?;
            let method = reg.merge_method(&self.config.merge_method)?;
            Ok(execute(&plan, &method, out_dir.as_ref(), &self.options)?)
        })
    }
}
