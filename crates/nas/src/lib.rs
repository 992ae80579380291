//! Mosaic neural architecture search family: search spaces, strategies, evaluators, and a
//! real benchmark (NAS-Bench-Graph).
//!
//! - The ABI types ([`SearchSpace`], [`Choice`], [`CellGraph`], [`Observation`],
//!   [`SearchStrategy`], [`SearchStrategyBox`]) are re-exported from `mosaic-abi`; strategies
//!   ship in plugins (`mosaic-plugin-nas-basic`: `random`, `regularized-evolution`,
//!   `local-search`, `evopress`; `mosaic-plugin-nas-model`: `reinforce`, `cmab-nas`, `bananas`).
//! - [`Space`] indexes a [`SearchSpace`]: enumerate, sample, mutate, neighbours, the stable
//!   architecture id, and the one-hot / adjacency / path [`Encoding`]s. Strategies build it
//!   from the space they are given, so host and plugin agree on every architecture.
//! - An [`Evaluator`] answers architectures with [`Metrics`] (validation, test, latency,
//!   parameters, cost); [`TabularBenchmark`] looks them up (JSON tables, the built-in
//!   [`TabularBenchmark::toy`], and [`nas_bench_graph`]).
//! - [`compression`]: spaces of per-layer compression levels under a global budget
//!   (EvoPress' search space): the exact budget, its uniform sampling and the additive optimum.
//! - [`search`] is the short path: one strategy of a plugin on a table, the selection and
//!   its regrets.
//! - [`run_search`] runs the ask/tell loop (budget, batched asks, progress bar) into a
//!   [`Trace`] of every query; [`resume_search`] replays a trace into a fresh strategy and
//!   goes on; [`compare`] runs strategies over seeds in parallel and reports [`regret`]s.
//!
//! ```
//! use mosaic_nas::{run_search, ParamMap, RngSeed, RunInfo, SearchOptions, TabularBenchmark};
//!
//! let bench = TabularBenchmark::toy(0);
//! let module = mosaic_plugin_nas_basic::plugin_module();
//! let mut strategy = (module.new_nas_strategy())(
//!     "regularized-evolution".into(), bench.space(), &ParamMap::new(), RngSeed::from_u64(1),
//! ).into_result()?;
//! let info = RunInfo::new("regularized-evolution", &ParamMap::new(), 1);
//! let trace = run_search(&mut strategy, bench.view(), &mut &bench, &SearchOptions::new(30), &info)?;
//! assert_eq!(trace.len(), 30);
//! println!("best {:?}", trace.best().unwrap().arch);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod builder;
mod compare;
pub mod compression;
mod encode;
mod error;
mod evaluator;
mod history;
pub mod nas_bench_graph;
mod search;
mod space;
mod tabular;

use std::path::{Path, PathBuf};

pub use builder::{search, Search, SearchResult};
pub use compare::{
    compare, mean_std, regret, CompareOptions, CompareRow, MakeStrategy, Regret, StrategySpec,
};
pub use encode::{Dag, Encoding, Features, MAX_PATH_FEATURES, NONE_OP};
pub use error::{NasError, Result};
pub use evaluator::{Evaluator, Metrics};
pub use history::{exhausted, strategy_rng, History};
pub use mosaic_abi::family::nas::*;
pub use mosaic_abi::{ErrorKind, ParamMap, ParamValue, PluginModRef, RError, RngSeed};
pub use search::{resume_search, run_search, Query, RunInfo, SearchOptions, Stop, Trace};
pub use space::{Mutation, Space, Uniform};
pub use tabular::{arch_key, parse_arch_key, TabularBenchmark};

/// The environment variable naming the folder that holds converted benchmark tables.
pub const BENCHMARK_DIR_ENV: &str = "MOSAIC_BENCHMARK_DIR";

/// The folder holding converted benchmark tables: `$MOSAIC_BENCHMARK_DIR` when set; else the
/// first `benchmarks` folder beside an ancestor of the running executable (so
/// `target/debug/mosaic` and the test binaries under `target/debug/deps` find
/// `target/benchmarks`, where `cargo xtask fetch-benchmarks` writes); else the workspace's
/// `target/benchmarks`.
pub fn benchmark_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(BENCHMARK_DIR_ENV) {
        return PathBuf::from(d);
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let candidate = dir.join("benchmarks");
            if candidate.is_dir() {
                return candidate;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/benchmarks")
}

/// The built-in and fetched benchmarks by name: `toy` (the 81-architecture
/// [`TabularBenchmark::toy`]; `dataset` is its seed, default 0) and `nas-bench-graph`
/// (a [`nas_bench_graph::DATASETS`] entry, loaded from `dir` or [`benchmark_dir`]).
pub fn open_benchmark(
    name: &str,
    dataset: Option<&str>,
    dir: Option<&Path>,
) -> Result<TabularBenchmark> {
    match name {
        "toy" => {
            let seed = match dataset {
                None => 0,
                Some(d) => d.parse().map_err(|_| NasError::Unknown {
                    what: "dataset",
                    name: d.to_string(),
                    known: "a seed (an unsigned integer) for the toy benchmark".into(),
                })?,
            };
            Ok(TabularBenchmark::toy(seed))
        }
        nas_bench_graph::NAME => {
            let dataset = dataset.ok_or_else(|| NasError::InvalidOption {
                name: "dataset",
                reason: format!(
                    "{} needs a data set: one of {}",
                    nas_bench_graph::NAME,
                    nas_bench_graph::DATASETS.join(", ")
                ),
            })?;
            match dir {
                Some(d) => nas_bench_graph::load_from(d, dataset),
                None => nas_bench_graph::load(dataset),
            }
        }
        other => Err(NasError::Unknown {
            what: "benchmark",
            name: other.to_string(),
            known: format!("toy, {}", nas_bench_graph::NAME),
        }),
    }
}

/// Write `bytes` to `path` through a temporary file renamed into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| NasError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
