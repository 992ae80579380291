//! Mosaic plugin host: finds plugin libraries, loads them with `abi_stable`'s layout check,
//! checks their ABI version, and builds a registry of algorithms keyed by (family, name).
//!
//! Plugins come from three places, in this order: folders given explicitly (`--plugin-dir`),
//! the folders in `MOSAIC_PLUGIN_PATH` (separated like `PATH`), and the `plugins` folder next
//! to the running executable. Libraries linked statically are registered with
//! [`Registry::add_static`]. Every failure is an error naming the file.
#![deny(missing_docs)]

mod error;
mod registry;

pub use error::HostError;
pub use registry::{AlgorithmEntry, Discovery, LoadedPlugin, PluginOrigin, Registry};

/// Environment variable holding extra plugin folders.
pub const PLUGIN_PATH_ENV: &str = "MOSAIC_PLUGIN_PATH";

/// File extension of dynamic libraries on this platform (`so`, `dylib`, `dll`).
pub const DYLIB_EXTENSION: &str = std::env::consts::DLL_EXTENSION;
