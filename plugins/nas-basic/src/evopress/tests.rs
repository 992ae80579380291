//! Tests for `evopress`, through the ABI (the plugin's root module).

use mosaic_abi::{ErrorKind, ParamMap};
use mosaic_nas::compression::{AdditiveLevels, LevelSpace};
use mosaic_nas::{run_search, RunInfo, SearchOptions, Space, Stop};

use crate::testutil::{ask, space, strategy, tell};

fn layers(sizes: &[u64]) -> Vec<(String, u64)> {
    sizes
        .iter()
        .enumerate()
        .map(|(l, &s)| (format!("layer_{l}"), s))
        .collect()
}

/// Values with decreasing returns: each level step costs layer `l` more error than the last
/// (`-c_l · o²`, `c_l` in (0.1, 1.1)) — the separable concave case where pairwise switches
/// reach the global optimum.
fn concave(n: usize, levels: u32, seed: u64) -> Vec<Vec<f64>> {
    (0..n)
        .map(|l| {
            let c = 0.1 + ((l as u64 * 7919 + seed * 104_729) % 1000) as f64 / 1000.0;
            (0..levels).map(|o| -c * (o * o) as f64).collect()
        })
        .collect()
}

fn run(
    ls: &LevelSpace,
    values: Vec<Vec<f64>>,
    params: ParamMap,
    seed: u64,
    budget: usize,
) -> (mosaic_nas::Trace, AdditiveLevels) {
    let mut p = ls.strategy_params();
    for (k, v) in params.iter() {
        p.insert(k, v.clone());
    }
    let mut s = strategy("evopress", ls.search_space(), p.clone(), seed);
    let mut ev = AdditiveLevels::new(values, ls.budget().clone()).unwrap();
    let view = Space::new(ls.search_space()).unwrap();
    let t = run_search(
        &mut s,
        &view,
        &mut ev,
        &SearchOptions::new(budget),
        &RunInfo::new("evopress", &p, seed),
    )
    .unwrap();
    (t, ev)
}

#[test]
fn reaches_the_dynamic_programming_optimum() {
    // 12 equal layers, 6 levels, target level 2.5: 6^12 ≈ 2.2·10^9 encodings, 2000 queries.
    // Near the optimum one switch of the 132 ordered pairs improves, so the last steps are slow.
    let ls = LevelSpace::new(&layers(&[1; 12]), &["0", "1", "2", "3", "4", "5"], 2.5).unwrap();
    for seed in 0..5 {
        let values = concave(12, 6, seed);
        let (t, ev) = run(&ls, values, ParamMap::new(), seed, 2000);
        let (opt_arch, opt) = ev.optimum().unwrap();
        let best = t.best().unwrap();
        assert!(t.queries.iter().all(|q| ls.budget().meets(&q.arch)));
        assert!(
            (best.metrics.valid - opt).abs() < 1e-9,
            "seed {seed}: found {} at {:?}, the optimum is {opt} at {opt_arch:?}",
            best.metrics.valid,
            best.arch
        );
    }
}

#[test]
fn the_first_candidate_is_the_uniform_model() {
    let ls = LevelSpace::new(&layers(&[1, 2, 2, 1]), &["0", "1", "2", "3"], 2.0).unwrap();
    let mut s = strategy("evopress", ls.search_space(), ls.strategy_params(), 1);
    assert_eq!(ask(&mut s), vec![2, 2, 2, 2]);
}

#[test]
fn children_are_level_switches_within_a_size_group() {
    // Sizes 1,1,1 and 5,5: after the first generation every child differs from the parent by
    // level switches inside a group, so each group's level sum is the parent's.
    let ls = LevelSpace::new(&layers(&[1, 1, 1, 5, 5]), &["0", "1", "2", "3", "4"], 2.0).unwrap();
    let p = ls
        .strategy_params()
        .with("initial", 1i64)
        .with("offspring", 8i64);
    let mut s = strategy("evopress", ls.search_space(), p, 4);
    let first = ask(&mut s);
    assert_eq!(first, vec![2; 5]);
    tell(&mut s, &first, 0.0);
    for _ in 0..8 {
        let c = ask(&mut s);
        assert_ne!(c, first);
        assert_eq!(c[..3].iter().sum::<u32>(), 6, "{c:?}");
        assert_eq!(c[3..].iter().sum::<u32>(), 4, "{c:?}");
        let changed = c.iter().zip(&first).filter(|(a, b)| a != b).count();
        assert!((2..=5).contains(&changed), "{c:?}");
        tell(&mut s, &c, -1.0);
    }
}

#[test]
fn each_generation_mutates_the_best_so_far() {
    // initial 4, offspring 4, batch 1: generation g ≥ 1 is queries 4g..4g+4, and its parent is
    // the best query before 4g (elitism), of which each child is 1 to 3 level switches.
    let ls = LevelSpace::new(&layers(&[1; 16]), &["0", "1", "2", "3", "4", "5"], 2.5).unwrap();
    let p = ParamMap::new()
        .with("offspring", 4i64)
        .with("initial", 4i64);
    let (t, _) = run(&ls, concave(16, 6, 3), p, 2, 80);
    for g in 1..20 {
        let before = &t.queries[..4 * g];
        let parent = before
            .iter()
            .fold(None::<&mosaic_nas::Query>, |b, q| match b {
                Some(b) if b.metrics.valid >= q.metrics.valid => Some(b),
                _ => Some(q),
            })
            .unwrap();
        for q in &t.queries[4 * g..4 * g + 4] {
            let up: u32 = q
                .arch
                .iter()
                .zip(&parent.arch)
                .map(|(&a, &b)| a.saturating_sub(b))
                .sum();
            let down: u32 = q
                .arch
                .iter()
                .zip(&parent.arch)
                .map(|(&a, &b)| b.saturating_sub(a))
                .sum();
            assert!(
                up == down && (1..=3).contains(&up),
                "generation {g}: {:?} from {:?}",
                q.arch,
                parent.arch
            );
        }
    }
}

#[test]
fn exhausts_the_budget_slice_only() {
    // 4 layers × 3 levels at target 1: 19 of the 81 encodings meet the budget.
    let ls = LevelSpace::new(&layers(&[1; 4]), &["0", "1", "2"], 1.0).unwrap();
    let (t, _) = run(&ls, concave(4, 3, 1), ParamMap::new(), 0, 81);
    assert_eq!(t.stop, Stop::Exhausted);
    assert_eq!(t.len(), 19);
    assert_eq!(ls.budget().count(), 19);
}

#[test]
fn bad_budgets_are_refused_naming_the_parameter() {
    let sp = space(&[3, 3]);
    let make = |p: ParamMap| {
        (crate::plugin_module().new_nas_strategy())(
            "evopress".into(),
            &sp,
            &p,
            mosaic_abi::RngSeed::from_u64(0),
        )
        .into_result()
        .err()
        .map(|e| (e.kind, e.to_string()))
    };
    let (kind, msg) = make(
        ParamMap::new()
            .with("target_level", 0.5)
            .with("layer_sizes", vec![1.0, 2.0]),
    )
    .unwrap();
    assert!(
        matches!(kind, ErrorKind::InvalidParam | ErrorKind::InvalidInput),
        "{kind:?}"
    );
    assert!(msg.contains("target_level"), "{msg}");
    let (_, msg) = make(
        ParamMap::new()
            .with("target_level", 1.0)
            .with("layer_sizes", vec![1.0]),
    )
    .unwrap();
    assert!(msg.contains("layer_sizes"), "{msg}");
    assert!(make(ParamMap::new().with("target_level", 1.0)).is_none());
}

#[test]
fn passes_the_level_budget_suite() {
    mosaic_testkit::nas::check_level_budget(crate::plugin_module(), "evopress", &ParamMap::new())
        .unwrap();
    let p = ParamMap::new().with("dedup", false).with("offspring", 3i64);
    mosaic_testkit::nas::check_level_budget(crate::plugin_module(), "evopress", &p).unwrap();
}
