//! Regularized (aging) evolution: Real, Aggarwal, Huang, Le, "Regularized Evolution for Image
//! Classifier Architecture Search", AAAI 2019 (Algorithm 1).
//!
//! The population starts with `population_size` random architectures. Each later proposal
//! samples `sample_size` members uniformly without replacement, takes the best of the sample
//! as parent and proposes a mutation of it (one choice changed; [`Space::mutate`]). Every
//! evaluated child joins the population and the *oldest* member leaves, whatever its score —
//! the aging that distinguishes it from tournament selection with removal of the worst.
//!
//! With `dedup` (the default), a child whose architecture was already proposed is not
//! proposed again: the parent's unseen neighbours are drawn from, up to 10 fresh tournaments
//! are tried, and then a random unseen architecture is proposed. Without `dedup` the
//! algorithm is the paper's exactly (a repeated child is evaluated again).

use std::collections::VecDeque;

use mosaic_abi::{
    AlgorithmDescriptor, Family, Observation, ParamMap, ParamSpec, RError, RngSeed, SearchSpace,
    SearchStrategy,
};
use mosaic_nas::{exhausted, strategy_rng, History, Space, Uniform};
use rand::seq::index::sample;
use rand::Rng;
use rand_chacha::ChaCha20Rng;

#[cfg(test)]
mod tests;

/// Fresh tournaments tried before a random unseen architecture is proposed instead.
const TOURNAMENT_TRIES: usize = 10;

/// The descriptor of `regularized-evolution`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::NasStrategy,
        "regularized-evolution",
        "Regularized (aging) evolution, Real et al. 2019: tournament parent, one-choice mutation, oldest removed.",
    )
    .param(
        ParamSpec::i64(
            "population_size",
            Some(20),
            "Population size P: random architectures first, then the P most recent children.",
        )
        .min(1.0),
    )
    .param(
        ParamSpec::i64(
            "sample_size",
            Some(5),
            "Tournament size S: members sampled to pick each parent (the best of them).",
        )
        .min(1.0),
    )
    .param(ParamSpec::bool(
        "dedup",
        Some(true),
        "Never propose an architecture twice (unseen neighbours, then random unseen ones).",
    ))
}

/// Regularized evolution over a [`SearchSpace`].
pub struct RegularizedEvolution {
    space: Space,
    population_size: usize,
    sample_size: usize,
    dedup: bool,
    rng: ChaCha20Rng,
    history: History,
    /// The population, oldest first.
    population: VecDeque<(Vec<u32>, f64)>,
    asked: usize,
}

impl RegularizedEvolution {
    /// Regularized evolution with population `population_size` and tournaments of
    /// `sample_size` (both at least 1).
    pub fn new(
        space: &SearchSpace,
        population_size: usize,
        sample_size: usize,
        dedup: bool,
        seed: RngSeed,
    ) -> Result<RegularizedEvolution, RError> {
        if population_size == 0 {
            return Err(RError::param("population_size", "must be at least 1"));
        }
        if sample_size == 0 {
            return Err(RError::param("sample_size", "must be at least 1"));
        }
        Ok(RegularizedEvolution {
            space: Space::new(space)?,
            population_size,
            sample_size,
            dedup,
            rng: strategy_rng(seed),
            history: History::new(),
            population: VecDeque::new(),
            asked: 0,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<RegularizedEvolution, RError> {
        RegularizedEvolution::new(
            space,
            params.i64("population_size")? as usize,
            params.i64("sample_size")? as usize,
            params.bool("dedup")?,
            seed,
        )
    }

    /// The population, oldest first.
    pub fn population(&self) -> impl Iterator<Item = (&[u32], f64)> {
        self.population.iter().map(|(a, s)| (a.as_slice(), *s))
    }

    fn random(&mut self) -> Option<Vec<u32>> {
        if self.dedup {
            self.space
                .sample_unseen(&mut self.rng, self.history.seen(), Uniform::Encoding)
        } else {
            Some(self.space.sample(&mut self.rng))
        }
    }

    /// The best of `sample_size` members drawn without replacement (ties: the oldest).
    fn tournament(&mut self) -> Vec<u32> {
        let n = self.population.len();
        let mut picks = sample(&mut self.rng, n, self.sample_size.min(n)).into_vec();
        picks.sort_unstable();
        let best = picks
            .into_iter()
            .reduce(|b, i| {
                if self.population[i].1 > self.population[b].1 {
                    i
                } else {
                    b
                }
            })
            .expect("a non-empty population");
        self.population[best].0.clone()
    }

    fn child(&mut self) -> Option<Vec<u32>> {
        for _ in 0..TOURNAMENT_TRIES {
            let parent = self.tournament();
            if !self.dedup {
                if let Some(m) = self.space.mutate(&parent, &mut self.rng) {
                    return Some(m.arch);
                }
                continue;
            }
            let unseen: Vec<_> = self
                .space
                .neighbours(&parent)
                .into_iter()
                .filter(|m| !self.history.is_seen(&self.space, &m.arch))
                .collect();
            if !unseen.is_empty() {
                let i = self.rng.random_range(0..unseen.len());
                return Some(unseen[i].arch.clone());
            }
        }
        self.random()
    }
}

impl SearchStrategy for RegularizedEvolution {
    fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError> {
        let mut out = Vec::with_capacity(k);
        for _ in 0..k {
            let arch = if self.asked < self.population_size || self.population.is_empty() {
                self.random()
            } else {
                self.child()
            };
            let Some(arch) = arch else { break };
            self.history.propose(&self.space, &arch);
            self.asked += 1;
            out.push(arch);
        }
        if out.is_empty() {
            return Err(exhausted("regularized evolution", &self.space));
        }
        Ok(out)
    }

    fn tell(&mut self, observations: &[Observation]) -> Result<(), RError> {
        self.history.tell(&self.space, observations)?;
        for o in observations {
            self.population.push_back((o.arch.to_vec(), o.score));
            if self.population.len() > self.population_size {
                self.population.pop_front();
            }
        }
        Ok(())
    }
}
