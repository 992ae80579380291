use std::path::PathBuf;

use mosaic_abi::{Family, RError};

/// Errors of the plugin host. Each names the file (or algorithm) at fault.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The plugin file or folder does not exist.
    #[error("{path}: no such plugin file or folder")]
    MissingFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is not a Mosaic plugin (not a loadable library, or no Mosaic root module).
    #[error("{path}: not a Mosaic plugin: {reason}")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The plugin was built for another ABI version or layout.
    #[error("{path}: built for another Mosaic ABI: {reason}")]
    AbiMismatch {
        /// The file.
        path: PathBuf,
        /// Which versions or layouts disagree.
        reason: String,
    },
    /// The plugin's own self-description failed or is malformed.
    #[error("{path}: invalid plugin: {reason}")]
    InvalidPlugin {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Two plugins provide an algorithm of the same family and name.
    #[error("duplicate {family} algorithm `{name}`: provided by both {first} and {second}")]
    Duplicate {
        /// The family.
        family: Family,
        /// The algorithm name.
        name: String,
        /// Where the first one came from.
        first: String,
        /// Where the second one came from.
        second: String,
    },
    /// No loaded plugin provides this algorithm.
    #[error("no {family} algorithm named `{name}` is loaded (available: {available})")]
    UnknownAlgorithm {
        /// The family.
        family: Family,
        /// The requested name.
        name: String,
        /// The names that are available, comma separated.
        available: String,
    },
    /// A parameter failed validation against the algorithm's schema.
    #[error("{family} algorithm `{name}`: {error}")]
    InvalidParam {
        /// The family.
        family: Family,
        /// The algorithm.
        name: String,
        /// The plugin's or validator's message (names the parameter).
        error: RError,
    },
    /// The plugin returned an error (including a caught panic).
    #[error("{family} algorithm `{name}` (from {origin}): {error}")]
    Plugin {
        /// The family.
        family: Family,
        /// The algorithm.
        name: String,
        /// Where it came from.
        origin: String,
        /// The error.
        error: RError,
    },
}
