use abi_stable::std_types::RSlice;
use mosaic_abi::ErrorKind;
use mosaic_testkit::dp_mechanism::{chi_square, chi_square_critical, empirical_privacy, exact_bin};

use super::*;

fn rr(epsilon: f64, k: i64) -> mosaic_abi::MechanismBox {
    crate::mechanism(
        "randomized_response",
        &ParamMap::new()
            .with("epsilon", epsilon)
            .with("domain_size", k),
    )
    .unwrap()
}

#[test]
fn kept_and_flipped_frequencies_match_warner_and_kairouz() {
    let n = 30_000;
    for (eps, k, truth) in [(1.0, 2i64, 1.0), (0.5, 4, 2.0), (2.0, 5, 0.0)] {
        let out = rr(eps, k)
            .release(
                RSlice::from_slice(&vec![truth; n]),
                1.0,
                RngSeed::from_u64(k as u64),
            )
            .into_result()
            .unwrap();
        let mut counts = vec![0u64; k as usize];
        for &y in out.integers().unwrap() {
            counts[y as usize] += 1;
        }
        let e = f64::exp(eps);
        let p: Vec<f64> = (0..k)
            .map(|y| if y as f64 == truth { e } else { 1.0 } / (e + (k - 1) as f64))
            .collect();
        let (chi, df) = chi_square(&counts, &p);
        assert!(chi < chi_square_critical(df), "eps {eps} k {k}: {counts:?}");
    }
    // Hand value: binary at ε = ln 3 keeps with probability 3/4.
    let p = RandomizedResponse::new(3f64.ln(), 2)
        .unwrap()
        .keep_probability(1.0)
        .unwrap();
    assert!((p - 0.75).abs() < 1e-15, "{p}");
}

#[test]
fn two_records_per_person_halve_each_epsilon() {
    let m = RandomizedResponse::new(1.0, 2).unwrap();
    assert_eq!(m.record_epsilon(2.0).unwrap().to_f64(), 0.5);
    assert_eq!(m.record_epsilon(1.5).unwrap().to_f64(), 0.5);
}

#[test]
fn empirical_privacy_on_one_record() {
    let m = rr(1.0, 3);
    let check = empirical_privacy(&m, &[0.0], &[2.0], 1.0, 1.0, 0.0, 20_000, 6, exact_bin).unwrap();
    // Randomized response meets ε exactly: the bins prove most of it.
    assert!(check.epsilon_lower_bound > 0.8, "{check:?}");
    assert!(empirical_privacy(&m, &[0.0], &[2.0], 1.0, 0.5, 0.0, 20_000, 6, exact_bin).is_err());
}

#[test]
fn categories_are_checked() {
    for bad in [2.0, -1.0, 0.5] {
        let e = rr(1.0, 2)
            .release(RSlice::from_slice(&[0.0, bad]), 1.0, RngSeed::from_u64(0))
            .into_result()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message().contains("index 1"), "{e}");
    }
}
