use mosaic_testkit::dp_mechanism::{chi_square, chi_square_critical, empirical_privacy, exact_bin};

use super::*;
use crate::test_support::counts;

/// The exact permute-and-flip distribution by enumerating all orders (small n): the
/// probability that `r` is released is Σ over orders of Π_{s before r} (1 − p_s) · p_r.
fn pf_probabilities(scores: &[f64], scale: f64) -> Vec<f64> {
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p: Vec<f64> = scores.iter().map(|u| ((u - best) * scale).exp()).collect();
    let n = scores.len();
    let mut out = vec![0.0; n];
    let mut perm: Vec<usize> = (0..n).collect();
    let mut total = 0.0;
    permute(&mut perm, 0, &mut |order| {
        total += 1.0;
        let mut none_yet = 1.0;
        for &r in order {
            out[r] += none_yet * p[r];
            none_yet *= 1.0 - p[r];
        }
    });
    out.iter().map(|x| x / total).collect()
}

fn permute(v: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
    if k == v.len() {
        f(v);
        return;
    }
    for i in k..v.len() {
        v.swap(k, i);
        permute(v, k + 1, f);
        v.swap(k, i);
    }
}

#[test]
fn selection_probabilities_match_the_enumerated_distribution() {
    let scores = [1.0, 3.0, 2.0, 0.0];
    let m = crate::mechanism("permute_and_flip", &ParamMap::new().with("epsilon", 1.0)).unwrap();
    let c = counts(&m, &scores, 20_000, 2);
    let (chi, df) = chi_square(&c, &pf_probabilities(&scores, 0.5));
    assert!(chi < chi_square_critical(df), "{c:?}");
    // Hand check of the enumeration: two candidates 0 and 1 at scale ½: the worse one is
    // released only if visited first and its coin (e^{-1/2}) lands: ½ e^{-1/2}.
    let two = pf_probabilities(&[0.0, 1.0], 0.5);
    assert!((two[0] - 0.5 * (-0.5f64).exp()).abs() < 1e-15);
    // Power: the exponential mechanism's distribution is rejected here.
    let w: Vec<f64> = scores.iter().map(|u| (u * 0.5f64).exp()).collect();
    let z: f64 = w.iter().sum();
    let em: Vec<f64> = w.iter().map(|x| x / z).collect();
    let (chi, df) = chi_square(&c, &em);
    assert!(chi > chi_square_critical(df), "{c:?}");
}

#[test]
fn empirical_privacy_on_neighbouring_scores() {
    let m = crate::mechanism("permute_and_flip", &ParamMap::new().with("epsilon", 1.0)).unwrap();
    let (x, y) = ([0.0, 1.0, 2.0], [1.0, 0.0, 1.0]);
    let check = empirical_privacy(&m, &x, &y, 1.0, 1.0, 0.0, 20_000, 3, exact_bin).unwrap();
    assert!(check.epsilon_lower_bound > 0.25, "{check:?}");
}
