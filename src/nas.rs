//! Neural architecture search (feature `nas`): everything of [`mosaic_nas`], plus [`search`],
//! which runs a built-in strategy (`nas-basic`: `random`, `regularized-evolution`,
//! `local-search`, `evopress`; `nas-model`: `reinforce`, `cmab-nas`, `bananas`, linked statically) on a
//! tabular benchmark and reports the selection and its regrets.
//!
//! ```
//! # fn main() -> Result<(), mosaic::Error> {
//! // NAS-Bench-Graph after `cargo xtask fetch-benchmarks`: nas_bench_graph::load("cora")?
//! let table = mosaic::nas::TabularBenchmark::toy(0);
//! let found = mosaic::nas::search(&table, "bananas").budget(30).seed(1).run()?;
//! assert_eq!(found.trace.len(), 30);
//! println!("{:?}: valid {:.3}, regret {:.3}", found.best.arch, found.best.metrics.valid, found.regret.valid);
//! # Ok(()) }
//! ```

use mosaic_abi::{Family, PluginModRef};
use mosaic_host::{HostError, Registry};
pub use mosaic_nas::*;

/// The built-in strategy plugins, linked statically.
fn modules() -> [PluginModRef; 2] {
    [
        mosaic_plugin_nas_basic::plugin_module(),
        mosaic_plugin_nas_model::plugin_module(),
    ]
}

/// A registry holding the built-in strategies, linked statically (add your own plugin with
/// `add_static`, then build strategies with `Registry::nas_strategy`).
pub fn registry() -> Result<Registry, HostError> {
    let mut reg = Registry::new();
    for m in modules() {
        reg.add_static(m)?;
    }
    Ok(reg)
}

/// Search `table` with the built-in strategy `strategy` (budget 100, seed 0 until set): see
/// [`mosaic_nas::Search`]. An unknown name fails at [`Search::run`], naming it.
pub fn search<'a>(table: &'a TabularBenchmark, strategy: &str) -> Search<'a> {
    let module = modules()
        .into_iter()
        .find(|m| {
            (m.info())().into_result().is_ok_and(|info| {
                info.algorithms
                    .iter()
                    .any(|a| a.family == Family::NasStrategy && a.name.as_str() == strategy)
            })
        })
        .unwrap_or(modules()[0]);
    mosaic_nas::search(table, module, strategy)
}
