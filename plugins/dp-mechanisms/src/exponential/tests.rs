use mosaic_testkit::dp_mechanism::{chi_square, chi_square_critical, empirical_privacy, exact_bin};

use super::*;
use crate::test_support::counts;

fn softmax(scores: &[f64], scale: f64) -> Vec<f64> {
    let w: Vec<f64> = scores.iter().map(|u| (u * scale).exp()).collect();
    let z: f64 = w.iter().sum();
    w.iter().map(|x| x / z).collect()
}

#[test]
fn selection_probabilities_are_exp_eps_u_over_two_delta() {
    let scores = [1.0, 2.0, 0.5, 2.0, -1.0];
    for (monotonic, scale) in [(false, 0.5), (true, 1.0)] {
        // ε = 1, Δ = 1: P ∝ exp(u/2), or exp(u) for monotonic scores.
        let m = crate::mechanism(
            "exponential",
            &ParamMap::new()
                .with("epsilon", 1.0)
                .with("monotonic", monotonic),
        )
        .unwrap();
        let c = counts(&m, &scores, 20_000, 1);
        // On the grid the exponent is u·ε/(f·Δ) times 2^32/(2^32 + 1): within 2^-32 of ideal.
        let (chi, df) = chi_square(&c, &softmax(&scores, scale));
        assert!(chi < chi_square_critical(df), "{monotonic}: {c:?}");
        let (chi, df) = chi_square(&c, &softmax(&scores, scale * 1.25));
        assert!(chi > chi_square_critical(df), "{monotonic}: power");
    }
}

#[test]
fn hand_computed_temperature() {
    // Δ = 1, ε = 1: k = -32, D = 2^32 + 1, T = ⌈2D/ε⌉ = 2^33 + 2.
    let (grid, t) = Exponential::new(1.0, false)
        .unwrap()
        .temperature(1.0)
        .unwrap();
    assert_eq!(grid.steps(), (1 << 32) + 1);
    assert_eq!(t, (1 << 33) + 2);
    let (_, t) = Exponential::new(0.5, true)
        .unwrap()
        .temperature(1.0)
        .unwrap();
    assert_eq!(t, (1 << 33) + 2);
}

#[test]
fn empirical_privacy_on_neighbouring_scores() {
    // Neighbours: each score moves by at most 1.
    let m = crate::mechanism("exponential", &ParamMap::new().with("epsilon", 1.0)).unwrap();
    let x = [0.0, 1.0, 2.0];
    let y = [1.0, 0.0, 1.0];
    let check = empirical_privacy(&m, &x, &y, 1.0, 1.0, 0.0, 20_000, 3, exact_bin).unwrap();
    assert!(check.epsilon_lower_bound > 0.5, "{check:?}");
    assert!(empirical_privacy(&m, &x, &y, 1.0, 0.25, 0.0, 20_000, 3, exact_bin).is_err());
}
