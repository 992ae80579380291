//! Per-layer compression levels under a global budget: the search space of EvoPress
//! (Sieberling, Kuznedelev, Kurtic, Alistarh, "EvoPress: Towards Optimal Dynamic Model
//! Compression via Evolutionary Search", 2024).
//!
//! A *level space* has one choice per layer (or per unit: a block, a projection) whose options
//! are compression levels in increasing order of compression, equally spaced (sparsity in steps
//! of 10 %, or bit widths 2, 3, 4, ...). Option `o` of layer `l` costs `size_l · o` budget
//! units (the parameters removed, or the bits saved, in steps), so a [`LevelBudget`] is the
//! linear constraint `Σ_l size_l · a_l = B` with `B = target_level · Σ_l size_l`: every
//! candidate has exactly the compression of a uniform model at level `target_level`.
//!
//! [`LevelBudget`] counts, samples (exactly uniformly) and enumerates the encodings that meet
//! the budget by dynamic programming over layers and partial costs, and solves the additive
//! problem `max Σ_l value_l(a_l)` under it ([`LevelBudget::optimum`]), the reference optimum
//! an evolutionary search is checked against. [`AdditiveLevels`] is that problem as an
//! [`Evaluator`] which refuses candidates off the budget.
//!
//! Strategies read the budget from their parameters [`LAYER_SIZES`] and [`TARGET_LEVEL`]
//! ([`LevelBudget::from_params`]); [`LevelSpace`] builds the space and those parameters
//! together.
//!
//! ```
//! use mosaic_nas::compression::{AdditiveLevels, LevelSpace};
//! use mosaic_nas::{run_search, RngSeed, RunInfo, SearchOptions, Space};
//!
//! // Four layers (two of 4096 weights, two of 8192), bit widths 2..=5, a 3.5-bit model.
//! let layers = [("q", 4096), ("k", 4096), ("mlp_up", 8192), ("mlp_down", 8192)];
//! let ls = LevelSpace::new(&layers, &["2bit", "3bit", "4bit", "5bit"], 1.5)?;
//! // Minus each layer's measured error at each width (an additive stand-in for a KL fitness).
//! let errors = vec![vec![-9.0, -4.0, -1.0, 0.0], vec![-3.0, -1.0, -0.5, 0.0],
//!                   vec![-8.0, -2.0, -0.6, 0.0], vec![-6.0, -3.0, -1.0, 0.0]];
//! let mut eval = AdditiveLevels::new(errors, ls.budget().clone())?;
//! let params = ls.strategy_params();
//! let module = mosaic_plugin_nas_basic::plugin_module();
//! let mut evopress = (module.new_nas_strategy())(
//!     "evopress".into(), ls.search_space(), &params, RngSeed::from_u64(0),
//! ).into_result()?;
//! let view = Space::new(ls.search_space())?;
//! let trace = run_search(&mut evopress, &view, &mut eval, &SearchOptions::new(60),
//!                        &RunInfo::new("evopress", &params, 0))?;
//! let best = trace.best().unwrap();
//! assert!(ls.budget().meets(&best.arch));
//! assert_eq!(best.metrics.valid, eval.optimum().unwrap().1); // the DP optimum
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use mosaic_abi::{ParamMap, RError, SearchSpace};
use rand::Rng;

use crate::{arch_key, Evaluator, Metrics, NasError, Result};

/// The strategy parameter holding each layer's size (the budget units one level step of that
/// layer costs); empty means every layer has size 1.
pub const LAYER_SIZES: &str = "layer_sizes";

/// The strategy parameter holding the target mean level (weighted by layer size); negative
/// means no budget of the strategy's own.
pub const TARGET_LEVEL: &str = "target_level";

/// The most partial-cost states [`LevelBudget`]'s tables may hold (over all layers).
const MAX_STATES: usize = 1 << 24;

/// The global budget `Σ_l size_l · a_l = total` over a space of per-layer levels (see the
/// module documentation), with the dynamic-programming tables that count and sample the
/// encodings meeting it.
#[derive(Clone, Debug)]
pub struct LevelBudget {
    sizes: Vec<u64>,
    radices: Vec<u32>,
    total: u64,
    /// `ways[l][r]`: the number of ways layers `l..` reach cost `r` exactly (saturating);
    /// only costs from which the total is reachable are kept. `ways[n] = {0: 1}`.
    ways: Vec<BTreeMap<u64, u128>>,
}

impl LevelBudget {
    /// The budget `Σ_l sizes[l] · a_l = target_level · Σ_l sizes[l]` over layers with
    /// `radices[l]` levels each. Errors: sizes not positive or of the wrong length, a target
    /// outside `[0, max level]`, or one whose total is not a whole number of budget units.
    pub fn new(
        sizes: &[u64],
        radices: &[u32],
        target_level: f64,
    ) -> std::result::Result<LevelBudget, RError> {
        if sizes.len() != radices.len() {
            return Err(RError::param(
                LAYER_SIZES,
                format!(
                    "has {} entries, the space has {} layers",
                    sizes.len(),
                    radices.len()
                ),
            ));
        }
        if let Some(l) = sizes.iter().position(|&s| s == 0) {
            return Err(RError::param(LAYER_SIZES, format!("layer {l} has size 0")));
        }
        let weight: u64 = sizes
            .iter()
            .try_fold(0u64, |a, &s| a.checked_add(s))
            .ok_or_else(|| RError::param(LAYER_SIZES, "the sizes overflow u64"))?;
        let top = radices.iter().copied().max().unwrap_or(1).saturating_sub(1);
        if !(target_level.is_finite() && (0.0..=top as f64).contains(&target_level)) {
            return Err(RError::param(
                TARGET_LEVEL,
                format!("{target_level} is outside the levels 0..={top}"),
            ));
        }
        let exact = target_level * weight as f64;
        let total = exact.round();
        if (exact - total).abs() > 1e-6 * exact.max(1.0) {
            return Err(RError::param(
                TARGET_LEVEL,
                format!(
                    "{target_level} × total size {weight} = {exact} is not a whole number of \
                     budget units"
                ),
            ));
        }
        LevelBudget::with_total(sizes, radices, total as u64)
    }

    /// The budget `Σ_l sizes[l] · a_l = total`.
    pub fn with_total(
        sizes: &[u64],
        radices: &[u32],
        total: u64,
    ) -> std::result::Result<LevelBudget, RError> {
        let n = radices.len();
        let mut ways = vec![BTreeMap::new(); n + 1];
        ways[n].insert(0u64, 1u128);
        let mut states = 1usize;
        for l in (0..n).rev() {
            let mut here: BTreeMap<u64, u128> = BTreeMap::new();
            for (&r, &c) in &ways[l + 1] {
                for o in 0..radices[l] as u64 {
                    let Some(cost) = sizes[l].checked_mul(o).and_then(|x| x.checked_add(r)) else {
                        break;
                    };
                    if cost > total {
                        break;
                    }
                    let e = here.entry(cost).or_insert(0);
                    *e = e.saturating_add(c);
                }
            }
            states += here.len();
            if states > MAX_STATES {
                return Err(RError::param(
                    LAYER_SIZES,
                    format!(
                        "the budget has more than {MAX_STATES} partial costs (use coarser \
                         sizes: divide them by their common factor)"
                    ),
                ));
            }
            ways[l] = here;
        }
        Ok(LevelBudget {
            sizes: sizes.to_vec(),
            radices: radices.to_vec(),
            total,
            ways,
        })
    }

    /// The budget a strategy was given: [`LAYER_SIZES`] (default: all 1, also when empty or
    /// absent) and [`TARGET_LEVEL`] (absent or negative: `None`, no budget). Sizes must be
    /// positive whole numbers.
    pub fn from_params(
        params: &ParamMap,
        radices: &[u32],
    ) -> std::result::Result<Option<LevelBudget>, RError> {
        let target = match params.get(TARGET_LEVEL) {
            None => return Ok(None),
            Some(_) => params.f64(TARGET_LEVEL)?,
        };
        if target < 0.0 {
            return Ok(None);
        }
        let sizes = layer_sizes(params, radices.len())?;
        LevelBudget::new(&sizes, radices, target).map(Some)
    }

    /// Each layer's size.
    pub fn sizes(&self) -> &[u64] {
        &self.sizes
    }

    /// The budget total `B`.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The cost `Σ_l size_l · a_l` of an encoding (saturating).
    pub fn cost(&self, arch: &[u32]) -> u64 {
        arch.iter().zip(&self.sizes).fold(0u64, |a, (&o, &s)| {
            a.saturating_add(s.saturating_mul(o as u64))
        })
    }

    /// Whether `arch` (an encoding of the space) meets the budget exactly.
    pub fn meets(&self, arch: &[u32]) -> bool {
        arch.len() == self.sizes.len()
            && arch.iter().zip(&self.radices).all(|(&o, &r)| o < r)
            && self.cost(arch) == self.total
    }

    /// The number of encodings meeting the budget (saturating at `u128::MAX`).
    pub fn count(&self) -> u128 {
        self.ways[0].get(&self.total).copied().unwrap_or(0)
    }

    /// An encoding drawn uniformly among those meeting the budget; `None` when there is none
    /// (or their count saturated `u128`, where the draw is not defined).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Vec<u32>> {
        let n = self.count();
        if n == 0 || n == u128::MAX {
            return None;
        }
        let mut rest = self.total;
        let mut arch = Vec::with_capacity(self.sizes.len());
        for l in 0..self.sizes.len() {
            let here = self.ways[l][&rest];
            let mut pick = rng.random_range(0..here);
            for o in 0..self.radices[l] {
                let Some(r) = rest.checked_sub(self.sizes[l] * o as u64) else {
                    break;
                };
                let c = self.ways[l + 1].get(&r).copied().unwrap_or(0);
                if pick < c {
                    arch.push(o);
                    rest = r;
                    break;
                }
                pick -= c;
            }
        }
        debug_assert_eq!(rest, 0);
        Some(arch)
    }

    /// Every encoding meeting the budget, in mixed-radix order, when there are at most
    /// `limit`; `None` otherwise.
    pub fn enumerate(&self, limit: usize) -> Option<Vec<Vec<u32>>> {
        if self.count() > limit as u128 {
            return None;
        }
        let mut out = Vec::new();
        let mut prefix = Vec::with_capacity(self.sizes.len());
        self.walk(0, self.total, &mut prefix, &mut out);
        Some(out)
    }

    fn walk(&self, l: usize, rest: u64, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if l == self.sizes.len() {
            out.push(prefix.clone());
            return;
        }
        for o in 0..self.radices[l] {
            let Some(r) = rest.checked_sub(self.sizes[l] * o as u64) else {
                break;
            };
            if self.ways[l + 1].contains_key(&r) {
                prefix.push(o);
                self.walk(l + 1, r, prefix, out);
                prefix.pop();
            }
        }
    }

    /// The encoding maximizing `Σ_l values[l][a_l]` among those meeting the budget, and that
    /// maximum (ties: the first in mixed-radix order); `None` when no encoding meets it.
    /// `values[l]` has one entry per level of layer `l`.
    pub fn optimum(&self, values: &[Vec<f64>]) -> Option<(Vec<u32>, f64)> {
        let n = self.sizes.len();
        assert_eq!(values.len(), n, "one value row per layer");
        // best[l][r]: the best value of layers l.. reaching cost r exactly.
        let mut best: Vec<BTreeMap<u64, f64>> = vec![BTreeMap::new(); n + 1];
        best[n].insert(0, 0.0);
        for l in (0..n).rev() {
            let mut here = BTreeMap::new();
            for &r in self.ways[l].keys() {
                let mut top: Option<f64> = None;
                for o in 0..self.radices[l] {
                    let Some(rest) = r.checked_sub(self.sizes[l] * o as u64) else {
                        break;
                    };
                    if let Some(&v) = best[l + 1].get(&rest) {
                        let v = v + values[l][o as usize];
                        if top.is_none_or(|t| v > t) {
                            top = Some(v);
                        }
                    }
                }
                if let Some(t) = top {
                    here.insert(r, t);
                }
            }
            best[l] = here;
        }
        let value = *best[0].get(&self.total)?;
        let mut rest = self.total;
        let mut arch = Vec::with_capacity(n);
        for l in 0..n {
            let target = best[l][&rest];
            let o = (0..self.radices[l])
                .find(|&o| {
                    rest.checked_sub(self.sizes[l] * o as u64)
                        .and_then(|r| best[l + 1].get(&r).map(|&v| (r, v)))
                        .is_some_and(|(_, v)| v + values[l][o as usize] == target)
                })
                .expect("the optimum's level is among the options");
            rest -= self.sizes[l] * o as u64;
            arch.push(o);
        }
        Some((arch, value))
    }
}

/// The layer sizes of [`LAYER_SIZES`] in `params` (all 1 when absent or empty), checked to be
/// `layers` positive whole numbers.
pub fn layer_sizes(params: &ParamMap, layers: usize) -> std::result::Result<Vec<u64>, RError> {
    let raw = if params.contains(LAYER_SIZES) {
        params.f64_list(LAYER_SIZES)?
    } else {
        Vec::new()
    };
    if raw.is_empty() {
        return Ok(vec![1; layers]);
    }
    if raw.len() != layers {
        return Err(RError::param(
            LAYER_SIZES,
            format!("has {} entries, the space has {layers} choices", raw.len()),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(l, &s)| {
            if s >= 1.0 && s.fract() == 0.0 && s < 2f64.powi(53) {
                Ok(s as u64)
            } else {
                Err(RError::param(
                    LAYER_SIZES,
                    format!("entry {l} is {s}, not a positive whole number"),
                ))
            }
        })
        .collect()
}

/// A space of per-layer levels with its budget: the [`SearchSpace`] (choice `layer` per layer,
/// options the level names) and the strategy parameters that carry the budget.
#[derive(Clone, Debug)]
pub struct LevelSpace {
    space: SearchSpace,
    sizes: Vec<u64>,
    target_level: f64,
    budget: LevelBudget,
}

impl LevelSpace {
    /// Layers `(name, size)`, each with the same `levels` (names, least compressed first), and
    /// the target mean level index (e.g. levels `2bit, 3bit, 4bit, 5bit` and a 3.5-bit model:
    /// target level 1.5). Errors as [`LevelBudget::new`], or no layers or levels.
    pub fn new<N: AsRef<str>, L: AsRef<str>>(
        layers: &[(N, u64)],
        levels: &[L],
        target_level: f64,
    ) -> std::result::Result<LevelSpace, RError> {
        if layers.is_empty() || levels.is_empty() {
            return Err(RError::input(
                "a level space needs at least one layer and one level",
            ));
        }
        let levels: Vec<&str> = levels.iter().map(AsRef::as_ref).collect();
        let mut space = SearchSpace::from_choices(
            layers
                .iter()
                .map(|(n, _)| (n.as_ref().to_string(), levels.clone())),
        );
        space.name = format!("levels-{}x{}", layers.len(), levels.len()).into();
        let sizes: Vec<u64> = layers.iter().map(|(_, s)| *s).collect();
        let radices = vec![levels.len() as u32; layers.len()];
        let budget = LevelBudget::new(&sizes, &radices, target_level)?;
        if budget.count() == 0 {
            return Err(RError::param(
                TARGET_LEVEL,
                format!(
                    "no assignment of levels meets the budget {}",
                    budget.total()
                ),
            ));
        }
        Ok(LevelSpace {
            space,
            sizes,
            target_level,
            budget,
        })
    }

    /// The search space.
    pub fn search_space(&self) -> &SearchSpace {
        &self.space
    }

    /// The budget.
    pub fn budget(&self) -> &LevelBudget {
        &self.budget
    }

    /// The strategy parameters carrying the budget ([`LAYER_SIZES`], [`TARGET_LEVEL`]).
    pub fn strategy_params(&self) -> ParamMap {
        ParamMap::new()
            .with(
                LAYER_SIZES,
                self.sizes.iter().map(|&s| s as f64).collect::<Vec<f64>>(),
            )
            .with(TARGET_LEVEL, self.target_level)
    }
}

/// The additive problem over a level space: the score of an encoding is `Σ_l values[l][a_l]`
/// (e.g. minus each layer's measured error at each level). An [`Evaluator`] that refuses
/// encodings off its budget, so a search that proposes one fails.
#[derive(Clone, Debug)]
pub struct AdditiveLevels {
    values: Vec<Vec<f64>>,
    budget: LevelBudget,
    /// Evaluations so far.
    pub calls: usize,
}

impl AdditiveLevels {
    /// The problem with `values[l][o]` the value of level `o` at layer `l` (one row per layer
    /// of `budget`, one entry per level; finite).
    pub fn new(values: Vec<Vec<f64>>, budget: LevelBudget) -> Result<AdditiveLevels> {
        let bad = |reason: String| NasError::InvalidOption {
            name: "values",
            reason,
        };
        if values.len() != budget.sizes.len() {
            return Err(bad(format!(
                "{} rows for {} layers",
                values.len(),
                budget.sizes.len()
            )));
        }
        for (l, (row, &r)) in values.iter().zip(&budget.radices).enumerate() {
            if row.len() != r as usize || row.iter().any(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "row {l} must hold {r} finite values, it holds {row:?}"
                )));
            }
        }
        Ok(AdditiveLevels {
            values,
            budget,
            calls: 0,
        })
    }

    /// The best encoding meeting the budget and its score (by [`LevelBudget::optimum`]).
    pub fn optimum(&self) -> Option<(Vec<u32>, f64)> {
        self.budget.optimum(&self.values)
    }

    /// The score of `arch` (no budget check).
    pub fn value(&self, arch: &[u32]) -> f64 {
        arch.iter()
            .enumerate()
            .map(|(l, &o)| self.values[l][o as usize])
            .sum()
    }
}

impl Evaluator for AdditiveLevels {
    fn evaluate(&mut self, arch: &[u32]) -> Result<Metrics> {
        if !self.budget.meets(arch) {
            return Err(NasError::UnknownArchitecture {
                key: arch_key(arch),
                reason: format!(
                    "it costs {} budget units, the budget is exactly {}",
                    self.budget.cost(arch),
                    self.budget.total()
                ),
            });
        }
        self.calls += 1;
        Ok(Metrics::new(self.value(arch), 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn brute(sizes: &[u64], radices: &[u32], total: u64) -> Vec<Vec<u32>> {
        let space = SearchSpace::from_choices(radices.iter().enumerate().map(|(i, &r)| {
            (
                format!("l{i}"),
                (0..r).map(|o| o.to_string()).collect::<Vec<_>>(),
            )
        }));
        let view = crate::Space::new(&space).unwrap();
        view.enumerate()
            .unwrap()
            .filter(|a| {
                a.iter()
                    .zip(sizes)
                    .map(|(&o, &s)| s * o as u64)
                    .sum::<u64>()
                    == total
            })
            .collect()
    }

    #[test]
    fn hand_checked_optimum() {
        // Three layers of sizes 1, 1, 2 with levels 0..=2, target level 1 → total 4.
        // Values (minus errors): layer 0 [0, -1, -5], layer 1 [0, -2, -3], layer 2 [0, -1, -4].
        // Feasible: (a0 + a1) + 2·a2 = 4. a2 = 0: a0 = a1 = 2 → -8. a2 = 1: a0 + a1 = 2:
        // (2,0) -6, (1,1) -4, (0,2) -4 → total -5; a2 = 2: a0 = a1 = 0 → -4. Optimum (0,0,2), -4.
        let b = LevelBudget::new(&[1, 1, 2], &[3, 3, 3], 1.0).unwrap();
        assert_eq!(b.total(), 4);
        assert_eq!(b.count(), 5);
        let values = vec![
            vec![0.0, -1.0, -5.0],
            vec![0.0, -2.0, -3.0],
            vec![0.0, -1.0, -4.0],
        ];
        assert_eq!(b.optimum(&values), Some((vec![0, 0, 2], -4.0)));
        assert_eq!(
            b.enumerate(10).unwrap(),
            vec![
                vec![0, 0, 2],
                vec![0, 2, 1],
                vec![1, 1, 1],
                vec![2, 0, 1],
                vec![2, 2, 0]
            ]
        );
    }

    #[test]
    fn sampling_is_uniform_over_the_budget() {
        // 5 feasible encodings; 50 000 draws: each count ~ Binomial(50 000, 1/5), sd ≈ 89;
        // a 6-sigma band is ±540.
        let b = LevelBudget::new(&[1, 1, 2], &[3, 3, 3], 1.0).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..50_000 {
            *counts.entry(b.sample(&mut rng).unwrap()).or_insert(0i64) += 1;
        }
        assert_eq!(counts.len(), 5);
        for (a, c) in counts {
            assert!((c - 10_000).abs() < 540, "{a:?}: {c}");
        }
    }

    #[test]
    fn bad_budgets_are_named() {
        let e = LevelBudget::new(&[1, 2], &[3, 3], 0.5).unwrap_err();
        assert!(e.to_string().contains("target_level"), "{e}");
        let e = LevelBudget::new(&[1], &[3, 3], 1.0).unwrap_err();
        assert!(e.to_string().contains("layer_sizes"), "{e}");
        let e = LevelBudget::new(&[1, 1], &[3, 3], 3.0).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let p = ParamMap::new()
            .with(LAYER_SIZES, vec![1.5, 1.0])
            .with(TARGET_LEVEL, 1.0);
        assert!(LevelBudget::from_params(&p, &[3, 3]).is_err());
        let p = ParamMap::new().with(TARGET_LEVEL, -1.0);
        assert!(LevelBudget::from_params(&p, &[3, 3]).unwrap().is_none());
    }

    #[test]
    fn the_evaluator_refuses_candidates_off_the_budget() {
        let ls = LevelSpace::new(&[("a", 1), ("b", 1)], &["0", "1", "2"], 1.0).unwrap();
        let mut ev =
            AdditiveLevels::new(vec![vec![0.0, 1.0, 2.0]; 2], ls.budget().clone()).unwrap();
        assert_eq!(ev.evaluate(&[2, 0]).unwrap().valid, 2.0);
        let e = ev.evaluate(&[2, 1]).unwrap_err().to_string();
        assert!(e.contains("costs 3") && e.contains("exactly 2"), "{e}");
    }

    proptest! {
        #[test]
        fn tables_match_brute_force(
            layers in proptest::collection::vec((1u64..4, 1u32..5), 1..6),
            frac in 0.0f64..1.0,
            seed in 0u64..1000,
        ) {
            let sizes: Vec<u64> = layers.iter().map(|l| l.0).collect();
            let radices: Vec<u32> = layers.iter().map(|l| l.1).collect();
            let max: u64 = sizes.iter().zip(&radices).map(|(&s, &r)| s * (r as u64 - 1)).sum();
            let total = (frac * max as f64).round() as u64;
            let b = LevelBudget::with_total(&sizes, &radices, total).unwrap();
            let want = brute(&sizes, &radices, total);
            prop_assert_eq!(b.count(), want.len() as u128);
            prop_assert_eq!(b.enumerate(usize::MAX).unwrap(), want.clone());
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let values: Vec<Vec<f64>> = radices
                .iter()
                .map(|&r| (0..r).map(|_| rng.random_range(-1.0..1.0)).collect())
                .collect();
            let opt = b.optimum(&values);
            let ev = |a: &Vec<u32>| a.iter().enumerate().map(|(l, &o)| values[l][o as usize]).sum::<f64>();
            let best = want.iter().map(ev).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            match (opt, best) {
                (Some((a, v)), Some(bv)) => {
                    prop_assert!(b.meets(&a));
                    prop_assert!((v - bv).abs() < 1e-12);
                    prop_assert!((ev(&a) - v).abs() < 1e-12);
                }
                (None, None) => {}
                (o, w) => prop_assert!(false, "{:?} vs {:?}", o, w),
            }
            if let Some(a) = b.sample(&mut rng) {
                prop_assert!(b.meets(&a));
            }
        }
    }
}
