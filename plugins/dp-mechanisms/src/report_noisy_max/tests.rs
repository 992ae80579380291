use mosaic_testkit::dp_mechanism::{binomial_within, empirical_privacy, exact_bin};

use super::*;
use crate::test_support::counts;

#[test]
fn two_candidates_win_with_the_laplace_difference_probability() {
    // Two scores 0 and 1, ε = 1, Δ = 1: noise Lap(2) on each. P(second wins) =
    // P(L1 − L2 < 1) for independent Lap(2): 1 − ½ e^{−1/2}(1 + 1/4) = 0.620935...
    let m = crate::mechanism("report_noisy_max", &ParamMap::new().with("epsilon", 1.0)).unwrap();
    let c = counts(&m, &[0.0, 1.0], 20_000, 1);
    let p = 1.0 - 0.5 * (-0.5f64).exp() * 1.25;
    assert!(binomial_within(c[1], 20_000, p), "{c:?} vs {p}");
}

#[test]
fn hand_computed_scale() {
    let (grid, t) = ReportNoisyMax::new(2.0, false).unwrap().scale(1.0).unwrap();
    // T = ⌈2D/2⌉ = D.
    assert_eq!(t, grid.steps());
    let (grid, t) = ReportNoisyMax::new(1.0, true).unwrap().scale(1.0).unwrap();
    assert_eq!(t, grid.steps());
}

#[test]
fn empirical_privacy_on_neighbouring_scores() {
    let m = crate::mechanism("report_noisy_max", &ParamMap::new().with("epsilon", 1.0)).unwrap();
    let (x, y) = ([0.0, 1.0, 2.0], [1.0, 0.0, 1.0]);
    let check = empirical_privacy(&m, &x, &y, 1.0, 1.0, 0.0, 20_000, 3, exact_bin).unwrap();
    assert!(check.epsilon_lower_bound > 0.25, "{check:?}");
}
