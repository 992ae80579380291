//! Tests for `regularized-evolution`.

use std::collections::HashSet;

use mosaic_abi::{ErrorKind, Observation, ParamMap, RngSeed, SearchStrategy};
use mosaic_nas::Space;

use super::RegularizedEvolution;
use crate::testutil::{ask, space, strategy, tell};

fn params(p: i64, s: i64) -> ParamMap {
    ParamMap::new()
        .with("population_size", p)
        .with("sample_size", s)
}

fn differs_in_one(a: &[u32], b: &[u32]) -> bool {
    a.iter().zip(b).filter(|(x, y)| x != y).count() == 1
}

#[test]
fn first_population_size_proposals_are_random_then_children_of_the_tournament_winner() {
    // With S = P every tournament sees the whole population, so each child is a neighbour of
    // the population's best member.
    let sp = space(&[4, 4, 4, 4]);
    let mut s = strategy("regularized-evolution", &sp, params(3, 3), 7);
    // Distinct scores (the base-4 value), so the best is unique.
    let score = |a: &[u32]| a.iter().fold(0.0, |acc, &x| acc * 4.0 + x as f64);
    let mut pop: Vec<(Vec<u32>, f64)> = Vec::new();
    for _ in 0..3 {
        let a = ask(&mut s);
        tell(&mut s, &a, score(&a));
        pop.push((a.clone(), score(&a)));
    }
    for _ in 0..30 {
        let best = pop
            .iter()
            .max_by(|x, y| x.1.total_cmp(&y.1))
            .unwrap()
            .0
            .clone();
        let child = ask(&mut s);
        assert!(differs_in_one(&child, &best), "{child:?} from {best:?}");
        tell(&mut s, &child, score(&child));
        pop.push((child.clone(), score(&child)));
        pop.remove(0); // aging: the oldest leaves
    }
}

#[test]
fn the_oldest_member_leaves_even_when_it_is_the_best() {
    let sp = space(&[3, 3]);
    let mut s = RegularizedEvolution::new(&sp, 2, 1, true, RngSeed::from_u64(0)).unwrap();
    let obs = |a: &[u32], x: f64| Observation::new(a, x, 1.0);
    s.tell(&[obs(&[0, 0], 0.9), obs(&[0, 1], 0.1)]).unwrap();
    s.tell(&[obs(&[1, 1], 0.2)]).unwrap();
    let pop: Vec<(Vec<u32>, f64)> = s.population().map(|(a, x)| (a.to_vec(), x)).collect();
    assert_eq!(pop, vec![(vec![0, 1], 0.1), (vec![1, 1], 0.2)]);
}

#[test]
fn tournaments_of_one_pick_parents_uniformly() {
    // S = 1: the parent is a uniform member, so over many seeds children descend from both
    // members of a two-member population about equally (each probability 1/2; 2,000 runs,
    // sd 0.011, bounds at ±0.07 are over 6 sigma).
    let sp = space(&[10, 10]);
    let mut near_first = 0usize;
    let runs = 2000;
    for seed in 0..runs {
        let mut s = RegularizedEvolution::new(&sp, 2, 1, true, RngSeed::from_u64(seed)).unwrap();
        let obs = |a: &[u32], x: f64| Observation::new(a, x, 1.0);
        s.tell(&[obs(&[0, 0], 0.9), obs(&[9, 9], 0.1)]).unwrap();
        s.asked = 2;
        let child = &s.ask(1).unwrap()[0];
        if differs_in_one(child, &[0, 0]) {
            near_first += 1;
        } else {
            assert!(differs_in_one(child, &[9, 9]));
        }
    }
    let p = near_first as f64 / runs as f64;
    assert!((0.43..0.57).contains(&p), "{p}");
}

#[test]
fn dedup_never_repeats_and_ends_exhausted() {
    let sp = space(&[3, 2, 2]);
    let view = Space::new(&sp).unwrap();
    let mut s = strategy("regularized-evolution", &sp, params(4, 2), 3);
    let mut seen = HashSet::new();
    for _ in 0..12 {
        let a = ask(&mut s);
        assert!(seen.insert(view.arch_id(&a).unwrap()), "{a:?} twice");
        tell(&mut s, &a, a[0] as f64);
    }
    assert_eq!(
        s.ask(1).into_result().unwrap_err().kind,
        ErrorKind::Exhausted
    );
}

#[test]
fn without_dedup_children_may_repeat_but_are_still_one_mutation_away() {
    let sp = space(&[2, 2]);
    let mut s = strategy(
        "regularized-evolution",
        &sp,
        params(1, 1).with("dedup", false),
        5,
    );
    let mut parent = ask(&mut s);
    tell(&mut s, &parent, 0.5);
    for _ in 0..20 {
        let c = ask(&mut s);
        assert!(differs_in_one(&c, &parent));
        tell(&mut s, &c, 0.5);
        parent = c; // population 1: the child replaces its parent
    }
}

#[test]
fn bad_parameters_are_errors() {
    let sp = space(&[3]);
    let m = crate::plugin_module();
    for (k, v) in [("population_size", 0i64), ("sample_size", 0)] {
        let e = (m.new_nas_strategy())(
            "regularized-evolution".into(),
            &sp,
            &ParamMap::new().with(k, v),
            RngSeed::from_u64(0),
        )
        .into_result()
        .err()
        .unwrap();
        assert_eq!(e.kind, ErrorKind::InvalidParam, "{e}");
        assert!(e.message().contains(k), "{e}");
    }
}
