//! Tests for `random`, through the ABI (the plugin's root module) unless noted.

use std::collections::HashSet;

use mosaic_abi::{Choice, ErrorKind, ParamMap, RngSeed, SearchSpace, SearchStrategyBox};

use super::RandomSearch;
use mosaic_abi::SearchStrategy;

fn space(sizes: &[usize]) -> SearchSpace {
    SearchSpace {
        choices: sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Choice {
                name: format!("choice_{i}").into(),
                options: (0..n).map(|o| format!("op_{o}").into()).collect(),
            })
            .collect(),
    }
}

fn strategy(space: &SearchSpace, params: ParamMap, seed: u64) -> SearchStrategyBox {
    let m = crate::plugin_module();
    (m.new_nas_strategy())("random".into(), space, &params, RngSeed::from_u64(seed))
        .into_result()
        .unwrap()
}

fn ask(s: &mut SearchStrategyBox) -> Vec<u32> {
    s.ask().into_result().unwrap().to_vec()
}

#[test]
fn same_seed_same_sequence() {
    let sp = space(&[3, 5, 2, 7, 4]);
    for dedup in [true, false] {
        let p = ParamMap::new().with("dedup", dedup);
        let mut a = strategy(&sp, p.clone(), 9);
        let mut b = strategy(&sp, p.clone(), 9);
        let mut c = strategy(&sp, p, 10);
        let xs: Vec<_> = (0..50).map(|_| ask(&mut a)).collect();
        let ys: Vec<_> = (0..50).map(|_| ask(&mut b)).collect();
        let zs: Vec<_> = (0..50).map(|_| ask(&mut c)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }
}

#[test]
fn every_proposal_is_valid() {
    let sp = space(&[1, 4, 9, 2, 3, 6]);
    for dedup in [true, false] {
        let mut s = strategy(&sp, ParamMap::new().with("dedup", dedup), 3);
        for _ in 0..300 {
            let a = ask(&mut s);
            sp.check(&a).unwrap();
            s.tell(a.as_slice().into(), 0.5).into_result().unwrap();
        }
    }
}

#[test]
fn dedup_enumerates_a_small_space_exactly_once_then_reports_exhaustion() {
    // Default parameters: dedup = true.
    let sp = space(&[3, 2, 4]);
    let mut s = strategy(&sp, ParamMap::new(), 5);
    let mut seen = HashSet::new();
    for _ in 0..24 {
        let a = ask(&mut s);
        sp.check(&a).unwrap();
        assert!(seen.insert(a.clone()), "{a:?} proposed twice");
    }
    assert_eq!(seen.len(), 24);
    let e = s.ask().into_result().unwrap_err();
    assert!(e.message().contains("exhausted"), "{e}");
    assert!(e.message().contains("24"), "{e}");
}

#[test]
fn dedup_on_a_huge_space_does_not_enumerate_it() {
    // 10^30 architectures: a walk over the space would never end.
    let sp = space(&[10; 30]);
    assert_eq!(sp.size(), 10u128.pow(30));
    let mut s = strategy(&sp, ParamMap::new(), 1);
    let set: HashSet<_> = (0..1000).map(|_| ask(&mut s)).collect();
    assert_eq!(set.len(), 1000);
}

#[test]
fn the_empty_space_has_one_architecture() {
    let sp = SearchSpace::default();
    let mut s = strategy(&sp, ParamMap::new(), 1);
    assert_eq!(ask(&mut s), Vec::<u32>::new());
    assert!(s.ask().into_result().is_err());
    let mut s = strategy(&sp, ParamMap::new().with("dedup", false), 1);
    assert_eq!(ask(&mut s), Vec::<u32>::new());
    assert_eq!(ask(&mut s), Vec::<u32>::new());
}

#[test]
fn options_of_a_three_way_choice_are_uniform() {
    // Chi-square goodness of fit with 2 degrees of freedom; 13.82 is the 0.999 quantile.
    let sp = space(&[3, 3]);
    let n = 30_000;
    let mut s = strategy(&sp, ParamMap::new().with("dedup", false), 2024);
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
        let mut s = strategy(&sp, ParamMap::new(), seed);
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
fn tell_records_the_best_with_ties_going_to_the_first() {
    // The best is not visible through the ABI; check the plain type.
    let sp = space(&[3, 3]);
    let mut s = RandomSearch::new(&sp, true, RngSeed::from_u64(0)).unwrap();
    assert!(s.best().is_none());
    s.tell(&[0, 1], 0.2).unwrap();
    s.tell(&[2, 2], 0.7).unwrap();
    s.tell(&[1, 0], 0.7).unwrap();
    s.tell(&[1, 1], -3.0).unwrap();
    assert_eq!(s.best(), Some((&[2u32, 2][..], 0.7)));
    assert!(s.tell(&[0, 3], 1.0).is_err());
    assert!(s.tell(&[0], 1.0).is_err());
    assert!(s.tell(&[0, 0], f64::NAN).is_err());
    assert_eq!(s.best(), Some((&[2u32, 2][..], 0.7)));
}

#[test]
fn bad_inputs_are_errors() {
    let m = crate::plugin_module();
    let e = (m.new_nas_strategy())(
        "random".into(),
        &space(&[3, 0]),
        &ParamMap::new(),
        RngSeed::from_u64(0),
    )
    .into_result()
    .err()
    .unwrap();
    assert!(e.message().contains("choice_1"), "{e}");
    let e = (m.new_nas_strategy())(
        "random".into(),
        &space(&[3]),
        &ParamMap::new().with("dedup", 1.0),
        RngSeed::from_u64(0),
    )
    .into_result()
    .err()
    .unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidParam);
    assert!(e.message().contains("`dedup`"), "{e}");
    let mut s = strategy(&space(&[3]), ParamMap::new(), 0);
    let e = s
        .tell([5u32].as_slice().into(), 1.0)
        .into_result()
        .unwrap_err();
    assert!(e.message().contains("choice_0"), "{e}");
}
