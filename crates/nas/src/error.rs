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
    /// A strategy could not be constructed (unknown name, bad parameter, bad space).
    #[error("cannot construct strategy `{strategy}`: {reason}")]
    Construct {
        /// The strategy's name.
        strategy: String,
        /// Why, as the registry or plugin said it.
        reason: String,
    },
    /// A search space is malformed.
    #[error("{0}")]
    Space(#[source] RError),
    /// A search option is out of range.
    #[error("search option `{name}`: {reason}")]
    InvalidOption {
        /// The option (`budget`, `batch`, `seeds`).
        name: &'static str,
        /// Why.
        reason: String,
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
    /// An evaluator broke its contract.
    #[error("evaluator: {0}")]
    Evaluator(String),
    /// A benchmark table is invalid.
    #[error("benchmark table {source_name}: {reason}")]
    Table {
        /// The file (or `<string>`).
        source_name: String,
        /// What is wrong, naming the entry at fault.
        reason: String,
    },
    /// A benchmark or one of its data sets is not known.
    #[error("unknown {what} `{name}` (known: {known})")]
    Unknown {
        /// `benchmark` or `dataset`.
        what: &'static str,
        /// The name given.
        name: String,
        /// The names that are known, comma-separated.
        known: String,
    },
    /// A benchmark's converted tables are not on disk.
    #[error(
        "{benchmark} table for `{dataset}` not found at {}: run `cargo xtask fetch-benchmarks` \
         to download and convert it (or point {} at a folder holding it)",
        path.display(), crate::BENCHMARK_DIR_ENV
    )]
    MissingBenchmark {
        /// The benchmark.
        benchmark: &'static str,
        /// The data set.
        dataset: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A trace is invalid.
    #[error("trace {source_name}: {reason}")]
    Trace {
        /// The file (or `<string>`).
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A replayed strategy did not propose what its trace records.
    #[error(
        "resume: the strategy diverged from the trace at step {step}: {reason} (same space, \
         parameters and seed?)"
    )]
    Diverged {
        /// The first step that differs.
        step: usize,
        /// What differs.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
