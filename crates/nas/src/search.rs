use serde::Serialize;

use crate::{arch_key, Evaluator, Metrics, NasError, Result, SearchStrategyBox};

/// One step of a search: the architecture proposed, its metrics, and the best so far.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchStep {
    /// The architecture proposed at this step.
    pub arch: Vec<u32>,
    /// Its metrics.
    pub metrics: Metrics,
    /// Index of the best step so far, this one included (ties: the earliest).
    pub best_step: usize,
    /// The best score so far.
    pub best_score: f64,
}

/// The record of a search, step by step.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SearchHistory {
    /// The steps, in order.
    pub steps: Vec<SearchStep>,
}

impl SearchHistory {
    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no step was taken.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The best step (ties: the earliest).
    pub fn best(&self) -> Option<&SearchStep> {
        self.steps.last().map(|s| &self.steps[s.best_step])
    }

    /// The best score after each step (the incumbent trajectory).
    pub fn best_scores(&self) -> Vec<f64> {
        self.steps.iter().map(|s| s.best_score).collect()
    }

    /// Total cost of the architectures evaluated.
    pub fn total_cost(&self) -> f64 {
        self.steps.iter().map(|s| s.metrics.cost).sum()
    }

    fn push(&mut self, arch: Vec<u32>, metrics: Metrics) {
        let step = self.steps.len();
        let (best_step, best_score) = match self.steps.last() {
            Some(prev) if prev.best_score >= metrics.score => (prev.best_step, prev.best_score),
            _ => (step, metrics.score),
        };
        self.steps.push(SearchStep {
            arch,
            metrics,
            best_step,
            best_score,
        });
    }
}

/// Run `budget` rounds of ask → evaluate → tell, and return the history.
///
/// An error from the strategy (e.g. a deduplicating strategy whose space is exhausted), from
/// the evaluator, or a NaN score ends the search with that error.
pub fn run_search<E: Evaluator + ?Sized>(
    strategy: &mut SearchStrategyBox,
    evaluator: &mut E,
    budget: usize,
) -> Result<SearchHistory> {
    let mut history = SearchHistory::default();
    for step in 0..budget {
        let arch = strategy
            .ask()
            .into_result()
            .map_err(|source| NasError::Strategy {
                call: "ask",
                step,
                source,
            })?
            .into_vec();
        let metrics = evaluator.evaluate(&arch)?;
        if metrics.score.is_nan() {
            return Err(NasError::NanScore {
                key: arch_key(&arch),
            });
        }
        strategy
            .tell(arch.as_slice().into(), metrics.score)
            .into_result()
            .map_err(|source| NasError::Strategy {
                call: "tell",
                step,
                source,
            })?;
        history.push(arch, metrics);
    }
    Ok(history)
}
