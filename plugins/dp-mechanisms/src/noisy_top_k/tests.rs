use abi_stable::std_types::RSlice;
use mosaic_testkit::dp_mechanism::{chi_square, chi_square_critical, empirical_privacy, exact_bin};

use super::*;

fn top_k(epsilon: f64, k: i64) -> mosaic_abi::MechanismBox {
    crate::mechanism(
        "noisy_top_k",
        &ParamMap::new().with("epsilon", epsilon).with("k", k),
    )
    .unwrap()
}

#[test]
fn ordered_pairs_follow_the_peeling_probabilities() {
    // Three candidates, k = 2, ε = 2 (ε/k = 1 per round, P ∝ exp(u/2)).
    let scores = [0.0, 1.0, 2.0];
    let m = top_k(2.0, 2);
    let w: Vec<f64> = scores.iter().map(|u: &f64| (u / 2.0).exp()).collect();
    let mut probs = Vec::new();
    let mut cells = Vec::new();
    for a in 0..3 {
        for b in 0..3 {
            if a != b {
                let total: f64 = w.iter().sum();
                probs.push(w[a] / total * w[b] / (total - w[a]));
                cells.push((a as u64, b as u64));
            }
        }
    }
    let mut counts = vec![0u64; cells.len()];
    let root = RngSeed::from_u64(4);
    for i in 0..20_000 {
        let out = m
            .release(RSlice::from_slice(&scores), 1.0, root.derive(i))
            .into_result()
            .unwrap();
        let ix = out.indices().unwrap();
        assert_eq!(ix.len(), 2);
        counts[cells.iter().position(|&c| c == (ix[0], ix[1])).unwrap()] += 1;
    }
    let (chi, df) = chi_square(&counts, &probs);
    assert!(chi < chi_square_critical(df), "{counts:?}");
}

#[test]
fn k_must_fit_the_candidates() {
    let e = top_k(1.0, 4)
        .release(RSlice::from_slice(&[1.0, 2.0]), 1.0, RngSeed::from_u64(0))
        .into_result()
        .unwrap_err();
    assert!(e.message().contains("`k`"), "{e}");
    let e = crate::mechanism(
        "noisy_top_k",
        &ParamMap::new().with("epsilon", 1.0).with("k", 0i64),
    )
    .err()
    .unwrap();
    assert!(e.message().contains("`k`"), "{e}");
    // Each round's temperature is k times the exponential mechanism's.
    let (_, t1) = crate::exponential::Exponential::new(1.0, false)
        .unwrap()
        .temperature(1.0)
        .unwrap();
    let (_, t3) = NoisyTopK::new(3.0, 3, false)
        .unwrap()
        .temperature(1.0)
        .unwrap();
    assert_eq!(t1, t3);
}

#[test]
fn empirical_privacy_on_neighbouring_scores() {
    let m = top_k(1.0, 2);
    let (x, y) = ([0.0, 1.0, 2.0], [1.0, 0.0, 1.0]);
    let check = empirical_privacy(&m, &x, &y, 1.0, 1.0, 0.0, 20_000, 3, exact_bin).unwrap();
    assert!(check.epsilon_lower_bound > 0.1, "{check:?}");
}
