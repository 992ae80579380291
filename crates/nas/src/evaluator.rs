use serde::{Deserialize, Serialize};

use crate::Result;

/// What an evaluator says about one architecture. Strategies are told `valid` (the score to
/// maximize); `test` is for reporting only and must never steer a search.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Validation score, higher is better (e.g. validation accuracy).
    #[serde(alias = "score")]
    pub valid: f64,
    /// Test score of the same trained model, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<f64>,
    /// Inference latency (seconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<f64>,
    /// Number of parameters (millions), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<f64>,
    /// What the evaluation cost, in the evaluator's unit (a tabular lookup costs 1 query;
    /// training reports seconds).
    pub cost: f64,
}

impl Metrics {
    /// Metrics with only a validation score and a cost.
    pub fn new(valid: f64, cost: f64) -> Metrics {
        Metrics {
            valid,
            test: None,
            latency: None,
            params: None,
            cost,
        }
    }
}

/// Answers architectures (one option index per choice of the space) with their metrics: a
/// table lookup, or training on data.
pub trait Evaluator {
    /// Evaluate `arch`.
    fn evaluate(&mut self, arch: &[u32]) -> Result<Metrics>;

    /// Evaluate a batch (the search loop's `k` candidates of one ask). The default evaluates
    /// in order; an evaluator that trains may run the batch in parallel, returning the metrics
    /// in the batch's order.
    fn evaluate_batch(&mut self, archs: &[Vec<u32>]) -> Result<Vec<Metrics>> {
        archs.iter().map(|a| self.evaluate(a)).collect()
    }
}

impl<E: Evaluator + ?Sized> Evaluator for &mut E {
    fn evaluate(&mut self, arch: &[u32]) -> Result<Metrics> {
        (**self).evaluate(arch)
    }
    fn evaluate_batch(&mut self, archs: &[Vec<u32>]) -> Result<Vec<Metrics>> {
        (**self).evaluate_batch(archs)
    }
}
