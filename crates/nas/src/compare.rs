//! Regrets on a tabular benchmark, and strategy comparisons over many seeds (run in parallel
//! on the host's rayon pool; results do not depend on the number of threads).

use indicatif::{ProgressBar, ProgressStyle};
use mosaic_abi::{ParamMap, RngSeed, SearchSpace};
use rayon::prelude::*;
use serde::Serialize;

use crate::{
    run_search, NasError, Result, RunInfo, SearchOptions, SearchStrategyBox, TabularBenchmark,
    Trace,
};

/// How far a search's selection is from the table's best.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Regret {
    /// Best validation score in the table minus the best validation score found.
    pub valid: f64,
    /// Best test score in the table minus the test score of the selected architecture (the
    /// query with the best validation score, ties to the earliest); `None` without test
    /// scores.
    pub test: Option<f64>,
}

/// The regrets of the first `budget` queries of `trace` on `table` (all of them if the trace
/// is shorter); `None` for an empty trace or table.
pub fn regret(trace: &Trace, table: &TabularBenchmark, budget: usize) -> Option<Regret> {
    let selected = trace.best_within(budget)?;
    let (_, best) = table.best()?;
    Some(Regret {
        valid: best.valid - selected.metrics.valid,
        test: match (table.best_test(), selected.metrics.test) {
            (Some(b), Some(t)) => Some(b - t),
            _ => None,
        },
    })
}

/// A strategy to compare: its name and parameters.
#[derive(Clone, Debug)]
pub struct StrategySpec {
    /// The strategy's name, as the registry knows it.
    pub name: String,
    /// Its parameters.
    pub params: ParamMap,
}

impl StrategySpec {
    /// A strategy with its default parameters.
    pub fn new(name: &str) -> StrategySpec {
        StrategySpec {
            name: name.to_string(),
            params: ParamMap::new(),
        }
    }
}

/// One row of a comparison: a strategy at one budget, over all seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareRow {
    /// The strategy.
    pub strategy: String,
    /// The query budget.
    pub budget: usize,
    /// Number of seeds.
    pub seeds: usize,
    /// Mean validation regret.
    pub mean_valid_regret: f64,
    /// Sample standard deviation (n − 1) of the validation regret; 0 for one seed.
    pub std_valid_regret: f64,
    /// Mean test regret; `None` (`null` in JSON) without test scores.
    pub mean_test_regret: Option<f64>,
    /// Sample standard deviation of the test regret.
    pub std_test_regret: Option<f64>,
    /// Mean validation score of the selected architectures.
    pub mean_valid: f64,
    /// Mean test score of the selected architectures.
    pub mean_test: Option<f64>,
}

/// Mean and sample standard deviation (n − 1; 0 for n = 1).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// What a comparison runs.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Budgets to report; each strategy runs once per seed with the largest, and smaller
    /// budgets are read from the first queries of that run (strategies never see the budget,
    /// so a run with budget `b` is exactly that prefix — with `batch > 1`, when `b` is a
    /// multiple of the batch).
    pub budgets: Vec<usize>,
    /// The seeds: run `s` uses `RngSeed::from_u64(s)`, as `mosaic nas search --seed s` does.
    pub seeds: Vec<u64>,
    /// Candidates per ask.
    pub batch: usize,
    /// Show a progress bar (runs done) on stderr.
    pub progress: bool,
}

/// Builds a strategy (the host's registry, or a statically linked plugin).
pub type MakeStrategy<'a> =
    dyn Fn(&str, &SearchSpace, &ParamMap, RngSeed) -> Result<SearchStrategyBox> + Sync + 'a;

/// Run every strategy with every seed on `table` (in parallel on the current rayon pool) and
/// return one row per (budget, strategy), budgets ascending, strategies in the given order.
/// Also returns every trace, in (strategy, seed) order.
pub fn compare(
    table: &TabularBenchmark,
    strategies: &[StrategySpec],
    options: &CompareOptions,
    make: &MakeStrategy<'_>,
) -> Result<(Vec<CompareRow>, Vec<Trace>)> {
    let max_budget = *options
        .budgets
        .iter()
        .max()
        .ok_or_else(|| NasError::InvalidOption {
            name: "budget",
            reason: "no budget given".into(),
        })?;
    if options.budgets.contains(&0) {
        return Err(NasError::InvalidOption {
            name: "budget",
            reason: "must be at least 1 query".into(),
        });
    }
    if options.seeds.is_empty() {
        return Err(NasError::InvalidOption {
            name: "seeds",
            reason: "must be at least 1".into(),
        });
    }
    let runs: Vec<(usize, u64)> = (0..strategies.len())
        .flat_map(|s| options.seeds.iter().map(move |&seed| (s, seed)))
        .collect();
    let bar = if options.progress {
        let b = ProgressBar::new(runs.len() as u64);
        b.set_style(
            ProgressStyle::with_template("compare [{bar:30}] {pos}/{len} runs")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let search = SearchOptions::new(max_budget).batch(options.batch);
    let traces: Vec<Trace> = runs
        .par_iter()
        .map(|&(s, seed)| {
            let spec = &strategies[s];
            let mut strategy = make(
                &spec.name,
                table.space(),
                &spec.params,
                RngSeed::from_u64(seed),
            )?;
            let trace = run_search(
                &mut strategy,
                table.view(),
                &mut &*table,
                &search,
                &RunInfo::new(&spec.name, &spec.params, seed),
            )?;
            bar.inc(1);
            Ok(trace)
        })
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();
    let mut budgets = options.budgets.clone();
    budgets.sort_unstable();
    budgets.dedup();
    let mut rows = Vec::new();
    for &budget in &budgets {
        for (s, spec) in strategies.iter().enumerate() {
            let runs = &traces[s * options.seeds.len()..(s + 1) * options.seeds.len()];
            let mut valid_r = Vec::new();
            let mut test_r = Vec::new();
            let mut valid = Vec::new();
            let mut test = Vec::new();
            for t in runs {
                let r = regret(t, table, budget)
                    .ok_or_else(|| NasError::Evaluator("a run made no query".into()))?;
                let q = t.best_within(budget).expect("non-empty");
                valid_r.push(r.valid);
                valid.push(q.metrics.valid);
                if let (Some(tr), Some(ts)) = (r.test, q.metrics.test) {
                    test_r.push(tr);
                    test.push(ts);
                }
            }
            let (mvr, svr) = mean_std(&valid_r);
            let has_test = test_r.len() == runs.len();
            let (mtr, str_) = mean_std(&test_r);
            rows.push(CompareRow {
                strategy: spec.name.clone(),
                budget,
                seeds: runs.len(),
                mean_valid_regret: mvr,
                std_valid_regret: svr,
                mean_test_regret: has_test.then_some(mtr),
                std_test_regret: has_test.then_some(str_),
                mean_valid: mean_std(&valid).0,
                mean_test: has_test.then(|| mean_std(&test).0),
            });
        }
    }
    Ok((rows, traces))
}
