use mosaic_abi::RngSeed;
use mosaic_testkit::dp_mechanism::{chi_square, chi_square_critical};

use super::*;

#[test]
fn exp_weighted_index_has_softmax_probabilities() {
    let mut b = Bits::from_seed(&RngSeed::from_u64(1));
    for (gaps_, t) in [
        (vec![0u128, 1, 2, 3], 1u64),
        (vec![5, 0, 5, 10, 1], 4),
        (vec![0, 0], 7),
        (vec![0, 1u128 << 80], 3), // the second is never drawn in practice
    ] {
        let n = 30_000;
        let mut counts = vec![0u64; gaps_.len()];
        for _ in 0..n {
            counts[exp_weighted_index(&mut b, &gaps_, t)] += 1;
        }
        let w: Vec<f64> = gaps_
            .iter()
            .map(|&g| (-(g as f64) / t as f64).exp())
            .collect();
        let z: f64 = w.iter().sum();
        let p: Vec<f64> = w.iter().map(|x| x / z).collect();
        let (chi, df) = chi_square(&counts, &p);
        assert!(chi < chi_square_critical(df), "{gaps_:?}/{t}: {counts:?}");
    }
    assert_eq!(gaps(&[3, -1, 3, 7]), vec![4, 8, 4, 0]);
}
