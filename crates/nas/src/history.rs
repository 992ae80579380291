//! What every strategy keeps: the architectures proposed or told (by id, so isomorphic
//! encodings count once), the observations in order, and the best one.

use std::collections::HashSet;

use mosaic_abi::{Observation, RError, RngSeed};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::Space;

/// The generator every Mosaic strategy draws from: ChaCha20 keyed by the seed.
pub fn strategy_rng(seed: RngSeed) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(seed.bytes)
}

/// The error a strategy returns when every architecture of `space` has been proposed.
pub fn exhausted(strategy: &str, space: &Space) -> RError {
    RError::exhausted(format!(
        "{strategy}: the search space `{}` is exhausted (all {} architectures have been \
         proposed or told)",
        space.name(),
        space
            .architectures()
            .map_or_else(|| "its".to_string(), |n| n.to_string())
    ))
}

/// Observations told to a strategy, and the ids it has proposed or been told.
#[derive(Clone, Debug, Default)]
pub struct History {
    told: Vec<(Vec<u32>, f64)>,
    seen: HashSet<u64>,
    best: Option<usize>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Mark `arch` as proposed; `false` when its architecture was already proposed or told.
    /// `arch` must be valid in `space`.
    pub fn propose(&mut self, space: &Space, arch: &[u32]) -> bool {
        self.seen.insert(
            space
                .arch_id(arch)
                .expect("strategies propose valid architectures"),
        )
    }

    /// Whether the architecture of `arch` was proposed or told.
    pub fn is_seen(&self, space: &Space, arch: &[u32]) -> bool {
        space
            .arch_id(arch)
            .is_some_and(|id| self.seen.contains(&id))
    }

    /// The ids proposed or told.
    pub fn seen(&self) -> &HashSet<u64> {
        &self.seen
    }

    /// Check every observation (a valid architecture of `space`, a score that is not NaN),
    /// then record them in order. Nothing is recorded when one is bad; the error names it.
    pub fn tell(&mut self, space: &Space, observations: &[Observation]) -> Result<(), RError> {
        for (i, o) in observations.iter().enumerate() {
            space
                .check(&o.arch)
                .map_err(|e| RError::input(format!("tell: observation {i}: {e}")))?;
            if o.score.is_nan() {
                return Err(RError::input(format!(
                    "tell: observation {i}: the score of {:?} is NaN",
                    o.arch.as_slice()
                )));
            }
        }
        for o in observations {
            self.seen.insert(space.arch_id(&o.arch).expect("checked"));
            self.told.push((o.arch.to_vec(), o.score));
            let i = self.told.len() - 1;
            if self.best.is_none_or(|b| o.score > self.told[b].1) {
                self.best = Some(i);
            }
        }
        Ok(())
    }

    /// Every observation, in the order told.
    pub fn told(&self) -> &[(Vec<u32>, f64)] {
        &self.told
    }

    /// Number of observations.
    pub fn len(&self) -> usize {
        self.told.len()
    }

    /// Whether nothing was told.
    pub fn is_empty(&self) -> bool {
        self.told.is_empty()
    }

    /// The best observation (ties: the first told).
    pub fn best(&self) -> Option<(&[u32], f64)> {
        self.best
            .map(|i| (self.told[i].0.as_slice(), self.told[i].1))
    }

    /// Indices (into [`History::told`]) of the `n` best observations, best first (ties: the
    /// first told first).
    pub fn top(&self, n: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.told.len()).collect();
        idx.sort_by(|&a, &b| self.told[b].1.total_cmp(&self.told[a].1).then(a.cmp(&b)));
        idx.truncate(n);
        idx
    }
}
