use mosaic_abi::RngSeed;

use super::*;
use mosaic_testkit::dp_mechanism::{chi_square_critical, chi_square_uniform};

fn bits(seed: u64) -> Bits {
    Bits::from_seed(&RngSeed::from_u64(seed))
}

#[test]
fn uniform_below_is_flat_by_chi_square() {
    let mut b = bits(1);
    for n in [3u128, 7, 10, 33] {
        let mut counts = vec![0u64; n as usize];
        for _ in 0..(3000 * n) {
            counts[uniform_below(&mut b, n) as usize] += 1;
        }
        let chi = chi_square_uniform(&counts);
        assert!(chi < chi_square_critical((n - 1) as f64), "n = {n}: {chi}");
    }
    assert_eq!(uniform_below(&mut b, 1), 0);
}

#[test]
fn uniform_below_uses_the_high_word_beyond_u64() {
    let mut b = bits(2);
    // Below 3 · 2^64, two thirds of the outcomes exceed u64::MAX (binomial, 300 draws: 6 sd
    // is ±49 around 200).
    let big = 3u128 << 64;
    let above = (0..300)
        .map(|_| uniform_below(&mut b, big))
        .inspect(|&x| assert!(x < big))
        .filter(|&x| x > u64::MAX as u128)
        .count();
    assert!(above > 151 && above < 249, "{above}");
}

#[test]
fn lazy_permutation_is_a_uniform_permutation() {
    let mut b = bits(3);
    // All 24 permutations of 4 items, 24 000 draws: chi-square against uniform.
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..24_000 {
        let mut p = LazyPermutation::new(4);
        let perm: Vec<usize> = std::iter::from_fn(|| p.next(&mut b)).collect();
        *counts.entry(perm).or_insert(0u64) += 1;
    }
    assert_eq!(counts.len(), 24);
    let counts: Vec<u64> = counts.into_values().collect();
    let chi = chi_square_uniform(&counts);
    assert!(chi < chi_square_critical(23.0), "{chi}");
    let mut p = LazyPermutation::new(0);
    assert_eq!(p.next(&mut b), None);
}
