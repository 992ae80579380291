//! CMAB-NAS: NAS as a combinatorial multi-armed bandit, searched by nested Monte-Carlo
//! search — Huang, Ma, Erfani, Bailey, "Neural Architecture Search via Combinatorial
//! Multi-Armed Bandit", IJCNN 2021, after Ontañón's naïve sampling for combinatorial bandits
//! (AIIDE 2013) and Cazenave's Nested Monte-Carlo Search (IJCAI 2009).
//!
//! Each choice is a *local* bandit whose arms are its options; a full architecture is a
//! *global* arm. The naïve assumption credits an architecture's reward to each of its local
//! arms, whose statistics are the mean reward of the evaluated architectures that use them.
//!
//! A *playout* completes a partial architecture by naïve sampling: with probability
//! `epsilon` each remaining choice is drawn from its local bandit (ε-greedy with
//! `local_epsilon`: uniform, else the best mean, untried options first), otherwise the
//! completion is that of the best evaluated architecture sharing the prefix (exploiting the
//! global bandit; a fresh ε-greedy completion when there is none).
//!
//! Search proceeds in *runs* of NMCS at `level`: at level 0 a run is one playout; at level
//! `n`, for each choice in turn, a level-`n − 1` search is run for every option, the best
//! complete architecture seen so far is kept, and its option is played. Every complete
//! architecture a run reaches is a query — the paper scores playouts on a weight-sharing
//! supernet; here they are evaluated, and an architecture already evaluated is answered from
//! memory at no cost. A run uses the local statistics and the global arms as they stood when
//! it started (its own evaluations are answered from memory), and a generator derived from the
//! seed, the run and the prefix, so it is a fixed function of the history: each `ask` replays the run from its start, answering what
//! is known, and proposes the architectures it still needs (all the playouts of one NMCS step
//! at once, so a batch ask gets them together). A run that needs nothing new ends, and the
//! next starts; if a fresh run needs nothing new either, a random unseen architecture is
//! proposed (so the search never stalls).

use std::collections::{HashMap, HashSet};

use mosaic_abi::{
    AlgorithmDescriptor, Family, Observation, ParamMap, ParamSpec, RError, RngSeed, SearchSpace,
    SearchStrategy,
};
use mosaic_nas::{exhausted, strategy_rng, History, Space, Uniform};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

#[cfg(test)]
mod tests;

/// Attempts at a valid completion before a playout gives up on its prefix.
const PLAYOUT_TRIES: usize = 20;

/// The descriptor of `cmab-nas`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::NasStrategy,
        "cmab-nas",
        "CMAB-NAS (Huang et al. 2021): per-choice bandits, naive sampling, nested Monte-Carlo search.",
    )
    .param(ParamSpec::i64("level", Some(1), "NMCS level (0: one naive-sampling playout per run).").range(0.0, 2.0))
    .param(
        ParamSpec::f64("epsilon", Some(0.5), "Probability that a playout explores the local bandits (else it exploits the best global arm).")
            .range(0.0, 1.0),
    )
    .param(
        ParamSpec::f64("local_epsilon", Some(0.3), "ε of each local bandit's ε-greedy draw.")
            .range(0.0, 1.0),
    )
}

/// How an NMCS call ended.
enum Outcome {
    /// A complete, evaluated architecture and its score.
    Done(f64, Vec<u32>),
    /// Architectures the search needs evaluated before it can go on.
    Pending(Vec<Vec<u32>>),
    /// No valid completion of the prefix.
    Dead,
}

/// What a run sees: the statistics and the evaluations as they stood when it started.
struct RunView<'a> {
    stats: &'a [Vec<(u32, f64)>],
    told: &'a [(Vec<u32>, f64)],
    memo: &'a HashMap<u64, f64>,
}

/// The CMAB-NAS strategy.
pub struct CmabNas {
    space: Space,
    seed: RngSeed,
    level: usize,
    epsilon: f64,
    local_epsilon: f64,
    rng: ChaCha20Rng,
    history: History,
    /// Architecture id → score, for every told architecture.
    memo: HashMap<u64, f64>,
    /// Per choice and option: number of evaluated architectures using it, sum of their scores.
    stats: Vec<Vec<(u32, f64)>>,
    run: u64,
    run_stats: Vec<Vec<(u32, f64)>>,
    run_told: usize,
    run_queries: usize,
    outstanding: HashSet<u64>,
}

impl CmabNas {
    /// Build from resolved parameters.
    pub fn from_params(
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<CmabNas, RError> {
        let space = Space::new(space)?;
        let stats: Vec<Vec<(u32, f64)>> = space
            .radices()
            .iter()
            .map(|&r| vec![(0, 0.0); r as usize])
            .collect();
        Ok(CmabNas {
            seed,
            level: params.i64("level")? as usize,
            epsilon: params.f64("epsilon")?,
            local_epsilon: params.f64("local_epsilon")?,
            rng: strategy_rng(seed.derive(u64::MAX)),
            history: History::new(),
            memo: HashMap::new(),
            run_stats: stats.clone(),
            stats,
            run: 0,
            run_told: 0,
            run_queries: 0,
            outstanding: HashSet::new(),
            space,
        })
    }

    /// The local bandit statistics: per choice, per option, (pulls, mean reward).
    pub fn local_means(&self) -> Vec<Vec<(u32, f64)>> {
        self.stats
            .iter()
            .map(|c| {
                c.iter()
                    .map(|&(n, s)| (n, if n > 0 { s / n as f64 } else { f64::NAN }))
                    .collect()
            })
            .collect()
    }

    fn playout_rng(&self, prefix: &[u32]) -> ChaCha20Rng {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ prefix.len() as u64;
        for &a in prefix {
            h = (h ^ a as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        strategy_rng(self.seed.derive(self.run).derive(h))
    }

    /// The local bandit's ε-greedy option for choice `j` (untried options first).
    fn local_draw(&self, view: &RunView<'_>, j: usize, rng: &mut ChaCha20Rng) -> u32 {
        let arms = &view.stats[j];
        if rng.random::<f64>() < self.local_epsilon {
            return rng.random_range(0..arms.len() as u32);
        }
        let untried: Vec<u32> = (0..arms.len() as u32)
            .filter(|&o| arms[o as usize].0 == 0)
            .collect();
        if !untried.is_empty() {
            return untried[rng.random_range(0..untried.len())];
        }
        let mean = |o: usize| arms[o].1 / arms[o].0 as f64;
        let best = (0..arms.len()).map(mean).fold(f64::NEG_INFINITY, f64::max);
        let ties: Vec<u32> = (0..arms.len())
            .filter(|&o| mean(o) == best)
            .map(|o| o as u32)
            .collect();
        ties[rng.random_range(0..ties.len())]
    }

    fn evaluate(&self, view: &RunView<'_>, arch: Vec<u32>) -> Outcome {
        match self.space.arch_id(&arch) {
            None => Outcome::Dead,
            Some(id) => match view.memo.get(&id) {
                Some(&s) => Outcome::Done(s, arch),
                None => Outcome::Pending(vec![arch]),
            },
        }
    }

    fn playout(&self, view: &RunView<'_>, prefix: &[u32]) -> Outcome {
        let d = self.space.dims();
        let mut rng = self.playout_rng(prefix);
        if rng.random::<f64>() >= self.epsilon {
            // Exploit: the best evaluated architecture with this prefix (the global bandit).
            let best = view
                .told
                .iter()
                .filter(|(a, _)| a.starts_with(prefix))
                .fold(None::<&(Vec<u32>, f64)>, |b, x| match b {
                    Some(b) if b.1 >= x.1 => Some(b),
                    _ => Some(x),
                });
            if let Some((a, s)) = best {
                return Outcome::Done(*s, a.clone());
            }
        }
        for _ in 0..PLAYOUT_TRIES {
            let mut a = prefix.to_vec();
            for j in prefix.len()..d {
                a.push(self.local_draw(view, j, &mut rng));
            }
            if self.space.is_valid(&a) {
                return self.evaluate(view, a);
            }
        }
        Outcome::Dead
    }

    /// Nested Monte-Carlo search of `level` from `prefix`.
    fn nmcs(&self, view: &RunView<'_>, level: usize, prefix: Vec<u32>) -> Outcome {
        let d = self.space.dims();
        if prefix.len() == d {
            return self.evaluate(view, prefix);
        }
        if level == 0 {
            return self.playout(view, &prefix);
        }
        let mut best: Option<(f64, Vec<u32>)> = None;
        let mut seq = prefix;
        while seq.len() < d {
            let j = seq.len();
            let mut pending = Vec::new();
            for o in 0..self.space.radices()[j] {
                let mut p = seq.clone();
                p.push(o);
                match self.nmcs(view, level - 1, p) {
                    Outcome::Done(s, a) => {
                        if best.as_ref().is_none_or(|(b, _)| s > *b) {
                            best = Some((s, a));
                        }
                    }
                    Outcome::Pending(v) => pending.extend(v),
                    Outcome::Dead => {}
                }
            }
            if !pending.is_empty() {
                return Outcome::Pending(pending);
            }
            match &best {
                Some((_, a)) => seq.push(a[j]),
                None => return Outcome::Dead,
            }
        }
        match best {
            Some((s, a)) => Outcome::Done(s, a),
            None => Outcome::Dead,
        }
    }

    /// The architectures the current run needs next (not outstanding, each once).
    fn run_needs(&self) -> Option<Vec<Vec<u32>>> {
        let view = RunView {
            stats: &self.run_stats,
            told: &self.history.told()[..self.run_told],
            memo: &self.memo,
        };
        match self.nmcs(&view, self.level, Vec::new()) {
            Outcome::Pending(v) => {
                let mut ids = HashSet::new();
                Some(
                    v.into_iter()
                        .filter(|a| {
                            let id = self.space.arch_id(a).expect("valid");
                            !self.outstanding.contains(&id) && ids.insert(id)
                        })
                        .collect(),
                )
            }
            Outcome::Done(..) | Outcome::Dead => None,
        }
    }

    fn start_run(&mut self) {
        self.run += 1;
        self.run_stats = self.stats.clone();
        self.run_told = self.history.len();
        self.run_queries = 0;
    }
}

impl SearchStrategy for CmabNas {
    fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError> {
        let mut out: Vec<Vec<u32>> = Vec::with_capacity(k);
        let mut fresh_runs = 0;
        while out.len() < k {
            match self.run_needs() {
                Some(need) if !need.is_empty() => {
                    for a in need.into_iter().take(k - out.len()) {
                        self.outstanding
                            .insert(self.space.arch_id(&a).expect("valid"));
                        self.history.propose(&self.space, &a);
                        self.run_queries += 1;
                        out.push(a);
                    }
                    // The rest of the run depends on these scores.
                    break;
                }
                Some(_) => {
                    // Everything the run needs is being evaluated: fill with random ones.
                    let Some(a) = self.random() else { break };
                    self.push_random(&mut out, a);
                }
                None => {
                    if self.run_queries == 0 && fresh_runs > 0 {
                        // A fresh run needs nothing new: propose a random unseen architecture.
                        let Some(a) = self.random() else { break };
                        self.push_random(&mut out, a);
                        self.start_run();
                        break;
                    }
                    self.start_run();
                    fresh_runs += 1;
                }
            }
        }
        if out.is_empty() {
            return Err(exhausted("cmab-nas", &self.space));
        }
        Ok(out)
    }

    fn tell(&mut self, observations: &[Observation]) -> Result<(), RError> {
        self.history.tell(&self.space, observations)?;
        for o in observations {
            let id = self.space.arch_id(&o.arch).expect("checked");
            self.outstanding.remove(&id);
            let prev = self.memo.insert(id, o.score);
            if prev.is_none() {
                for (j, &a) in o.arch.iter().enumerate() {
                    let arm = &mut self.stats[j][a as usize];
                    arm.0 += 1;
                    arm.1 += o.score;
                }
            }
        }
        Ok(())
    }
}

impl CmabNas {
    fn random(&mut self) -> Option<Vec<u32>> {
        self.space
            .sample_unseen(&mut self.rng, self.history.seen(), Uniform::Encoding)
    }

    fn push_random(&mut self, out: &mut Vec<Vec<u32>>, a: Vec<u32>) {
        self.outstanding
            .insert(self.space.arch_id(&a).expect("valid"));
        self.history.propose(&self.space, &a);
        out.push(a);
    }
}
