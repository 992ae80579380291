use abi_stable::std_types::RSlice;
use mosaic_testkit::dp_mechanism::{binomial_within, empirical_privacy, exact_bin};

use super::*;

fn svt(epsilon: f64, threshold: f64, c: i64) -> mosaic_abi::MechanismBox {
    crate::mechanism(
        "sparse_vector",
        &ParamMap::new()
            .with("epsilon", epsilon)
            .with("threshold", threshold)
            .with("max_above", c),
    )
    .unwrap()
}

#[test]
fn hand_computed_scales() {
    let s = SparseVector::new(1.0, 0.0, 1, false)
        .unwrap()
        .scales(1.0)
        .unwrap();
    let d = s.grid.steps();
    assert_eq!(s.threshold, 2 * d);
    assert_eq!(s.query, 4 * d);
    let s = SparseVector::new(2.0, 0.0, 3, true)
        .unwrap()
        .scales(1.0)
        .unwrap();
    assert_eq!(s.query, 3 * s.grid.steps());
}

#[test]
fn one_query_is_reported_with_the_laplace_difference_probability() {
    // One query at the threshold's value: reported iff ν ≥ ρ, with ν ~ Lap(4), ρ ~ Lap(2)
    // (ε = 1, Δ = 1). For independent Laplace(a), Laplace(b): P(ν − ρ ≥ 0) = ½ exactly by
    // symmetry; 3 above the threshold: P(ρ − ν ≤ 3) = 1 − (a²e^{−3/a} − b²e^{−3/b})/(2(a² − b²)).
    let m = svt(1.0, 5.0, 1);
    let root = RngSeed::from_u64(1);
    let n = 20_000;
    for (answer, p) in [
        (5.0, 0.5),
        (
            8.0,
            1.0 - (16.0 * (-0.75f64).exp() - 4.0 * (-1.5f64).exp()) / (2.0 * 12.0),
        ),
    ] {
        let hits = (0..n)
            .filter(|&i| {
                let out = m
                    .release(RSlice::from_slice(&[answer]), 1.0, root.derive(i))
                    .into_result()
                    .unwrap();
                !out.is_empty()
            })
            .count() as u64;
        assert!(binomial_within(hits, n, p), "{answer}: {hits} vs {p}");
    }
}

#[test]
fn the_run_halts_after_max_above_positives() {
    let m = svt(100.0, 0.0, 2);
    let out = m
        .release(
            RSlice::from_slice(&[-50.0, 50.0, 50.0, 50.0, -50.0]),
            1.0,
            RngSeed::from_u64(2),
        )
        .into_result()
        .unwrap();
    assert_eq!(out.indices().unwrap(), &[1, 2]);
    let e = crate::mechanism(
        "sparse_vector",
        &ParamMap::new()
            .with("epsilon", 1.0)
            .with("threshold", f64::INFINITY),
    )
    .err()
    .unwrap();
    assert!(e.message().contains("`threshold`"), "{e}");
}

#[test]
fn empirical_privacy_on_neighbouring_answers() {
    let m = svt(1.0, 1.0, 1);
    let (x, y) = ([0.0, 1.0, 2.0], [1.0, 2.0, 1.0]);
    let check = empirical_privacy(&m, &x, &y, 1.0, 1.0, 0.0, 20_000, 3, exact_bin).unwrap();
    assert!(check.epsilon_lower_bound > 0.05, "{check:?}");
}
