//! The NAS suites: [`check_nas_plugin`] runs [`check_strategy`] on every strategy of a plugin
//! (ours or a third party's, linked statically or loaded as a library), and [`check_space`]
//! checks a search space's mutation, neighbours, ids and encodings. Neither needs downloaded
//! tables: the spaces are built in (NAS-Bench-Graph's space is code) and scores come from a
//! deterministic [`SyntheticEvaluator`].
//!
//! What a strategy must satisfy, on every space of [`suite_spaces`], with asks of 1 and of 4:
//! - every proposal is a valid architecture of the space, and an ask of `k` returns 1..=k;
//! - the search loop never exceeds its budget (it counts evaluations);
//! - same seed → same trace; a trace replayed into a fresh strategy and continued gives the
//!   trace of the uninterrupted search (its state is a function of its seed and history);
//! - a strategy that stops with `Exhausted` has proposed every architecture, each once;
//! - bad observations (wrong length, out of range, an invalid architecture, a NaN score) are
//!   errors, never panics; observations of architectures it never proposed are accepted.

use std::collections::HashSet;

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{
    AlgorithmDescriptor, ErrorKind, Family, Observation, ParamMap, ParamScope, PluginModRef,
    RngSeed, SearchSpace, SearchStrategyBox,
};
use mosaic_nas::{
    compression, nas_bench_graph, resume_search, run_search, Encoding, Evaluator, Metrics, RunInfo,
    SearchOptions, Space, Stop, TabularBenchmark, Trace,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A space of independent choices, choice `i` with `sizes[i]` options (`choice_i`, `op_o`).
pub fn independent_space(sizes: &[usize]) -> SearchSpace {
    let mut s = SearchSpace::from_choices(sizes.iter().enumerate().map(|(i, &n)| {
        (
            format!("choice_{i}"),
            (0..n).map(|o| format!("op_{o}")).collect::<Vec<_>>(),
        )
    }));
    s.name = format!("independent-{sizes:?}").into();
    s
}

/// Construct strategy `name` of `module` through its root module.
pub fn construct(
    module: PluginModRef,
    name: &str,
    space: &SearchSpace,
    params: &ParamMap,
    seed: u64,
) -> Result<SearchStrategyBox, String> {
    (module.new_nas_strategy())(RStr::from_str(name), space, params, RngSeed::from_u64(seed))
        .into_result()
        .map_err(|e| format!("strategy `{name}`: construction failed: {e}"))
}

/// Ask for one architecture.
///
/// # Panics
/// If the ask fails or returns other than one architecture.
pub fn ask_one(s: &mut SearchStrategyBox) -> Vec<u32> {
    let b = s.ask(1).into_result().expect("ask(1)");
    assert_eq!(b.len(), 1, "ask(1) returned {} architectures", b.len());
    b[0].to_vec()
}

/// Tell one observation (cost 1).
///
/// # Panics
/// If the strategy refuses it.
pub fn tell_one(s: &mut SearchStrategyBox, arch: &[u32], score: f64) {
    s.tell([Observation::new(arch, score, 1.0)].as_slice().into())
        .into_result()
        .expect("tell");
}

/// The spaces the suite runs strategies on: the 81-encoding toy space, NAS-Bench-Graph's
/// space for `cora` (59,049 encodings, 26,206 architectures, a class table and a cell graph)
/// and for `proteins` (5 operations), a space of 3 architectures (exhaustion), a single
/// choice of 2, and a space of 10^30 encodings (never enumerable).
pub fn suite_spaces() -> Vec<SearchSpace> {
    vec![
        TabularBenchmark::toy(0).space().clone(),
        nas_bench_graph::space("cora").expect("built in"),
        nas_bench_graph::space("proteins").expect("built in"),
        independent_space(&[3]),
        independent_space(&[2]),
        independent_space(&[10; 30]),
    ]
}

/// A deterministic evaluator for any space: the validation score is a smooth function of the
/// encoding's options plus a pseudo-random term of its architecture id, in [0, 1); the test
/// score is the validation score minus a small id-dependent offset. Counts its evaluations.
#[derive(Clone, Debug)]
pub struct SyntheticEvaluator {
    space: Space,
    /// Evaluations so far.
    pub calls: usize,
}

impl SyntheticEvaluator {
    /// An evaluator over `space`.
    ///
    /// # Panics
    /// If `space` is malformed.
    pub fn new(space: &SearchSpace) -> SyntheticEvaluator {
        SyntheticEvaluator {
            space: Space::new(space).expect("a well-formed space"),
            calls: 0,
        }
    }
}

fn mix(mut x: u64) -> f64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Evaluator for SyntheticEvaluator {
    fn evaluate(&mut self, arch: &[u32]) -> mosaic_nas::Result<Metrics> {
        self.calls += 1;
        let id =
            self.space
                .arch_id(arch)
                .ok_or_else(|| mosaic_nas::NasError::UnknownArchitecture {
                    key: mosaic_nas::arch_key(arch),
                    reason: "not a valid architecture".into(),
                })?;
        let canon = self.space.canonical(arch).expect("valid");
        let smooth: f64 = canon
            .iter()
            .zip(self.space.radices())
            .enumerate()
            .map(|(j, (&a, &r))| mix(j as u64 * 1000 + a as u64) * (r > 1) as u8 as f64)
            .sum::<f64>()
            / canon.len().max(1) as f64;
        let valid = 0.7 * smooth + 0.3 * mix(id ^ 0x5555);
        let mut m = Metrics::new(valid, 1.0);
        m.test = Some(valid - 0.05 * mix(id ^ 0xAAAA));
        Ok(m)
    }
}

/// What [`check_strategy`] checked.
#[derive(Clone, Debug, Default)]
pub struct StrategyReport {
    /// One line per check passed.
    pub checked: Vec<String>,
}

fn run(
    module: PluginModRef,
    name: &str,
    space: &SearchSpace,
    params: &ParamMap,
    seed: u64,
    budget: usize,
    batch: usize,
) -> Result<(Trace, usize), String> {
    let view = Space::new(space).map_err(|e| e.to_string())?;
    let mut s = construct(module, name, space, params, seed)?;
    let mut ev = SyntheticEvaluator::new(space);
    let t = run_search(
        &mut s,
        &view,
        &mut ev,
        &SearchOptions::new(budget).batch(batch),
        &RunInfo::new(name, params, seed),
    )
    .map_err(|e| format!("strategy `{name}` on `{}`: {e}", space.name))?;
    Ok((t, ev.calls))
}

/// Run the strategy suite (see the module documentation) on `name` with `params`.
pub fn check_strategy(
    module: PluginModRef,
    name: &str,
    params: &ParamMap,
) -> Result<StrategyReport, String> {
    let mut report = StrategyReport::default();
    for space in suite_spaces() {
        let view = Space::new(&space).map_err(|e| e.to_string())?;
        let label = space.name.to_string();
        let n_arch = view.architectures();
        let budget = match n_arch {
            Some(n) if n < 40 => n as usize + 3,
            _ => 40,
        };
        for batch in [1usize, 4] {
            let fail = |m: String| format!("strategy `{name}` on `{label}` (batch {batch}): {m}");
            let (t, calls) = run(module, name, &space, params, 11, budget, batch)?;
            if calls != t.len() || t.len() > budget {
                return Err(fail(format!(
                    "{} evaluations, {} queries, budget {budget}",
                    calls,
                    t.len()
                )));
            }
            if t.asks.iter().any(|&k| k == 0 || k > batch) {
                return Err(fail(format!("asks of {:?}", t.asks)));
            }
            for q in &t.queries {
                view.check(&q.arch)
                    .map_err(|e| fail(format!("step {}: {e}", q.step)))?;
            }
            if t.stop == Stop::Exhausted {
                let ids: HashSet<u64> = t.queries.iter().map(|q| q.arch_id).collect();
                if Some(ids.len() as u128) != n_arch || t.repeats() > 0 {
                    return Err(fail(format!(
                        "exhausted after {} queries ({} distinct) of a space of {n_arch:?} \
                         architectures",
                        t.len(),
                        ids.len()
                    )));
                }
            } else if t.len() != budget {
                return Err(fail(format!(
                    "stopped after {} of {budget} queries",
                    t.len()
                )));
            }
            let (again, _) = run(module, name, &space, params, 11, budget, batch)?;
            if again != t {
                return Err(fail("the same seed gave a different trace".into()));
            }
            // Interrupt after half of the asks, resume, and compare with the whole search.
            let interrupted = t.first_asks(t.asks.len() / 2);
            let mut fresh = construct(module, name, &space, params, 11)?;
            let mut ev = SyntheticEvaluator::new(&space);
            let resumed = resume_search(
                &mut fresh,
                &view,
                &mut ev,
                &interrupted,
                &SearchOptions::new(budget).batch(batch),
            )
            .map_err(|e| fail(format!("resume: {e}")))?;
            if resumed != t {
                return Err(fail(
                    "a resumed search differs from the uninterrupted one".into(),
                ));
            }
            if ev.calls != t.len() - interrupted.len() {
                return Err(fail("resuming re-evaluated recorded queries".into()));
            }
        }
        report.checked.push(format!(
            "{name} on {label}: valid, budget, seed, resume, exhaustion"
        ));
    }
    check_bad_observations(module, name, params)?;
    report.checked.push(format!(
        "{name}: bad observations are errors; warm starts accepted"
    ));
    Ok(report)
}

fn check_bad_observations(
    module: PluginModRef,
    name: &str,
    params: &ParamMap,
) -> Result<(), String> {
    let space = nas_bench_graph::space("cora").expect("built in");
    let fail = |m: &str| format!("strategy `{name}`: {m}");
    let mut s = construct(module, name, &space, params, 5)?;
    let bad: [(&str, Vec<u32>, f64); 4] = [
        ("an architecture of the wrong length", vec![0, 1], 0.5),
        ("an option out of range", vec![0, 1, 2, 3, 9], 0.5),
        (
            "an invalid architecture (all skip)",
            vec![0, 8, 8, 8, 8],
            0.5,
        ),
        ("a NaN score", vec![0, 1, 2, 3, 4], f64::NAN),
    ];
    for (what, arch, score) in bad {
        let obs = [Observation::new(&arch, score, 1.0)];
        match s.tell(RSlice::from_slice(&obs)).into_result() {
            Ok(()) => return Err(fail(&format!("accepted {what}"))),
            Err(e) if e.kind == ErrorKind::Panic => {
                return Err(fail(&format!("panicked on {what}: {e}")))
            }
            Err(_) => {}
        }
    }
    match s.ask(0).into_result() {
        Err(e) if e.kind == ErrorKind::Panic => return Err(fail(&format!("ask(0) panicked: {e}"))),
        Err(_) => {}
        Ok(_) => return Err(fail("ask(0) succeeded")),
    }
    // A warm start: observations of architectures it never proposed.
    let view = Space::new(&space).map_err(|e| e.to_string())?;
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let warm: Vec<Observation> = (0..12)
        .map(|i| Observation::new(&view.sample(&mut rng), 0.5 + i as f64 / 100.0, 1.0))
        .collect();
    s.tell(RSlice::from_slice(&warm))
        .into_result()
        .map_err(|e| fail(&format!("refused a warm start: {e}")))?;
    let next = s
        .ask(3)
        .into_result()
        .map_err(|e| fail(&format!("ask after a warm start failed: {e}")))?;
    for a in next.iter() {
        view.check(a)
            .map_err(|e| fail(&format!("proposed an invalid architecture: {e}")))?;
    }
    Ok(())
}

/// Run [`check_strategy`] on every NAS strategy of `module`, with its default parameters.
pub fn check_nas_plugin(module: PluginModRef) -> Result<Vec<StrategyReport>, String> {
    let info = (module.info())()
        .into_result()
        .map_err(|e| format!("info() failed: {e}"))?;
    let algos: Vec<&AlgorithmDescriptor> = info
        .algorithms
        .iter()
        .filter(|a| a.family == Family::NasStrategy)
        .collect();
    if algos.is_empty() {
        return Err(format!("plugin `{}` has no NAS strategy", info.name));
    }
    algos
        .into_iter()
        .map(|a| {
            let params = ParamMap::new()
                .resolve(&a.params, ParamScope::Global)
                .map_err(|e| format!("`{}`: defaults do not resolve: {e}", a.name))?;
            check_strategy(module, a.name.as_str(), &params)
        })
        .collect()
}

/// Check that a budget-aware strategy (one that reads [`compression::LAYER_SIZES`] and
/// [`compression::TARGET_LEVEL`], as EvoPress does) proposes only candidates meeting the
/// budget exactly, with asks of 1 and 4, through an evaluator that refuses any other: on 10
/// layers in two size groups (5 levels, about 10^7 encodings) and on 4 equal layers of 3
/// levels (19 of 81 encodings meet the budget: the strategy must stop with `Exhausted` only
/// after proposing all 19, each once). `params` are added to the budget's.
pub fn check_level_budget(
    module: PluginModRef,
    name: &str,
    params: &ParamMap,
) -> Result<StrategyReport, String> {
    let mut report = StrategyReport::default();
    let levels = ["l0", "l1", "l2", "l3", "l4"];
    let wide: Vec<(String, u64)> = (0..10)
        .map(|l| (format!("layer_{l}"), if l % 3 == 0 { 3 } else { 1 }))
        .collect();
    let small: Vec<(String, u64)> = (0..4).map(|l| (format!("layer_{l}"), 1)).collect();
    let cases = [
        (compression::LevelSpace::new(&wide, &levels, 2.0), 60usize),
        (compression::LevelSpace::new(&small, &levels[..3], 1.0), 25),
    ];
    for (ls, budget) in cases {
        let ls = ls.map_err(|e| e.to_string())?;
        let mut p = ls.strategy_params();
        for (k, v) in params.iter() {
            p.insert(k, v.clone());
        }
        let space = ls.search_space();
        let view = Space::new(space).map_err(|e| e.to_string())?;
        let feasible = ls.budget().count();
        for batch in [1usize, 4] {
            let fail =
                |m: String| format!("strategy `{name}` on `{}` (batch {batch}): {m}", space.name);
            let mut s = construct(module, name, space, &p, 3)?;
            let values: Vec<Vec<f64>> = (0..view.dims())
                .map(|l| {
                    (0..view.radices()[l])
                        .map(|o| -mix((l * 10 + o as usize) as u64))
                        .collect()
                })
                .collect();
            let mut ev = compression::AdditiveLevels::new(values, ls.budget().clone())
                .map_err(|e| e.to_string())?;
            let t = run_search(
                &mut s,
                &view,
                &mut ev,
                &SearchOptions::new(budget).batch(batch),
                &RunInfo::new(name, &p, 3),
            )
            .map_err(|e| fail(e.to_string()))?;
            if let Some(q) = t.queries.iter().find(|q| !ls.budget().meets(&q.arch)) {
                return Err(fail(format!("proposed {:?} off the budget", q.arch)));
            }
            let distinct: HashSet<u64> = t.queries.iter().map(|q| q.arch_id).collect();
            match t.stop {
                Stop::Exhausted if distinct.len() as u128 != feasible || t.repeats() > 0 => {
                    return Err(fail(format!(
                        "exhausted after {} distinct of {feasible} candidates",
                        distinct.len()
                    )))
                }
                Stop::Exhausted => {}
                _ if t.len() != budget => {
                    return Err(fail(format!(
                        "stopped after {} of {budget} queries",
                        t.len()
                    )))
                }
                _ => {}
            }
        }
        report.checked.push(format!(
            "{name} on {}: every candidate meets the budget {}",
            space.name,
            ls.budget().total()
        ));
    }
    Ok(report)
}

/// Check a search space's own properties on `samples` random valid encodings (seeded):
/// - a mutation changes exactly the choice it names, from the option it names to the one it
///   names, into a valid architecture with another id;
/// - neighbours are exactly the valid single-choice changes with other ids, each id once;
/// - ids are stable ([`Space::canonical`] keeps the id) and, when the space enumerates, a
///   bijection between the enumeration and the architectures;
/// - the one-hot encoding has one 1 per choice; graph encodings are in range and sorted.
pub fn check_space(space: &SearchSpace, samples: usize) -> Result<(), String> {
    let view = Space::new(space).map_err(|e| e.to_string())?;
    let name = space.name.to_string();
    let fail = |m: String| format!("space `{name}`: {m}");
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    for _ in 0..samples {
        let a = view.sample(&mut rng);
        let id = view
            .arch_id(&a)
            .ok_or_else(|| fail(format!("sampled invalid {a:?}")))?;
        if let Some(m) = view.mutate(&a, &mut rng) {
            let changed: Vec<usize> = (0..a.len()).filter(|&j| a[j] != m.arch[j]).collect();
            if changed != [m.choice] || a[m.choice] != m.from || m.arch[m.choice] != m.to {
                return Err(fail(format!(
                    "mutation {m:?} of {a:?} is not what it claims"
                )));
            }
            if view.arch_id(&m.arch).is_none_or(|i| i == id) {
                return Err(fail(format!(
                    "mutation {m:?} of {a:?} is invalid or the same architecture"
                )));
            }
        }
        let nb = view.neighbours(&a);
        let got: HashSet<u64> = nb
            .iter()
            .map(|m| view.arch_id(&m.arch).expect("valid"))
            .collect();
        if got.len() != nb.len() {
            return Err(fail(format!("neighbours of {a:?} repeat an architecture")));
        }
        let mut want = HashSet::new();
        for j in 0..a.len() {
            for o in 0..view.radices()[j] {
                let mut b = a.clone();
                b[j] = o;
                if let Some(i) = view.arch_id(&b) {
                    if i != id {
                        want.insert(i);
                    }
                }
            }
        }
        if got != want {
            return Err(fail(format!(
                "neighbours of {a:?} are not the single-choice changes"
            )));
        }
        let canon = view.canonical(&a).expect("valid");
        if view.arch_id(&canon) != Some(id) {
            return Err(fail(format!("canonical({a:?}) changed the id")));
        }
        let oh = view
            .encode(&a, Encoding::OneHot)
            .map_err(|e| fail(e.to_string()))?;
        if oh.active.len() != a.len()
            || oh.len != view.radices().iter().map(|&r| r as usize).sum::<usize>()
        {
            return Err(fail(format!("one-hot of {a:?} is {oh:?}")));
        }
        for enc in [Encoding::Adjacency, Encoding::Path] {
            let Some(len) = view.feature_len(enc) else {
                continue;
            };
            let f = view.encode(&a, enc).map_err(|e| fail(e.to_string()))?;
            if f.len != len
                || f.active.windows(2).any(|w| w[0] >= w[1])
                || f.active.iter().any(|&i| i as usize >= len)
            {
                return Err(fail(format!("{enc} encoding of {a:?} is malformed: {f:?}")));
            }
        }
    }
    if let Some(it) = view.enumerate() {
        let mut ids = HashSet::new();
        let mut n = 0u128;
        for a in it {
            let id = view
                .arch_id(&a)
                .ok_or_else(|| fail(format!("enumerated invalid {a:?}")))?;
            if !ids.insert(id) {
                return Err(fail(format!("id {id} enumerated twice")));
            }
            if view.canonical(&a).as_deref() != Some(a.as_slice()) {
                return Err(fail(format!("enumerated {a:?} is not canonical")));
            }
            n += 1;
        }
        if Some(n) != view.architectures() {
            return Err(fail(format!(
                "enumerated {n} of {:?} architectures",
                view.architectures()
            )));
        }
    }
    Ok(())
}
