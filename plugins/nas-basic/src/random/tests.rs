//! Tests for `random`, through the ABI (the plugin's root module) unless noted.

use std::collections::HashSet;

use mosaic_abi::{ErrorKind, Observation, ParamMap, RngSeed, SearchSpace, SearchStrategy};
use mosaic_nas::{nas_bench_graph, Space, Uniform};

use super::RandomSearch;
use crate::testutil::{ask, space, strategy, tell};

#[test]
fn same_seed_same_sequence() {
    let sp = space(&[3, 5, 2, 7, 4]);
    for dedup in [true, false] {
        let p = ParamMap::new().with("dedup", dedup);
        let mut a = strategy("random", &sp, p.clone(), 9);
        let mut b = strategy("random", &sp, p.clone(), 9);
        let mut c = strategy("random", &sp, p, 10);
        let xs: Vec<_> = (0..50).map(|_| ask(&mut a)).collect();
        let ys: Vec<_> = (0..50).map(|_| ask(&mut b)).collect();
        let zs: Vec<_> = (0..50).map(|_| ask(&mut c)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }
}

#[test]
fn a_batch_of_k_is_the_next_k_proposals() {
    let sp = space(&[3, 5, 2, 7, 4]);
    let mut a = strategy("random", &sp, ParamMap::new(), 4);
    let mut b = strategy("random", &sp, ParamMap::new(), 4);
    let batch: Vec<Vec<u32>> = a
        .ask(7)
        .into_result()
        .unwrap()
        .into_iter()
        .map(|x| x.to_vec())
        .collect();
    let one: Vec<Vec<u32>> = (0..7).map(|_| ask(&mut b)).collect();
    assert_eq!(batch, one);
    assert!(a.ask(0).into_result().is_err());
}

#[test]
fn dedup_enumerates_a_small_space_exactly_once_then_reports_exhaustion() {
    let sp = space(&[3, 2, 4]);
    let mut s = strategy("random", &sp, ParamMap::new(), 5);
    let mut seen = HashSet::new();
    for _ in 0..24 {
        let a = ask(&mut s);
        sp.check(&a).unwrap();
        assert!(seen.insert(a.clone()), "{a:?} proposed twice");
    }
    let e = s.ask(1).into_result().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Exhausted);
    assert!(
        e.message().contains("exhausted") && e.message().contains("24"),
        "{e}"
    );
}

#[test]
fn a_batch_stops_short_at_exhaustion() {
    let sp = space(&[2, 2]);
    let mut s = strategy("random", &sp, ParamMap::new(), 5);
    assert_eq!(s.ask(3).into_result().unwrap().len(), 3);
    assert_eq!(s.ask(3).into_result().unwrap().len(), 1);
    assert_eq!(
        s.ask(3).into_result().unwrap_err().kind,
        ErrorKind::Exhausted
    );
}

#[test]
fn told_architectures_are_not_proposed_again() {
    let sp = space(&[2, 2]);
    let mut s = strategy("random", &sp, ParamMap::new(), 1);
    tell(&mut s, &[0, 0], 0.1);
    tell(&mut s, &[1, 1], 0.2);
    let rest: HashSet<Vec<u32>> = (0..2).map(|_| ask(&mut s)).collect();
    assert_eq!(rest, HashSet::from([vec![0, 1], vec![1, 0]]));
}

#[test]
fn dedup_on_a_huge_space_does_not_enumerate_it() {
    let sp = space(&[10; 30]);
    assert_eq!(sp.size(), 10u128.pow(30));
    let mut s = strategy("random", &sp, ParamMap::new(), 1);
    let set: HashSet<_> = (0..1000).map(|_| ask(&mut s)).collect();
    assert_eq!(set.len(), 1000);
}

#[test]
fn the_empty_space_has_one_architecture() {
    let sp = SearchSpace::default();
    let mut s = strategy("random", &sp, ParamMap::new(), 1);
    assert_eq!(ask(&mut s), Vec::<u32>::new());
    assert!(s.ask(1).into_result().is_err());
    let mut s = strategy("random", &sp, ParamMap::new().with("dedup", false), 1);
    assert_eq!(ask(&mut s), Vec::<u32>::new());
    assert_eq!(ask(&mut s), Vec::<u32>::new());
}

#[test]
fn options_of_a_three_way_choice_are_uniform() {
    // Chi-square goodness of fit with 2 degrees of freedom; 13.82 is the 0.999 quantile.
    let sp = space(&[3, 3]);
    let n = 30_000;
    let mut s = strategy("random", &sp, ParamMap::new().with("dedup", false), 2024);
    let mut hist = [[0usize; 3]; 2];
    for _ in 0..n {
        let a = ask(&mut s);
        hist[0][a[0] as usize] += 1;
        hist[1][a[1] as usize] += 1;
    }
    for h in hist {
        let e = n as f64 / 3.0;
        let chi2: f64 = h.iter().map(|&x| (x as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 13.82, "chi2 = {chi2}, histogram {h:?}");
    }
}

#[test]
fn dedup_draws_uniformly_among_unproposed_architectures() {
    // The first proposal of a fresh strategy, over many seeds, is uniform over all 6
    // architectures; so is the last one (which exercises the walk over the rest).
    let sp = space(&[2, 3]);
    let runs = 6000;
    let mut first = [0usize; 6];
    let mut last = [0usize; 6];
    for seed in 0..runs {
        let mut s = strategy("random", &sp, ParamMap::new(), seed);
        let archs: Vec<_> = (0..6).map(|_| ask(&mut s)).collect();
        let idx = |a: &[u32]| (a[0] * 3 + a[1]) as usize;
        first[idx(&archs[0])] += 1;
        last[idx(&archs[5])] += 1;
    }
    // 5 degrees of freedom; 20.52 is the 0.999 quantile.
    for h in [first, last] {
        let e = runs as f64 / 6.0;
        let chi2: f64 = h.iter().map(|&x| (x as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 20.52, "chi2 = {chi2}, histogram {h:?}");
    }
}

#[test]
fn architecture_uniform_draws_differ_from_encoding_uniform_ones_on_nas_bench_graph() {
    // On NAS-Bench-Graph an architecture has 1 to 54 encodings. Encoding-uniform draws hit the
    // 14,608 single-encoding architectures with probability 14,608/59,040 ≈ 0.247, and
    // architecture-uniform draws with 14,608/26,206 ≈ 0.557. With 4,000 draws the standard
    // errors are below 0.008, so the 0.05 margins below are over 6 sigma.
    let sp = nas_bench_graph::space("cora").unwrap();
    let view = Space::new(&sp).unwrap();
    let mut count = std::collections::HashMap::new();
    for i in 0..view.encodings() {
        if let Some(id) = view.arch_id(&view.decode(i)) {
            *count.entry(id).or_insert(0usize) += 1;
        }
    }
    for (uniform, lo, hi) in [("encoding", 0.197, 0.297), ("architecture", 0.507, 0.607)] {
        let mut s = strategy(
            "random",
            &sp,
            ParamMap::new()
                .with("dedup", false)
                .with("uniform", uniform),
            11,
        );
        let n = 4000;
        let singles = (0..n)
            .filter(|_| count[&view.arch_id(&ask(&mut s)).unwrap()] == 1)
            .count() as f64
            / n as f64;
        assert!((lo..hi).contains(&singles), "{uniform}: {singles}");
    }
}

#[test]
fn tell_records_the_best_with_ties_going_to_the_first() {
    // The best is not visible through the ABI; check the plain type.
    let sp = space(&[3, 3]);
    let mut s = RandomSearch::new(&sp, true, Uniform::Encoding, RngSeed::from_u64(0)).unwrap();
    assert!(s.best().is_none());
    let obs = |a: &[u32], x: f64| Observation::new(a, x, 1.0);
    s.tell(&[obs(&[0, 1], 0.2), obs(&[2, 2], 0.7), obs(&[1, 0], 0.7)])
        .unwrap();
    s.tell(&[obs(&[1, 1], -3.0)]).unwrap();
    assert_eq!(s.best(), Some((&[2u32, 2][..], 0.7)));
    // A bad observation rejects the whole batch.
    assert!(s.tell(&[obs(&[0, 2], 9.0), obs(&[0, 3], 1.0)]).is_err());
    assert!(s.tell(&[obs(&[0], 1.0)]).is_err());
    assert!(s.tell(&[obs(&[0, 0], f64::NAN)]).is_err());
    assert_eq!(s.best(), Some((&[2u32, 2][..], 0.7)));
    assert_eq!(s.seen(), 4);
}

#[test]
fn bad_inputs_are_errors() {
    let m = crate::plugin_module();
    let make = |sp: &SearchSpace, p: ParamMap| {
        (m.new_nas_strategy())("random".into(), sp, &p, RngSeed::from_u64(0))
            .into_result()
            .err()
            .unwrap()
    };
    let e = make(&space(&[3, 0]), ParamMap::new());
    assert!(e.message().contains("choice_1"), "{e}");
    let e = make(&space(&[3]), ParamMap::new().with("dedup", 1.0));
    assert_eq!(e.kind, ErrorKind::InvalidParam);
    assert!(e.message().contains("`dedup`"), "{e}");
    let e = make(&space(&[3]), ParamMap::new().with("uniform", "classes"));
    assert_eq!(e.kind, ErrorKind::InvalidParam);
    assert!(e.message().contains("`uniform`"), "{e}");
    let mut s = strategy("random", &space(&[3]), ParamMap::new(), 0);
    let e = s
        .tell([Observation::new(&[5], 1.0, 1.0)].as_slice().into())
        .into_result()
        .unwrap_err();
    assert!(e.message().contains("choice_0"), "{e}");
}
