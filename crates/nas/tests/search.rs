//! The search loop with the `random` plugin on tabular benchmarks.

use std::collections::HashSet;

use mosaic_nas::{
    arch_key, parse_arch_key, run_search, Evaluator, Metrics, NasError, ParamMap, RngSeed,
    SearchSpace, SearchStrategyBox, TabularBenchmark,
};

fn random(space: &SearchSpace, dedup: bool, seed: u64) -> SearchStrategyBox {
    let m = mosaic_plugin_nas_basic::plugin_module();
    (m.new_nas_strategy())(
        "random".into(),
        space,
        &ParamMap::new().with("dedup", dedup),
        RngSeed::from_u64(seed),
    )
    .into_result()
    .unwrap()
}

#[test]
fn random_search_with_dedup_and_budget_equal_to_the_space_finds_the_optimum() {
    for seed in 0..5 {
        let mut bench = TabularBenchmark::toy(seed);
        assert!(bench.is_complete());
        let budget = bench.space().size() as usize;
        assert_eq!(budget, 81);
        let (opt_arch, opt) = bench.best().map(|(a, m)| (a.to_vec(), m)).unwrap();
        // The toy formula's maximum is exactly 1, reached only at the optimum.
        assert_eq!(opt.score, 1.0);
        let mut strategy = random(&bench.space().clone(), true, 100 + seed);
        let history = run_search(&mut strategy, &mut bench, budget).unwrap();
        assert_eq!(history.len(), 81);
        assert_eq!(bench.queries(), 81);
        let distinct: HashSet<_> = history.steps.iter().map(|s| s.arch.clone()).collect();
        assert_eq!(distinct.len(), 81);
        let best = history.best().unwrap();
        assert_eq!(best.arch, opt_arch, "seed {seed}");
        assert_eq!(best.metrics, opt);
        // The incumbent never decreases and ends at the optimum.
        let traj = history.best_scores();
        assert!(traj.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*traj.last().unwrap(), 1.0);
        // One more ask: the space is exhausted.
        let e = run_search(&mut strategy, &mut bench, 1).unwrap_err();
        assert!(
            matches!(
                e,
                NasError::Strategy {
                    call: "ask",
                    step: 0,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("exhausted"), "{e}");
    }
}

#[test]
fn toy_scores_follow_the_formula() {
    let bench = TabularBenchmark::toy(3);
    let (opt, _) = bench.best().unwrap();
    let t = opt.to_vec();
    let at_one: Vec<_> = bench.iter().filter(|(_, m)| m.score == 1.0).collect();
    assert_eq!(at_one.len(), 1, "unique optimum");
    // Hand-computed: moving choice 3 (weight 4) one step off target costs 4·0.5/10 = 0.2;
    // moving choice 0 (weight 1) two steps off costs 1·1/10 = 0.1.
    let mut a = t.clone();
    a[3] = (t[3] + 1) % 3;
    assert!((bench.lookup(&a).unwrap().score - 0.8).abs() < 1e-12);
    let mut b = t.clone();
    b[0] = (t[0] + 2) % 3;
    assert!((bench.lookup(&b).unwrap().score - 0.9).abs() < 1e-12);
    assert_eq!(bench.lookup(&[0, 0, 0, 0]).unwrap().cost, 4.0);
    assert_eq!(bench.lookup(&[2, 2, 2, 2]).unwrap().cost, 12.0);
    assert!(bench.iter().all(|(_, m)| (0.0..=1.0).contains(&m.score)));
    // Deterministic in the seed, and the seed matters.
    assert_eq!(TabularBenchmark::toy(3), TabularBenchmark::toy(3));
    let targets: HashSet<Vec<u32>> = (0..20)
        .map(|s| TabularBenchmark::toy(s).best().unwrap().0.to_vec())
        .collect();
    assert!(targets.len() > 1);
}

#[test]
fn history_records_best_so_far_with_ties_to_the_first() {
    struct Fixed(Vec<f64>, usize);
    impl Evaluator for Fixed {
        fn evaluate(&mut self, _arch: &[u32]) -> mosaic_nas::Result<Metrics> {
            self.1 += 1;
            Ok(Metrics {
                score: self.0[self.1 - 1],
                cost: 1.0,
            })
        }
    }
    let space = TabularBenchmark::toy(0).space().clone();
    let mut s = random(&space, false, 1);
    let mut ev = Fixed(vec![0.3, 0.1, 0.5, 0.5, 0.2], 0);
    let h = run_search(&mut s, &mut ev, 5).unwrap();
    let bests: Vec<usize> = h.steps.iter().map(|s| s.best_step).collect();
    assert_eq!(bests, [0, 0, 2, 2, 2]);
    assert_eq!(h.best_scores(), [0.3, 0.3, 0.5, 0.5, 0.5]);
    assert_eq!(h.total_cost(), 5.0);
    assert!(run_search(&mut s, &mut Fixed(vec![], 0), 0)
        .unwrap()
        .is_empty());
    let e = run_search(&mut s, &mut Fixed(vec![f64::NAN], 0), 1).unwrap_err();
    assert!(matches!(e, NasError::NanScore { .. }), "{e}");
}

#[test]
fn table_json_round_trips_and_loads_from_a_file() {
    let bench = TabularBenchmark::toy(7);
    let back = TabularBenchmark::from_json_str(&bench.to_json()).unwrap();
    assert_eq!(back, bench);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("toy.json");
    bench.save(&path).unwrap();
    assert_eq!(TabularBenchmark::load(&path).unwrap(), bench);
    let missing = dir.path().join("nope.json");
    let e = TabularBenchmark::load(&missing).unwrap_err();
    assert!(e.to_string().contains("nope.json"), "{e}");
}

const SMALL: &str = r#"{
  "name": "small",
  "space": {"choices": [{"name": "op", "options": ["a", "b", "c"]},
                        {"name": "width", "options": ["16", "32"]}]},
  "entries": {"0-0": {"score": 0.5, "cost": 1.0},
              "2-1": {"score": 0.9, "cost": 4.0}}
}"#;

#[test]
fn a_partial_table_answers_what_it_has_and_names_what_it_lacks() {
    let mut t = TabularBenchmark::from_json_str(SMALL).unwrap();
    assert_eq!(t.name(), "small");
    assert_eq!(t.len(), 2);
    assert!(!t.is_complete());
    assert_eq!(
        t.evaluate(&[2, 1]).unwrap(),
        Metrics {
            score: 0.9,
            cost: 4.0
        }
    );
    let e = t.evaluate(&[1, 1]).unwrap_err();
    assert!(matches!(e, NasError::UnknownArchitecture { .. }));
    assert!(e.to_string().contains("`1-1`"), "{e}");
    let e = t.evaluate(&[3, 0]).unwrap_err();
    assert!(
        e.to_string().contains("`3-0`") && e.to_string().contains("`op`"),
        "{e}"
    );
    assert_eq!(t.best().unwrap().0, &[2, 1]);
}

#[test]
fn invalid_tables_are_errors_naming_the_entry() {
    let cases = [
        (SMALL.replace("\"2-1\"", "\"2-2\""), "`2-2`"),
        (SMALL.replace("\"2-1\"", "\"0-0\""), "`0-0` appears twice"),
        (SMALL.replace("\"2-1\"", "\"0-00\""), "`0-0` appears twice"),
        (SMALL.replace("\"2-1\"", "\"x\""), "`x`"),
        (SMALL.replace("\"2-1\"", "\"2\""), "`2`"),
        (
            SMALL.replace("\"a\", \"b\", \"c\"", ""),
            "`op` has no options",
        ),
        (
            SMALL.replace("\"width\"", "\"op\""),
            "`op` is declared twice",
        ),
        (SMALL.replace("0.9", "1e999"), "out of range"),
        (SMALL.replace("\"cost\": 4.0", "\"cots\": 4.0"), "cost"),
    ];
    for (json, needle) in cases {
        let e = TabularBenchmark::from_json_str(&json).unwrap_err();
        assert!(matches!(e, NasError::Table { .. }), "{e}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
}

#[test]
fn non_finite_metrics_are_refused() {
    let space = TabularBenchmark::toy(0).space().clone();
    let nan = Metrics {
        score: f64::NAN,
        cost: 1.0,
    };
    let e = TabularBenchmark::new("t", space, [(vec![0, 1, 2, 0], nan)]).unwrap_err();
    assert!(
        e.to_string().contains("`0-1-2-0`") && e.to_string().contains("finite"),
        "{e}"
    );
}

#[test]
fn arch_keys_round_trip() {
    for a in [vec![], vec![0], vec![3, 0, 12, 1]] {
        assert_eq!(parse_arch_key(&arch_key(&a)), Some(a));
    }
    for bad in ["-", "1-", "a", "1--2", "+1", " 1"] {
        assert_eq!(parse_arch_key(bad), None, "{bad:?}");
    }
}
