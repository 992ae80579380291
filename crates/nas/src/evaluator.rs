use serde::{Deserialize, Serialize};

use crate::Result;

/// What an evaluator says about one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The score: higher is better (e.g. validation accuracy).
    pub score: f64,
    /// The cost of the architecture or of evaluating it (e.g. parameters, FLOPs, seconds).
    pub cost: f64,
}

/// Answers an architecture (one option index per choice of the space) with its metrics: a
/// table lookup, or training on data.
pub trait Evaluator {
    /// Evaluate `arch`.
    fn evaluate(&mut self, arch: &[u32]) -> Result<Metrics>;
}

impl<E: Evaluator + ?Sized> Evaluator for &mut E {
    fn evaluate(&mut self, arch: &[u32]) -> Result<Metrics> {
        (**self).evaluate(arch)
    }
}
