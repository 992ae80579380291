//! The ask/tell search loop: a query budget, batched asks, a progress bar, and a [`Trace`] of
//! every query that also resumes a search (by replaying it into a fresh strategy).

use std::collections::HashSet;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use mosaic_abi::{ErrorKind, Observation, ParamMap, ParamValue};
use serde::{Deserialize, Serialize};

use crate::{Evaluator, Metrics, NasError, Result, SearchStrategyBox, Space};

/// How to run a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchOptions {
    /// Maximum number of queries (evaluations), at least 1.
    pub budget: usize,
    /// Candidates asked for at once (`k`, at least 1); the last ask is cut to the budget left.
    pub batch: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl SearchOptions {
    /// `budget` queries, one at a time, no progress bar.
    pub fn new(budget: usize) -> SearchOptions {
        SearchOptions {
            budget,
            batch: 1,
            progress: false,
        }
    }

    /// Ask for `k` candidates at a time.
    pub fn batch(mut self, k: usize) -> SearchOptions {
        self.batch = k;
        self
    }

    /// Show (or not) a progress bar.
    pub fn progress(mut self, on: bool) -> SearchOptions {
        self.progress = on;
        self
    }

    fn check(&self) -> Result<()> {
        if self.budget == 0 {
            return Err(NasError::InvalidOption {
                name: "budget",
                reason: "must be at least 1 query".into(),
            });
        }
        if self.batch == 0 {
            return Err(NasError::InvalidOption {
                name: "batch",
                reason: "must be at least 1 candidate per ask".into(),
            });
        }
        Ok(())
    }
}

/// One query of a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Its position in the search (0-based).
    pub step: usize,
    /// The ask (0-based) that proposed it.
    pub ask: usize,
    /// The encoding proposed.
    pub arch: Vec<u32>,
    /// The architecture's stable id ([`Space::arch_id`]).
    pub arch_id: u64,
    /// What the evaluator answered.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// The step of the best validation score so far, this query included (ties: the earliest).
    pub best_step: usize,
    /// Whether this architecture was queried before in this search.
    pub repeat: bool,
}

/// Why a search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stop {
    /// The budget was spent.
    Budget,
    /// The strategy had nothing left to propose (`Exhausted`).
    Exhausted,
}

/// The record of a search: what was run and every query, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The space's name.
    pub space: String,
    /// The strategy's name.
    pub strategy: String,
    /// The strategy's parameters as given (JSON values).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The `u64` the strategy's seed was expanded from, when there was one.
    pub seed: Option<u64>,
    /// The query budget.
    pub budget: usize,
    /// How many candidates each ask requested.
    pub asks: Vec<usize>,
    /// Every query.
    pub queries: Vec<Query>,
    /// Why the search stopped.
    pub stop: Stop,
}

/// What a [`Trace`] records about the run beside its queries.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// The strategy's name.
    pub strategy: String,
    /// Its parameters.
    pub params: ParamMap,
    /// The `u64` its seed came from.
    pub seed: Option<u64>,
}

impl RunInfo {
    /// Describe a run of `strategy` with `params`, seeded from `seed`.
    pub fn new(strategy: &str, params: &ParamMap, seed: u64) -> RunInfo {
        RunInfo {
            strategy: strategy.to_string(),
            params: params.clone(),
            seed: Some(seed),
        }
    }
}

fn param_json(v: &ParamValue) -> serde_json::Value {
    match v {
        ParamValue::F64(x) => serde_json::json!(x),
        ParamValue::I64(x) => serde_json::json!(x),
        ParamValue::Bool(x) => serde_json::json!(x),
        ParamValue::Str(s) => serde_json::json!(s.as_str()),
        ParamValue::F64List(xs) => serde_json::json!(xs.as_slice()),
    }
}

impl Trace {
    /// Number of queries.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether no query was made.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The query with the best validation score among the first `n` (ties: the earliest).
    pub fn best_within(&self, n: usize) -> Option<&Query> {
        let n = n.min(self.queries.len());
        (n > 0).then(|| &self.queries[self.queries[n - 1].best_step])
    }

    /// The query with the best validation score (ties: the earliest).
    pub fn best(&self) -> Option<&Query> {
        self.best_within(self.queries.len())
    }

    /// The best validation score after each query (the incumbent trajectory).
    pub fn best_scores(&self) -> Vec<f64> {
        self.queries
            .iter()
            .map(|q| self.queries[q.best_step].metrics.valid)
            .collect()
    }

    /// Total cost of the queries.
    pub fn total_cost(&self) -> f64 {
        self.queries.iter().map(|q| q.metrics.cost).sum()
    }

    /// Number of repeated architectures.
    pub fn repeats(&self) -> usize {
        self.queries.iter().filter(|q| q.repeat).count()
    }

    /// The trace of the first `asks` asks only (as if the search had been interrupted there),
    /// for [`resume_search`].
    pub fn first_asks(&self, asks: usize) -> Trace {
        let asks = asks.min(self.asks.len());
        let mut t = self.clone();
        t.asks.truncate(asks);
        t.queries.retain(|q| q.ask < asks);
        t.stop = Stop::Budget;
        t
    }

    /// The trace as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a trace always serializes")
    }

    /// Parse [`Trace::to_json`].
    pub fn from_json_str(json: &str) -> Result<Trace> {
        serde_json::from_str(json).map_err(|e| NasError::Trace {
            source_name: "<string>".into(),
            reason: e.to_string(),
        })
    }

    /// Write the trace as JSON (to a temporary name renamed into place).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::write_atomic(path.as_ref(), self.to_json().as_bytes())
    }

    /// Read a trace written by [`Trace::save`]; errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Trace> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| NasError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| NasError::Trace {
            source_name: path.display().to_string(),
            reason: e.to_string(),
        })
    }
}

struct Loop<'a> {
    strategy: &'a mut SearchStrategyBox,
    space: &'a Space,
    trace: Trace,
    seen: HashSet<u64>,
    bar: ProgressBar,
}

impl Loop<'_> {
    fn ask(&mut self, k: usize) -> Result<Option<Vec<Vec<u32>>>> {
        let step = self.trace.queries.len();
        match self.strategy.ask(k as u32).into_result() {
            Ok(batch) => {
                let batch: Vec<Vec<u32>> = batch.into_iter().map(|a| a.into_vec()).collect();
                if batch.is_empty() || batch.len() > k {
                    return Err(NasError::Strategy {
                        call: "ask",
                        step,
                        source: mosaic_abi::RError::other(format!(
                            "asked for {k} architectures, got {}",
                            batch.len()
                        )),
                    });
                }
                for (i, a) in batch.iter().enumerate() {
                    self.space.check(a).map_err(|source| NasError::Strategy {
                        call: "ask",
                        step: step + i,
                        source: mosaic_abi::RError::other(format!(
                            "proposed an invalid architecture: {source}"
                        )),
                    })?;
                }
                Ok(Some(batch))
            }
            Err(e) if e.kind == ErrorKind::Exhausted => Ok(None),
            Err(source) => Err(NasError::Strategy {
                call: "ask",
                step,
                source,
            }),
        }
    }

    fn tell(&mut self, archs: &[Vec<u32>], metrics: &[Metrics]) -> Result<()> {
        let step = self.trace.queries.len();
        let obs: Vec<Observation> = archs
            .iter()
            .zip(metrics)
            .map(|(a, m)| Observation::new(a, m.valid, m.cost))
            .collect();
        self.strategy
            .tell(obs.as_slice().into())
            .into_result()
            .map_err(|source| NasError::Strategy {
                call: "tell",
                step,
                source,
            })
    }

    fn record(&mut self, k: usize, archs: Vec<Vec<u32>>, metrics: Vec<Metrics>) {
        let ask = self.trace.asks.len();
        self.trace.asks.push(k);
        for (arch, m) in archs.into_iter().zip(metrics) {
            let step = self.trace.queries.len();
            let arch_id = self.space.arch_id(&arch).expect("checked when asked");
            let best_step = match self.trace.queries.last() {
                Some(prev) if self.trace.queries[prev.best_step].metrics.valid >= m.valid => {
                    prev.best_step
                }
                _ => step,
            };
            let repeat = !self.seen.insert(arch_id);
            self.trace.queries.push(Query {
                step,
                ask,
                arch,
                arch_id,
                metrics: m,
                best_step,
                repeat,
            });
        }
        self.bar.set_position(self.trace.queries.len() as u64);
        if let Some(best) = self.trace.best() {
            self.bar
                .set_message(format!("best valid {:.4}", best.metrics.valid));
        }
    }

    fn run<E: Evaluator + ?Sized>(
        mut self,
        evaluator: &mut E,
        budget: usize,
        batch: usize,
    ) -> Result<Trace> {
        while self.trace.queries.len() < budget {
            let k = batch.min(budget - self.trace.queries.len());
            let Some(archs) = self.ask(k)? else {
                self.trace.stop = Stop::Exhausted;
                break;
            };
            let metrics = evaluator.evaluate_batch(&archs)?;
            if metrics.len() != archs.len() {
                return Err(NasError::Evaluator(format!(
                    "evaluate_batch answered {} metrics for {} architectures",
                    metrics.len(),
                    archs.len()
                )));
            }
            for (a, m) in archs.iter().zip(&metrics) {
                if m.valid.is_nan() {
                    return Err(NasError::NanScore {
                        key: crate::arch_key(a),
                    });
                }
            }
            self.tell(&archs, &metrics)?;
            self.record(k, archs, metrics);
        }
        self.bar.finish_and_clear();
        Ok(self.trace)
    }
}

fn progress_bar(on: bool, budget: usize, label: &str) -> ProgressBar {
    if !on {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(budget as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} queries {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

fn new_trace(space: &Space, info: &RunInfo, budget: usize) -> Trace {
    Trace {
        space: space.name().to_string(),
        strategy: info.strategy.clone(),
        params: info
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), param_json(v)))
            .collect(),
        seed: info.seed,
        budget,
        asks: Vec::new(),
        queries: Vec::new(),
        stop: Stop::Budget,
    }
}

/// Run ask → evaluate → tell until `options.budget` queries are spent or the strategy is
/// exhausted, and return the trace.
///
/// Each ask requests `min(batch, budget left)` candidates; every candidate must be a valid
/// architecture of `space` (else the search fails naming the step). A strategy that fails with
/// [`ErrorKind::Exhausted`] ends the search early ([`Stop::Exhausted`]); any other strategy or
/// evaluator error, or a NaN validation score, ends it with that error. Repeated architectures
/// are evaluated and charged like any other query, and marked in the trace.
pub fn run_search<E: Evaluator + ?Sized>(
    strategy: &mut SearchStrategyBox,
    space: &Space,
    evaluator: &mut E,
    options: &SearchOptions,
    info: &RunInfo,
) -> Result<Trace> {
    options.check()?;
    let bar = progress_bar(options.progress, options.budget, &info.strategy);
    Loop {
        strategy,
        space,
        trace: new_trace(space, info, options.budget),
        seen: HashSet::new(),
        bar,
    }
    .run(evaluator, options.budget, options.batch)
}

/// Resume a search: replay `trace` into a freshly constructed `strategy` (same space,
/// parameters and seed), checking that it proposes the recorded architectures, then continue
/// with `evaluator` until `options.budget` queries in all. Nothing recorded is re-evaluated.
///
/// A strategy that proposes something else than the trace is [`NasError::Diverged`]: it was
/// built differently, or its state is not a function of its seed and the calls it received.
pub fn resume_search<E: Evaluator + ?Sized>(
    strategy: &mut SearchStrategyBox,
    space: &Space,
    evaluator: &mut E,
    trace: &Trace,
    options: &SearchOptions,
) -> Result<Trace> {
    options.check()?;
    let info = RunInfo {
        strategy: trace.strategy.clone(),
        params: ParamMap::new(),
        seed: trace.seed,
    };
    let mut fresh = new_trace(space, &info, options.budget);
    fresh.params = trace.params.clone();
    let bar = progress_bar(options.progress, options.budget, &trace.strategy);
    let mut lp = Loop {
        strategy,
        space,
        trace: fresh,
        seen: HashSet::new(),
        bar,
    };
    let mut start = 0usize;
    for (ask, &k) in trace.asks.iter().enumerate() {
        let recorded: Vec<&Query> = trace.queries[start..]
            .iter()
            .take_while(|q| q.ask == ask)
            .collect();
        let step = start;
        let got = lp.ask(k)?.ok_or_else(|| NasError::Diverged {
            step,
            reason: "the strategy is exhausted where the trace goes on".into(),
        })?;
        let want: Vec<Vec<u32>> = recorded.iter().map(|q| q.arch.clone()).collect();
        if got != want {
            return Err(NasError::Diverged {
                step,
                reason: format!("ask {ask} proposed {got:?}, the trace records {want:?}"),
            });
        }
        let metrics: Vec<Metrics> = recorded.iter().map(|q| q.metrics).collect();
        lp.tell(&want, &metrics)?;
        lp.record(k, want, metrics);
        start += recorded.len();
    }
    if start != trace.queries.len() {
        return Err(NasError::Trace {
            source_name: "<resume>".into(),
            reason: format!(
                "the trace's asks cover {start} of its {} queries",
                trace.queries.len()
            ),
        });
    }
    lp.run(evaluator, options.budget, options.batch)
}
