//! Tests for `bananas`.

use std::collections::HashSet;

use mosaic_abi::{ErrorKind, ParamMap, RngSeed};
use mosaic_nas::Space;

use crate::testutil::{ask, space, strategy, tell};

fn score(a: &[u32]) -> f64 {
    // Additive over 5 choices of 5 options, best option 4 - j at choice j.
    a.iter()
        .enumerate()
        .map(|(j, &o)| 1.0 - ((o as f64) - (4 - j) as f64).abs() / 4.0)
        .sum::<f64>()
        / 5.0
}

fn best_after(name: &str, params: ParamMap, seed: u64, budget: usize) -> f64 {
    let mut s = strategy(name, &space(&[5; 5]), params, seed);
    let mut best = f64::NEG_INFINITY;
    for _ in 0..budget {
        let a = ask(&mut s);
        let y = score(&a);
        best = best.max(y);
        tell(&mut s, &a, y);
    }
    best
}

#[test]
fn the_predictor_steers_the_search_to_better_architectures_than_random() {
    // 3,125 architectures, budget 40, 8 seeds each (deterministic): BANANAS' mean best must be
    // above random search's, and it must find the optimum on some seeds.
    let small = ParamMap::new().with("epochs", 60i64).with("ensemble", 3i64);
    let b: Vec<f64> = (0..8)
        .map(|s| best_after("bananas", small.clone(), s, 40))
        .collect();
    let random: Vec<f64> = (0..8)
        .map(|seed| {
            let mut s = mosaic_testkit::nas::construct(
                mosaic_plugin_nas_basic::plugin_module(),
                "random",
                &space(&[5; 5]),
                &ParamMap::new(),
                seed,
            )
            .unwrap();
            let mut best = f64::NEG_INFINITY;
            for _ in 0..40 {
                let a = ask(&mut s);
                best = best.max(score(&a));
                tell(&mut s, &a, score(&a));
            }
            best
        })
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&b) > mean(&random),
        "bananas {b:?} vs random {random:?}"
    );
    assert!(b.contains(&1.0), "{b:?}");
}

#[test]
fn proposals_after_the_initial_design_are_unseen_mutations_and_never_repeat() {
    let sp = space(&[3, 3, 3]);
    let view = Space::new(&sp).unwrap();
    let p = ParamMap::new().with("initial", 5i64).with("epochs", 20i64);
    let mut s = strategy("bananas", &sp, p, 4);
    let mut seen = HashSet::new();
    for _ in 0..27 {
        let a = ask(&mut s);
        assert!(seen.insert(view.arch_id(&a).unwrap()), "{a:?} twice");
        tell(&mut s, &a, score(&[a[0], a[1], a[2], 0, 0]));
    }
    assert_eq!(
        s.ask(1).into_result().unwrap_err().kind,
        ErrorKind::Exhausted
    );
}

#[test]
fn the_path_encoding_falls_back_to_one_hot_without_a_cell_graph_and_bad_names_are_errors() {
    let m = crate::plugin_module();
    let make = |p: ParamMap| {
        (m.new_nas_strategy())("bananas".into(), &space(&[3, 3]), &p, RngSeed::from_u64(0))
            .into_result()
    };
    assert!(make(ParamMap::new()).is_ok());
    for (k, v) in [("encoding", "paths"), ("acquisition", "ei")] {
        let e = make(ParamMap::new().with(k, v)).err().unwrap();
        assert_eq!(e.kind, ErrorKind::InvalidParam);
        assert!(e.message().contains(k), "{e}");
    }
}
