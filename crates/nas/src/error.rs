use std::path::PathBuf;

use mosaic_abi::RError;

/// `Result` with [`NasError`].
pub type Result<T, E = NasError> = std::result::Result<T, E>;

/// What can go wrong in the NAS family.
#[derive(Debug, thiserror::Error)]
pub enum NasError {
    /// A strategy (a plugin) returned an error.
    #[error("search strategy: `{call}` at step {step}: {source}")]
    Strategy {
        /// `ask` or `tell`.
        call: &'static str,
        /// The step (0-based) at which it failed.
        step: usize,
        /// The plugin's error.
        #[source]
        source: RError,
    },
    /// An evaluator was asked about an architecture it does not know.
    #[error("unknown architecture `{key}`: {reason}")]
    UnknownArchitecture {
        /// The architecture's key ([`crate::arch_key`]).
        key: String,
        /// Why it is unknown (not in the table, not in the space).
        reason: String,
    },
    /// An evaluator answered with a score that is not a number.
    #[error("evaluator returned a NaN score for architecture `{key}`")]
    NanScore {
        /// The architecture's key.
        key: String,
    },
    /// A benchmark table is invalid.
    #[error("benchmark table {source_name}: {reason}")]
    Table {
        /// The file (or `<string>`).
        source_name: String,
        /// What is wrong, naming the entry at fault.
        reason: String,
    },
    /// A benchmark file could not be read or written.
    #[error("benchmark file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
