//! Tests for `local-search`.

use std::collections::HashSet;

use mosaic_abi::{ErrorKind, ParamMap};
use mosaic_nas::Space;

use crate::testutil::{ask, space, strategy, tell};

/// A unimodal landscape on 5^3: minus the L1 distance to (4, 0, 2).
fn score(a: &[u32]) -> f64 {
    -((a[0] as f64 - 4.0).abs() + (a[1] as f64).abs() + (a[2] as f64 - 2.0).abs())
}

fn differs_in_one(a: &[u32], b: &[u32]) -> bool {
    a.iter().zip(b).filter(|(x, y)| x != y).count() == 1
}

#[test]
fn climbs_a_unimodal_landscape_to_its_optimum_through_neighbours() {
    for first in [true, false] {
        let sp = space(&[5, 5, 5]);
        let p = ParamMap::new()
            .with("initial", 1i64)
            .with("first_improvement", first);
        let mut s = strategy("local-search", &sp, p, 2);
        let mut current = ask(&mut s);
        tell(&mut s, &current, score(&current));
        let mut steps = 0;
        while score(&current) < 0.0 {
            let a = ask(&mut s);
            assert!(
                differs_in_one(&a, &current),
                "{a:?} is not a neighbour of {current:?}"
            );
            tell(&mut s, &a, score(&a));
            if first && score(&a) > score(&current) {
                current = a;
            } else if !first {
                // Best improvement: move only once the 12 neighbours are all evaluated.
                let mut nb = vec![a.clone()];
                for _ in 0..11 {
                    let b = ask(&mut s);
                    assert!(differs_in_one(&b, &current));
                    tell(&mut s, &b, score(&b));
                    nb.push(b);
                }
                let best = nb
                    .into_iter()
                    .max_by(|x, y| score(x).total_cmp(&score(y)))
                    .unwrap();
                assert!(score(&best) > score(&current));
                current = best;
            }
            steps += 1;
            assert!(steps < 200);
        }
        assert_eq!(current, vec![4, 0, 2]);
    }
}

#[test]
fn restarts_at_a_local_optimum_and_never_repeats() {
    // A flat landscape: no neighbour ever improves, so every neighbourhood ends in a restart;
    // the whole space is proposed once, then the strategy is exhausted.
    let sp = space(&[3, 3]);
    let view = Space::new(&sp).unwrap();
    let mut s = strategy(
        "local-search",
        &sp,
        ParamMap::new().with("initial", 2i64),
        9,
    );
    let mut seen = HashSet::new();
    for _ in 0..9 {
        let a = ask(&mut s);
        assert!(seen.insert(view.arch_id(&a).unwrap()));
        tell(&mut s, &a, 0.0);
    }
    assert_eq!(
        s.ask(1).into_result().unwrap_err().kind,
        ErrorKind::Exhausted
    );
}

#[test]
fn batches_fill_with_neighbours_first() {
    let sp = space(&[5, 5, 5]);
    let mut s = strategy(
        "local-search",
        &sp,
        ParamMap::new().with("initial", 1i64),
        4,
    );
    let start = ask(&mut s);
    tell(&mut s, &start, -100.0);
    let batch: Vec<Vec<u32>> = s
        .ask(5)
        .into_result()
        .unwrap()
        .into_iter()
        .map(|a| a.to_vec())
        .collect();
    assert_eq!(batch.len(), 5);
    for a in &batch {
        assert!(differs_in_one(a, &start));
    }
}
