//! The short library path: [`search`] runs one strategy of a plugin on a tabular benchmark
//! and reports the selection (best validation), its test score and the regrets.

use abi_stable::std_types::RStr;
use mosaic_abi::{ParamMap, ParamValue, PluginModRef, RngSeed};

use crate::{
    regret, run_search, NasError, Query, Regret, Result, RunInfo, SearchOptions, TabularBenchmark,
    Trace,
};

/// A search being set up; see [`search`].
#[derive(Clone)]
pub struct Search<'a> {
    table: &'a TabularBenchmark,
    module: PluginModRef,
    strategy: String,
    params: ParamMap,
    budget: usize,
    seed: u64,
    batch: usize,
}

/// What [`Search::run`] found.
#[derive(Clone, Debug)]
pub struct SearchResult {
    /// Every query.
    pub trace: Trace,
    /// The selected query: the best validation score (ties: the earliest).
    pub best: Query,
    /// Its regrets against the table's best.
    pub regret: Regret,
}

/// Search `table` with strategy `strategy` of plugin `module` (budget 100, seed 0, one
/// candidate per ask, default parameters until set otherwise).
///
/// ```
/// let table = mosaic_nas::TabularBenchmark::toy(0); // or nas_bench_graph::load("cora")?
/// let found = mosaic_nas::search(&table, mosaic_plugin_nas_basic::plugin_module(), "regularized-evolution")
///     .budget(40)
///     .seed(1)
///     .run()?;
/// println!("{:?}: valid {:.3}, valid regret {:.3}", found.best.arch, found.best.metrics.valid, found.regret.valid);
/// assert_eq!(found.trace.len(), 40);
/// # Ok::<(), mosaic_nas::NasError>(())
/// ```
pub fn search<'a>(table: &'a TabularBenchmark, module: PluginModRef, strategy: &str) -> Search<'a> {
    Search {
        table,
        module,
        strategy: strategy.to_string(),
        params: ParamMap::new(),
        budget: 100,
        seed: 0,
        batch: 1,
    }
}

impl Search<'_> {
    /// The query budget.
    pub fn budget(mut self, budget: usize) -> Self {
        self.budget = budget;
        self
    }

    /// The seed (`RngSeed::from_u64(seed)`).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Candidates per ask.
    pub fn batch(mut self, k: usize) -> Self {
        self.batch = k;
        self
    }

    /// Set a strategy parameter.
    pub fn param(mut self, name: &str, value: impl Into<ParamValue>) -> Self {
        self.params.insert(name, value);
        self
    }

    /// Run the search.
    pub fn run(self) -> Result<SearchResult> {
        let mut strategy = (self.module.new_nas_strategy())(
            RStr::from_str(&self.strategy),
            self.table.space(),
            &self.params,
            RngSeed::from_u64(self.seed),
        )
        .into_result()
        .map_err(|e| NasError::Construct {
            strategy: self.strategy.clone(),
            reason: e.to_string(),
        })?;
        let trace = run_search(
            &mut strategy,
            self.table.view(),
            &mut &*self.table,
            &SearchOptions::new(self.budget).batch(self.batch),
            &RunInfo::new(&self.strategy, &self.params, self.seed),
        )?;
        let best = trace
            .best()
            .cloned()
            .ok_or_else(|| NasError::Evaluator("no query was made".into()))?;
        let regret = regret(&trace, self.table, trace.len())
            .ok_or_else(|| NasError::Evaluator("empty table".into()))?;
        Ok(SearchResult {
            trace,
            best,
            regret,
        })
    }
}
