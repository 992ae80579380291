//! Tests for `cmab-nas`.

use std::collections::HashSet;

use mosaic_abi::{ErrorKind, Observation, ParamMap, RngSeed, SearchStrategy};
use mosaic_nas::Space;

use super::CmabNas;
use crate::testutil::{ask, space, strategy, tell};

fn plain(sizes: &[usize], params: ParamMap, seed: u64) -> CmabNas {
    let p = params
        .resolve(&super::descriptor().params, mosaic_abi::ParamScope::Global)
        .unwrap();
    CmabNas::from_params(&space(sizes), &p, RngSeed::from_u64(seed)).unwrap()
}

fn score(a: &[u32]) -> f64 {
    // Additive, with a unique best option per choice: 2, 0, 1.
    let w = [[0.1, 0.2, 0.9], [0.8, 0.3, 0.1], [0.2, 0.7, 0.4]];
    a.iter().enumerate().map(|(j, &o)| w[j][o as usize]).sum()
}

#[test]
fn level_one_nmcs_tries_every_option_of_a_choice_then_follows_the_best() {
    let mut s = plain(&[3, 3, 3], ParamMap::new(), 7);
    // Step 0 of the first run: one playout per option of choice 0, asked together.
    let step0 = s.ask(10).unwrap();
    assert_eq!(step0.len(), 3);
    let firsts: HashSet<u32> = step0.iter().map(|a| a[0]).collect();
    assert_eq!(firsts, HashSet::from([0, 1, 2]));
    let obs: Vec<Observation> = step0
        .iter()
        .map(|a| Observation::new(a, score(a), 1.0))
        .collect();
    s.tell(&obs).unwrap();
    let best = step0
        .iter()
        .max_by(|a, b| score(a).total_cmp(&score(b)))
        .unwrap()
        .clone();
    // Step 1: the best sequence's first option is played; one playout per option of choice 1
    // (those that reach an architecture already evaluated need no query).
    let step1 = s.ask(10).unwrap();
    assert!(!step1.is_empty() && step1.len() <= 3);
    for a in &step1 {
        assert_eq!(a[0], best[0], "{a:?} after {best:?}");
    }
    let seconds: HashSet<u32> = step1.iter().map(|a| a[1]).collect();
    assert_eq!(seconds.len(), step1.len());
}

#[test]
fn local_statistics_are_the_mean_reward_of_each_option() {
    let mut s = plain(&[2, 2], ParamMap::new(), 1);
    let o = |a: &[u32], x: f64| Observation::new(a, x, 1.0);
    s.tell(&[o(&[0, 0], 0.2), o(&[0, 1], 0.6), o(&[1, 1], 1.0)])
        .unwrap();
    // Telling an architecture again does not count twice.
    s.tell(&[o(&[1, 1], 1.0)]).unwrap();
    let m = s.local_means();
    assert_eq!(m[0][0], (2, 0.4));
    assert_eq!(m[0][1], (1, 1.0));
    assert_eq!(m[1][0], (1, 0.2));
    assert_eq!(m[1][1], (2, 0.8));
}

#[test]
fn finds_the_optimum_of_an_additive_landscape_quickly() {
    // 27 architectures; CMAB-NAS at level 1 must reach the optimum (2, 0, 1) within 15
    // queries for every one of these seeds.
    for seed in 0..10 {
        let mut s = strategy("cmab-nas", &space(&[3, 3, 3]), ParamMap::new(), seed);
        let mut found = false;
        for _ in 0..15 {
            let a = ask(&mut s);
            tell(&mut s, &a, score(&a));
            found |= a == [2, 0, 1];
        }
        assert!(found, "seed {seed}");
    }
}

#[test]
fn every_level_never_repeats_and_ends_exhausted() {
    for level in 0..=2i64 {
        let sp = space(&[2, 3, 2]);
        let view = Space::new(&sp).unwrap();
        let mut s = strategy("cmab-nas", &sp, ParamMap::new().with("level", level), 2);
        let mut seen = HashSet::new();
        for _ in 0..12 {
            let a = ask(&mut s);
            assert!(
                seen.insert(view.arch_id(&a).unwrap()),
                "level {level}: {a:?} twice"
            );
            tell(&mut s, &a, score(&[a[0], a[1] % 3, a[2]]));
        }
        assert_eq!(
            s.ask(1).into_result().unwrap_err().kind,
            ErrorKind::Exhausted
        );
    }
}
