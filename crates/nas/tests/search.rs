//! The search loop, traces and tabular benchmarks, with the `nas-basic` plugin.

use std::collections::HashSet;

use mosaic_nas::{
    arch_key, parse_arch_key, regret, resume_search, run_search, Evaluator, Metrics, NasError,
    ParamMap, RngSeed, RunInfo, SearchOptions, SearchSpace, SearchStrategyBox, Space, Stop,
    TabularBenchmark, Trace,
};

fn strategy(name: &str, space: &SearchSpace, params: ParamMap, seed: u64) -> SearchStrategyBox {
    let m = mosaic_plugin_nas_basic::plugin_module();
    (m.new_nas_strategy())(name.into(), space, &params, RngSeed::from_u64(seed))
        .into_result()
        .unwrap()
}

fn info(name: &str, seed: u64) -> RunInfo {
    RunInfo::new(name, &ParamMap::new(), seed)
}

/// Counts evaluations.
struct Counting<'a>(&'a TabularBenchmark, usize);

impl Evaluator for Counting<'_> {
    fn evaluate(&mut self, arch: &[u32]) -> mosaic_nas::Result<Metrics> {
        self.1 += 1;
        self.0.lookup(arch)
    }
}

#[test]
fn random_search_with_budget_equal_to_the_space_finds_the_optimum_then_stops_exhausted() {
    for seed in 0..5 {
        let bench = TabularBenchmark::toy(seed);
        assert!(bench.is_complete());
        let (opt_arch, opt) = bench.best().map(|(a, m)| (a.to_vec(), m)).unwrap();
        assert_eq!(opt.valid, 1.0);
        let mut s = strategy("random", bench.space(), ParamMap::new(), 100 + seed);
        let mut ev = Counting(&bench, 0);
        let t = run_search(
            &mut s,
            bench.view(),
            &mut ev,
            &SearchOptions::new(100).batch(7),
            &info("random", seed),
        )
        .unwrap();
        assert_eq!(t.len(), 81);
        assert_eq!(ev.1, 81);
        assert_eq!(t.stop, Stop::Exhausted);
        assert_eq!(t.repeats(), 0);
        let distinct: HashSet<_> = t.queries.iter().map(|q| q.arch.clone()).collect();
        assert_eq!(distinct.len(), 81);
        assert_eq!(t.best().unwrap().arch, opt_arch, "seed {seed}");
        let traj = t.best_scores();
        assert!(traj.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*traj.last().unwrap(), 1.0);
        // Asks are min(batch, budget left): 11 asks of 7, and the 12th got the last 4.
        assert_eq!(t.asks.len(), 12);
        assert!(t.asks.iter().all(|&k| k == 7));
        assert_eq!(regret(&t, &bench, 81).unwrap().valid, 0.0);
    }
}

#[test]
fn the_budget_is_never_exceeded_and_the_last_ask_is_cut_to_it() {
    let bench = TabularBenchmark::toy(1);
    for (budget, batch) in [(1, 1), (10, 3), (17, 5), (20, 20), (5, 50)] {
        let mut s = strategy("regularized-evolution", bench.space(), ParamMap::new(), 3);
        let mut ev = Counting(&bench, 0);
        let opts = SearchOptions::new(budget).batch(batch);
        let t = run_search(
            &mut s,
            bench.view(),
            &mut ev,
            &opts,
            &info("regularized-evolution", 3),
        )
        .unwrap();
        assert_eq!(t.len(), budget);
        assert_eq!(ev.1, budget);
        assert_eq!(t.asks.iter().sum::<usize>(), budget);
        assert!(t.asks.iter().all(|&k| k <= batch));
    }
}

#[test]
fn history_records_best_so_far_with_ties_to_the_first() {
    struct Fixed(Vec<f64>, usize);
    impl Evaluator for Fixed {
        fn evaluate(&mut self, _arch: &[u32]) -> mosaic_nas::Result<Metrics> {
            self.1 += 1;
            Ok(Metrics::new(self.0[self.1 - 1], 1.0))
        }
    }
    let bench = TabularBenchmark::toy(0);
    let mut s = strategy("random", bench.space(), ParamMap::new(), 1);
    let mut ev = Fixed(vec![0.3, 0.1, 0.5, 0.5, 0.2], 0);
    let t = run_search(
        &mut s,
        bench.view(),
        &mut ev,
        &SearchOptions::new(5),
        &info("random", 1),
    )
    .unwrap();
    let bests: Vec<usize> = t.queries.iter().map(|q| q.best_step).collect();
    assert_eq!(bests, [0, 0, 2, 2, 2]);
    assert_eq!(t.best_scores(), [0.3, 0.3, 0.5, 0.5, 0.5]);
    assert_eq!(t.total_cost(), 5.0);
    assert_eq!(t.best_within(2).unwrap().step, 0);
    let e = run_search(
        &mut s,
        bench.view(),
        &mut Fixed(vec![], 0),
        &SearchOptions::new(0),
        &info("random", 1),
    )
    .unwrap_err();
    assert!(e.to_string().contains("budget"), "{e}");
    let e = run_search(
        &mut s,
        bench.view(),
        &mut Fixed(vec![f64::NAN], 0),
        &SearchOptions::new(1),
        &info("random", 1),
    )
    .unwrap_err();
    assert!(matches!(e, NasError::NanScore { .. }), "{e}");
}

#[test]
fn same_seed_same_trace_and_a_resumed_search_equals_an_uninterrupted_one() {
    let bench = TabularBenchmark::toy(2);
    for name in ["random", "regularized-evolution", "local-search"] {
        for batch in [1, 3] {
            let run = |budget: usize| {
                let mut s = strategy(name, bench.space(), ParamMap::new(), 9);
                run_search(
                    &mut s,
                    bench.view(),
                    &mut &bench,
                    &SearchOptions::new(budget).batch(batch),
                    &info(name, 9),
                )
                .unwrap()
            };
            let full = run(40);
            assert_eq!(full, run(40), "{name}");
            // 18 is a multiple of both batch sizes: the shorter run is a prefix of the longer.
            let half = run(18);
            assert_eq!(half.queries[..], full.queries[..18]);
            // Through JSON, as `--trace` / `--resume` do.
            let half = Trace::from_json_str(&half.to_json()).unwrap();
            let mut fresh = strategy(name, bench.space(), ParamMap::new(), 9);
            let mut ev = Counting(&bench, 0);
            let resumed = resume_search(
                &mut fresh,
                bench.view(),
                &mut ev,
                &half,
                &SearchOptions::new(40).batch(batch),
            )
            .unwrap();
            assert_eq!(resumed, full, "{name} batch {batch}");
            assert_eq!(ev.1, 40 - 18, "recorded queries are not re-evaluated");
            // A trace cut after any ask resumes into the same search.
            for asks in [0, 1, 5] {
                let cut = full.first_asks(asks);
                let mut fresh = strategy(name, bench.space(), ParamMap::new(), 9);
                let r = resume_search(
                    &mut fresh,
                    bench.view(),
                    &mut &bench,
                    &cut,
                    &SearchOptions::new(40).batch(batch),
                )
                .unwrap();
                assert_eq!(r, full, "{name} batch {batch} cut after {asks} asks");
            }
            // Another seed diverges, and says so.
            let mut other = strategy(name, bench.space(), ParamMap::new(), 10);
            let e = resume_search(
                &mut other,
                bench.view(),
                &mut &bench,
                &half,
                &SearchOptions::new(40).batch(batch),
            )
            .unwrap_err();
            assert!(matches!(e, NasError::Diverged { .. }), "{e}");
        }
    }
}

#[test]
fn traces_save_and_load_and_name_bad_files() {
    let bench = TabularBenchmark::toy(0);
    let mut s = strategy(
        "random",
        bench.space(),
        ParamMap::new().with("dedup", false),
        4,
    );
    let t = run_search(
        &mut s,
        bench.view(),
        &mut &bench,
        &SearchOptions::new(100),
        &RunInfo::new("random", &ParamMap::new().with("dedup", false), 4),
    )
    .unwrap();
    assert!(t.repeats() > 0, "without dedup 100 draws from 81 repeat");
    assert_eq!(t.params["dedup"], serde_json::json!(false));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.json");
    t.save(&path).unwrap();
    assert_eq!(Trace::load(&path).unwrap(), t);
    std::fs::write(&path, "{").unwrap();
    let e = Trace::load(&path).unwrap_err();
    assert!(e.to_string().contains("trace.json"), "{e}");
}

#[test]
fn an_invalid_proposal_or_an_oversized_batch_fails_the_search_naming_the_step() {
    use mosaic_nas::{Observation, RError, SearchStrategy};
    struct Bad(usize);
    impl SearchStrategy for Bad {
        fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError> {
            Ok(vec![vec![0, 0, 0, self.0 as u32]; k])
        }
        fn tell(&mut self, _: &[Observation]) -> Result<(), RError> {
            self.0 += 1;
            Ok(())
        }
    }
    let bench = TabularBenchmark::toy(0);
    let mut s = mosaic_nas::into_ffi(Box::new(Bad(0)));
    let e = run_search(
        &mut s,
        bench.view(),
        &mut &bench,
        &SearchOptions::new(10),
        &info("bad", 0),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("step 3") && e.to_string().contains("op_3"),
        "{e}"
    );
}

#[test]
fn toy_scores_follow_the_formula() {
    let bench = TabularBenchmark::toy(3);
    let (opt, _) = bench.best().unwrap();
    let t = opt.to_vec();
    assert_eq!(
        bench.iter().filter(|(_, _, m)| m.valid == 1.0).count(),
        1,
        "unique optimum"
    );
    // Hand-computed: moving choice 3 (weight 4) one step off target costs 4·0.5/10 = 0.2;
    // moving choice 0 (weight 1) two steps off costs 1·1/10 = 0.1.
    let mut a = t.clone();
    a[3] = (t[3] + 1) % 3;
    assert!((bench.lookup(&a).unwrap().valid - 0.8).abs() < 1e-12);
    let mut b = t.clone();
    b[0] = (t[0] + 2) % 3;
    assert!((bench.lookup(&b).unwrap().valid - 0.9).abs() < 1e-12);
    assert_eq!(bench.lookup(&[0, 0, 0, 0]).unwrap().cost, 4.0);
    assert_eq!(bench.lookup(&[2, 2, 2, 2]).unwrap().cost, 12.0);
    assert_eq!(TabularBenchmark::toy(3), TabularBenchmark::toy(3));
    let targets: HashSet<Vec<u32>> = (0..20)
        .map(|s| TabularBenchmark::toy(s).best().unwrap().0.to_vec())
        .collect();
    assert!(targets.len() > 1);
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
    let e = TabularBenchmark::load(dir.path().join("nope.json")).unwrap_err();
    assert!(e.to_string().contains("nope.json"), "{e}");
}

const SMALL: &str = r#"{
  "name": "small",
  "space": {"choices": [{"name": "op", "options": ["a", "b", "c"]},
                        {"name": "width", "options": ["16", "32"]}]},
  "entries": {"0-0": {"score": 0.5, "cost": 1.0},
              "2-1": {"valid": 0.9, "test": 0.8, "cost": 4.0}}
}"#;

#[test]
fn a_partial_table_answers_what_it_has_and_names_what_it_lacks() {
    let mut t = TabularBenchmark::from_json_str(SMALL).unwrap();
    assert_eq!(t.name(), "small");
    assert_eq!(t.len(), 2);
    assert!(!t.is_complete());
    let m = t.evaluate(&[2, 1]).unwrap();
    assert_eq!((m.valid, m.test, m.cost), (0.9, Some(0.8), 4.0));
    let e = t.evaluate(&[1, 1]).unwrap_err();
    assert!(matches!(e, NasError::UnknownArchitecture { .. }));
    assert!(e.to_string().contains("`1-1`"), "{e}");
    let e = t.evaluate(&[3, 0]).unwrap_err();
    assert!(
        e.to_string().contains("`3-0`") && e.to_string().contains("`op`"),
        "{e}"
    );
    assert_eq!(t.best().unwrap().0, &[2, 1]);
    assert_eq!(t.best_test(), Some(0.8));
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
    let mut m = Metrics::new(0.5, 1.0);
    m.test = Some(f64::INFINITY);
    let e = TabularBenchmark::new("t", space, [(vec![0, 1, 2, 0], m)]).unwrap_err();
    assert!(
        e.to_string().contains("`0-1-2-0`") && e.to_string().contains("test"),
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

#[test]
fn spaces_without_valid_architectures_or_with_bad_tables_are_refused() {
    let mut sp = SearchSpace::from_choices([("a", vec!["x", "y"])]);
    sp.classes = vec![mosaic_nas::NO_ARCHITECTURE; 2].into();
    assert!(Space::new(&sp).unwrap_err().message().contains("invalid"));
    sp.classes = vec![0u64; 3].into();
    assert!(Space::new(&sp).unwrap_err().message().contains("3 entries"));
}
