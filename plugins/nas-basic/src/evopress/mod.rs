//! EvoPress: Sieberling, Kuznedelev, Kurtic, Alistarh, "EvoPress: Towards Optimal Dynamic Model
//! Compression via Evolutionary Search" (2024), Algorithm 1 — an elitist (1 + λ) evolutionary
//! search over per-layer compression levels in which every candidate meets the global budget
//! exactly.
//!
//! The space has one choice per layer whose options are equally spaced compression levels
//! (option index = level). The budget is the parameters' [`LAYER_SIZES`] and
//! [`TARGET_LEVEL`]: `Σ_l size_l · level_l = target_level · Σ_l size_l`
//! ([`mosaic_nas::compression`]). The first generation is the uniform model at the target
//! level (when every layer has that level) and random candidates drawn uniformly among those
//! meeting the budget, `initial` in all; the best becomes the parent. Each later generation
//! proposes `offspring` children of the parent, each made by `min(U{1..F}, U{1..F})`
//! level-switch mutations (`F = max_flips`): within a group of layers of equal size, one
//! layer goes one level up and another one level down, so the cost is unchanged. The best of
//! the parent and the generation's children is the next parent (elitism).
//!
//! Children are never the parent nor repeated within a generation; with `dedup` (default)
//! they are never an architecture already proposed or told — after 32 failed mutations a
//! random unseen candidate meeting the budget is proposed instead. A space whose class table
//! marks candidates invalid is respected (every proposal is valid there too). Without a
//! target (`target_level < 0`) the strategy has no budget of its own: level switches keep the
//! parent's cost and random candidates are uniform over the space's valid encodings.
//!
//! The paper's multi-step selection (survivors re-scored on more calibration data) needs an
//! evaluator with fidelities; here each candidate is scored once, by the evaluator, and
//! observations told without being asked compete like children.

use std::collections::HashSet;

use mosaic_abi::{
    AlgorithmDescriptor, Family, Observation, ParamMap, ParamSpec, RError, RngSeed, SearchSpace,
    SearchStrategy,
};
use mosaic_nas::compression::{layer_sizes, LevelBudget, LAYER_SIZES, TARGET_LEVEL};
use mosaic_nas::{exhausted, strategy_rng, History, Space, Uniform};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

#[cfg(test)]
mod tests;

/// Mutations tried for one child before a random candidate is proposed instead.
const MUTATION_TRIES: usize = 32;

/// Budget-meeting draws rejected before the candidates are enumerated to pick among the rest.
const REJECTIONS: usize = 64;

/// Candidate sets up to this size are enumerated when rejection sampling fails.
const ENUMERATE_LIMIT: usize = 1 << 20;

/// The descriptor of `evopress`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::NasStrategy,
        "evopress",
        "EvoPress (Sieberling et al. 2024): (1+λ) evolution of per-layer levels, level-switch mutations keep the global budget exactly.",
    )
    .param(
        ParamSpec::i64("offspring", Some(16), "Children per generation (λ).").min(1.0),
    )
    .param(
        ParamSpec::i64(
            "initial",
            Some(16),
            "Candidates of the first generation (the uniform model at the target level first, when it exists).",
        )
        .min(1.0),
    )
    .param(
        ParamSpec::i64(
            "max_flips",
            Some(3),
            "F: a child makes min(U{1..F}, U{1..F}) level switches.",
        )
        .min(1.0),
    )
    .param(ParamSpec::f64_list(
        LAYER_SIZES,
        Some(Vec::new()),
        "Each layer's size (budget units per level step, e.g. its parameter count); empty: all 1.",
    ))
    .param(ParamSpec::f64(
        TARGET_LEVEL,
        Some(-1.0),
        "The budget: mean level (option index) weighted by size; negative: no budget of its own.",
    ))
    .param(ParamSpec::bool(
        "dedup",
        Some(true),
        "Never propose an architecture twice.",
    ))
}

/// The candidates of the generation being proposed.
#[derive(Clone, Debug, Default)]
struct Generation {
    size: usize,
    proposed: usize,
    members: HashSet<u64>,
    best: Option<(Vec<u32>, f64)>,
}

/// EvoPress over a [`SearchSpace`] of per-layer levels.
pub struct EvoPress {
    space: Space,
    budget: Option<LevelBudget>,
    /// Layers grouped by equal size (groups of at least two layers: where switches happen).
    groups: Vec<Vec<usize>>,
    offspring: usize,
    initial: usize,
    max_flips: u32,
    dedup: bool,
    rng: ChaCha20Rng,
    history: History,
    parent: Option<(Vec<u32>, f64)>,
    generation: Generation,
    feasible: Option<Option<Vec<Vec<u32>>>>,
}

impl EvoPress {
    /// EvoPress with `offspring` children per generation, a first generation of `initial`,
    /// up to `max_flips` level switches per child, layer `sizes` (one per choice) and the
    /// target mean level (`None`: no budget of its own).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        space: &SearchSpace,
        offspring: usize,
        initial: usize,
        max_flips: u32,
        sizes: Vec<u64>,
        target_level: Option<f64>,
        dedup: bool,
        seed: RngSeed,
    ) -> Result<EvoPress, RError> {
        for (name, v) in [
            ("offspring", offspring),
            ("initial", initial),
            ("max_flips", max_flips as usize),
        ] {
            if v == 0 {
                return Err(RError::param(name, "must be at least 1"));
            }
        }
        let view = Space::new(space)?;
        let budget = match target_level {
            Some(t) => {
                let b = LevelBudget::new(&sizes, view.radices(), t)?;
                if b.count() == 0 {
                    return Err(RError::param(
                        TARGET_LEVEL,
                        format!("no assignment of levels meets the budget {}", b.total()),
                    ));
                }
                Some(b)
            }
            None => {
                if sizes.len() != view.dims() {
                    return Err(RError::param(
                        LAYER_SIZES,
                        format!(
                            "has {} entries, the space has {} choices",
                            sizes.len(),
                            view.dims()
                        ),
                    ));
                }
                None
            }
        };
        let mut groups: Vec<(u64, Vec<usize>)> = Vec::new();
        for (l, &s) in sizes.iter().enumerate() {
            match groups.iter_mut().find(|g| g.0 == s) {
                Some(g) => g.1.push(l),
                None => groups.push((s, vec![l])),
            }
        }
        Ok(EvoPress {
            space: view,
            budget,
            groups: groups
                .into_iter()
                .map(|g| g.1)
                .filter(|g| g.len() >= 2)
                .collect(),
            offspring,
            initial,
            max_flips,
            dedup,
            rng: strategy_rng(seed),
            history: History::new(),
            parent: None,
            generation: Generation {
                size: initial,
                ..Generation::default()
            },
            feasible: None,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<EvoPress, RError> {
        let target = params.f64(TARGET_LEVEL)?;
        EvoPress::new(
            space,
            params.i64("offspring")? as usize,
            params.i64("initial")? as usize,
            u32::try_from(params.i64("max_flips")?)
                .map_err(|_| RError::param("max_flips", "too large"))?,
            layer_sizes(params, space.choices.len())?,
            (target >= 0.0).then_some(target),
            params.bool("dedup")?,
            seed,
        )
    }

    /// The current parent and its score.
    pub fn parent(&self) -> Option<(&[u32], f64)> {
        self.parent.as_ref().map(|(a, s)| (a.as_slice(), *s))
    }

    /// Whether `arch` is a valid architecture meeting the budget.
    fn feasible(&self, arch: &[u32]) -> bool {
        self.space.is_valid(arch) && self.budget.as_ref().is_none_or(|b| b.meets(arch))
    }

    /// Whether `arch` may be proposed now.
    fn fresh(&self, arch: &[u32]) -> bool {
        let Some(id) = self.space.arch_id(arch) else {
            return false;
        };
        let is_parent = self
            .parent
            .as_ref()
            .is_some_and(|(p, _)| self.space.arch_id(p) == Some(id));
        self.feasible(arch)
            && !is_parent
            && !self.generation.members.contains(&id)
            && (!self.dedup || !self.history.seen().contains(&id))
    }

    /// A random candidate meeting the budget (unseen with `dedup`); `None` when there is none.
    fn random(&mut self) -> Option<Vec<u32>> {
        let Some(b) = &self.budget else {
            return if self.dedup {
                self.space
                    .sample_unseen(&mut self.rng, self.history.seen(), Uniform::Encoding)
            } else {
                Some(self.space.sample(&mut self.rng))
            };
        };
        for _ in 0..REJECTIONS {
            let a = b.sample(&mut self.rng)?;
            if (!self.dedup && self.space.is_valid(&a)) || self.fresh(&a) {
                return Some(a);
            }
        }
        let b = b.clone();
        let all = self
            .feasible
            .get_or_insert_with(|| b.enumerate(ENUMERATE_LIMIT));
        match all {
            Some(all) => {
                let all = all.clone();
                let rest: Vec<&Vec<u32>> = all.iter().filter(|a| self.fresh(a)).collect();
                (!rest.is_empty()).then(|| rest[self.rng.random_range(0..rest.len())].clone())
            }
            // More candidates than can be listed: the seen ones are a vanishing fraction.
            None => {
                for _ in 0..1 << 16 {
                    let a = b.sample(&mut self.rng)?;
                    if self.fresh(&a) {
                        return Some(a);
                    }
                }
                None
            }
        }
    }

    /// The uniform model at the target level, when it meets the budget and may be proposed.
    fn uniform(&self) -> Option<Vec<u32>> {
        let b = self.budget.as_ref()?;
        let weight: u64 = b.sizes().iter().sum();
        if b.total() % weight != 0 {
            return None;
        }
        let level = u32::try_from(b.total() / weight).ok()?;
        let a = vec![level; self.space.dims()];
        self.fresh(&a).then_some(a)
    }

    /// `min(U{1..F}, U{1..F})` level switches of `parent`; `None` when no switch is possible.
    fn level_switch(&mut self, parent: &[u32]) -> Option<Vec<u32>> {
        let flips = self
            .rng
            .random_range(1..=self.max_flips)
            .min(self.rng.random_range(1..=self.max_flips));
        let radices = self.space.radices();
        let mut child = parent.to_vec();
        for _ in 0..flips {
            // (down, up) candidates per group where a switch of two distinct layers exists.
            let options: Vec<(usize, Vec<usize>, Vec<usize>)> = self
                .groups
                .iter()
                .enumerate()
                .filter_map(|(g, layers)| {
                    let down: Vec<usize> =
                        layers.iter().copied().filter(|&l| child[l] > 0).collect();
                    let up: Vec<usize> = layers
                        .iter()
                        .copied()
                        .filter(|&l| child[l] + 1 < radices[l])
                        .collect();
                    let possible =
                        !down.is_empty() && up.iter().any(|u| down.iter().any(|d| d != u));
                    possible.then_some((g, down, up))
                })
                .collect();
            if options.is_empty() {
                break;
            }
            // A group with probability proportional to its number of layers.
            let total: usize = options.iter().map(|o| self.groups[o.0].len()).sum();
            let mut pick = self.rng.random_range(0..total);
            let (_, down, up) = options
                .iter()
                .find(|o| {
                    let n = self.groups[o.0].len();
                    if pick < n {
                        true
                    } else {
                        pick -= n;
                        false
                    }
                })
                .expect("a group is picked");
            let d = loop {
                let d = down[self.rng.random_range(0..down.len())];
                if up.iter().any(|&u| u != d) {
                    break d;
                }
            };
            let ups: Vec<usize> = up.iter().copied().filter(|&u| u != d).collect();
            let u = ups[self.rng.random_range(0..ups.len())];
            child[d] -= 1;
            child[u] += 1;
        }
        (child != parent).then_some(child)
    }

    fn child(&mut self, parent: &[u32]) -> Option<Vec<u32>> {
        for _ in 0..MUTATION_TRIES {
            match self.level_switch(parent) {
                Some(c) if self.fresh(&c) => return Some(c),
                Some(_) => {}
                None => break,
            }
        }
        self.random()
    }

    fn close_generation(&mut self) {
        if let Some((a, s)) = self.generation.best.take() {
            if self.parent.as_ref().is_none_or(|p| s > p.1) {
                self.parent = Some((a, s));
            }
        }
        let size = if self.parent.is_some() {
            self.offspring
        } else {
            self.initial
        };
        self.generation = Generation {
            size,
            ..Generation::default()
        };
    }
}

impl SearchStrategy for EvoPress {
    fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError> {
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            if self.generation.proposed >= self.generation.size {
                if !out.is_empty() {
                    break; // a batch never spans two generations
                }
                self.close_generation();
            }
            let arch = match self.parent.clone() {
                None => self.uniform().or_else(|| self.random()),
                Some((p, _)) => self.child(&p),
            };
            let Some(arch) = arch else { break };
            self.history.propose(&self.space, &arch);
            let id = self.space.arch_id(&arch).expect("proposals are valid");
            self.generation.members.insert(id);
            self.generation.proposed += 1;
            out.push(arch);
        }
        if out.is_empty() {
            return Err(match &self.budget {
                Some(b) => RError::exhausted(format!(
                    "evopress: every candidate of `{}` meeting the budget {} ({} encodings) has \
                     been proposed or told",
                    self.space.name(),
                    b.total(),
                    b.count()
                )),
                None => exhausted("evopress", &self.space),
            });
        }
        Ok(out)
    }

    fn tell(&mut self, observations: &[Observation]) -> Result<(), RError> {
        self.history.tell(&self.space, observations)?;
        for o in observations {
            if !self.feasible(&o.arch) {
                continue;
            }
            if self.generation.best.as_ref().is_none_or(|b| o.score > b.1) {
                self.generation.best = Some((o.arch.to_vec(), o.score));
            }
        }
        Ok(())
    }
}
