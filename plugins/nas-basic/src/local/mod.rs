//! Local search (first-improvement hill climbing with random restarts), the NAS baseline of
//! White, Nolen, Ravi, Savani, "Exploring the Loss Landscape in Neural Architecture Search",
//! UAI 2021 (Algorithm 1; there shown to match or beat most NAS methods on NAS-Bench-101/201).
//!
//! The search starts with `initial` random architectures; the best told becomes the current
//! architecture. Its unseen neighbours (one choice changed, [`Space::neighbours`]) are
//! proposed in random order; as soon as one scores higher than the current architecture it
//! becomes the current one and its own neighbourhood is explored (first improvement). With
//! `first_improvement = false` the whole neighbourhood is evaluated first and the search moves
//! to its best member if it improves (the paper's best-improvement form). When no unseen
//! neighbour is left without an improvement — a local optimum — the search restarts from a
//! random unseen architecture, which becomes the current one whatever its score.
//!
//! Asks of `k > 1` take the next `k` neighbours; when the neighbourhood runs out while some of
//! them are still being evaluated, random unseen architectures fill the batch.

use mosaic_abi::{
    AlgorithmDescriptor, Family, Observation, ParamMap, ParamSpec, RError, RngSeed, SearchSpace,
    SearchStrategy,
};
use mosaic_nas::{exhausted, strategy_rng, History, Space, Uniform};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;

#[cfg(test)]
mod tests;

/// The descriptor of `local-search`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::NasStrategy,
        "local-search",
        "Local search, White et al. 2021: hill climbing over one-choice neighbours, random restarts.",
    )
    .param(
        ParamSpec::i64(
            "initial",
            Some(10),
            "Random architectures evaluated before climbing from the best of them.",
        )
        .min(1.0),
    )
    .param(ParamSpec::bool(
        "first_improvement",
        Some(true),
        "Move to the first better neighbour (else evaluate the whole neighbourhood first).",
    ))
}

/// Local search over a [`SearchSpace`].
pub struct LocalSearch {
    space: Space,
    initial: usize,
    first_improvement: bool,
    rng: ChaCha20Rng,
    history: History,
    asked: usize,
    /// The current architecture and its score.
    current: Option<(Vec<u32>, f64)>,
    /// The best neighbour told since `current` was set (best-improvement mode).
    round_best: Option<(Vec<u32>, f64)>,
    /// Neighbours of `current` still to propose (popped from the end); `None` when the
    /// neighbourhood has to be (re)built.
    queue: Option<Vec<Vec<u32>>>,
    /// Proposals not told yet.
    outstanding: Vec<u64>,
    /// The id of a restart architecture not told yet.
    restart: Option<u64>,
    /// Ids of neighbours proposed from the queue and not told yet.
    neighbours_out: Vec<u64>,
}

impl LocalSearch {
    /// Local search starting from the best of `initial` random architectures.
    pub fn new(
        space: &SearchSpace,
        initial: usize,
        first_improvement: bool,
        seed: RngSeed,
    ) -> Result<LocalSearch, RError> {
        if initial == 0 {
            return Err(RError::param("initial", "must be at least 1"));
        }
        Ok(LocalSearch {
            space: Space::new(space)?,
            initial,
            first_improvement,
            rng: strategy_rng(seed),
            history: History::new(),
            asked: 0,
            current: None,
            round_best: None,
            queue: None,
            outstanding: Vec::new(),
            restart: None,
            neighbours_out: Vec::new(),
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<LocalSearch, RError> {
        LocalSearch::new(
            space,
            params.i64("initial")? as usize,
            params.bool("first_improvement")?,
            seed,
        )
    }

    /// The architecture the search climbs from, and its score.
    pub fn current(&self) -> Option<(&[u32], f64)> {
        self.current.as_ref().map(|(a, s)| (a.as_slice(), *s))
    }

    fn random(&mut self) -> Option<Vec<u32>> {
        self.space
            .sample_unseen(&mut self.rng, self.history.seen(), Uniform::Encoding)
    }

    /// The next unseen neighbour of `current`, building the (shuffled) queue if needed.
    fn next_neighbour(&mut self) -> Option<Vec<u32>> {
        let (cur, _) = self.current.as_ref()?;
        if self.queue.is_none() {
            let mut q: Vec<Vec<u32>> = self
                .space
                .neighbours(cur)
                .into_iter()
                .map(|m| m.arch)
                .collect();
            q.shuffle(&mut self.rng);
            self.queue = Some(q);
        }
        let q = self.queue.as_mut().expect("built above");
        while let Some(a) = q.pop() {
            if !self.history.is_seen(&self.space, &a) {
                return Some(a);
            }
        }
        None
    }

    /// Move to the round's best neighbour if it improves (best-improvement mode, once the
    /// neighbourhood is spent and told); whether the search moved.
    fn settle_round(&mut self) -> bool {
        if let (Some((_, cur)), Some((a, s))) = (&self.current, &self.round_best) {
            if s > cur {
                self.current = Some((a.clone(), *s));
                self.round_best = None;
                self.queue = None;
                return true;
            }
        }
        false
    }

    fn propose(&mut self, out: &mut Vec<Vec<u32>>, arch: Vec<u32>) {
        self.history.propose(&self.space, &arch);
        self.outstanding
            .push(self.space.arch_id(&arch).expect("valid"));
        self.asked += 1;
        out.push(arch);
    }
}

impl SearchStrategy for LocalSearch {
    fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError> {
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            if self.asked < self.initial || self.current.is_none() {
                match self.random() {
                    Some(a) => self.propose(&mut out, a),
                    None => break,
                }
                continue;
            }
            if let Some(a) = self.next_neighbour() {
                self.neighbours_out
                    .push(self.space.arch_id(&a).expect("valid"));
                self.propose(&mut out, a);
                continue;
            }
            if !self.outstanding.is_empty() || !out.is_empty() {
                // Neighbours still being evaluated may move the search: fill with random ones.
                match self.random() {
                    Some(a) => self.propose(&mut out, a),
                    None => break,
                }
                continue;
            }
            if !self.first_improvement && self.settle_round() {
                continue;
            }
            // A local optimum: restart from a random unseen architecture.
            let Some(a) = self.random() else { break };
            self.restart = Some(self.space.arch_id(&a).expect("valid"));
            self.propose(&mut out, a);
            break;
        }
        if out.is_empty() {
            return Err(exhausted("local search", &self.space));
        }
        Ok(out)
    }

    fn tell(&mut self, observations: &[Observation]) -> Result<(), RError> {
        self.history.tell(&self.space, observations)?;
        for o in observations {
            let id = self.space.arch_id(&o.arch).expect("checked");
            self.outstanding.retain(|&x| x != id);
            let arch = o.arch.to_vec();
            if self.restart == Some(id) {
                self.restart = None;
                self.current = Some((arch, o.score));
                self.round_best = None;
                self.queue = None;
                self.neighbours_out.clear();
                continue;
            }
            let neighbour = self.neighbours_out.contains(&id);
            self.neighbours_out.retain(|&x| x != id);
            let better = self.current.as_ref().is_none_or(|(_, s)| o.score > *s);
            if self.first_improvement || !neighbour {
                if better {
                    self.current = Some((arch, o.score));
                    self.round_best = None;
                    self.queue = None;
                }
            } else if self.round_best.as_ref().is_none_or(|(_, s)| o.score > *s) {
                self.round_best = Some((arch, o.score));
            }
        }
        Ok(())
    }
}
