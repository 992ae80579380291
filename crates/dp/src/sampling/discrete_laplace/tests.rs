use mosaic_abi::RngSeed;
use mosaic_testkit::dp_mechanism::{chi_square_critical, chi_square_pmf};

use super::*;

/// The closed-form pmf of the discrete Laplace distribution with scale `t`.
fn pmf(t: f64, y: i64) -> f64 {
    let q = (-1.0 / t).exp();
    (1.0 - q) / (1.0 + q) * q.powi(y.unsigned_abs() as i32)
}

#[test]
fn discrete_laplace_pmf_matches_closed_form() {
    let n = 30_000;
    for (seed, (num, den)) in [(4u64, (2u64, 1u64)), (5, (3, 2)), (6, (1, 3)), (7, (25, 2))] {
        let t = num as f64 / den as f64;
        let scale = Rational::new(num, den).unwrap();
        let mut b = Bits::from_seed(&RngSeed::from_u64(seed));
        let samples: Vec<i64> = (0..n)
            .map(|_| discrete_laplace(&mut b, scale).unwrap() as i64)
            .collect();
        let (chi, df) = chi_square_pmf(&samples, 0, |y| pmf(t, y));
        assert!(
            chi < chi_square_critical(df),
            "scale {num}/{den}: chi-square {chi} with {df} df"
        );
        // The test has power: the same samples reject a 20% larger scale.
        let (chi, df) = chi_square_pmf(&samples, 0, |y| pmf(1.2 * t, y));
        assert!(chi > chi_square_critical(df), "scale {num}/{den}: {chi}");
    }
}

#[test]
fn discrete_laplace_rejects_zero_scale() {
    let mut b = Bits::from_seed(&RngSeed::from_u64(0));
    let e = discrete_laplace(&mut b, Rational::ZERO).unwrap_err();
    assert!(e.to_string().contains("`scale`"), "{e}");
}

#[test]
fn same_seed_same_draws_different_seed_different_draws() {
    let scale = Rational::new(7, 2).unwrap();
    let draw = |seed| -> Vec<i128> {
        let mut b = Bits::from_seed(&RngSeed::from_u64(seed));
        (0..64)
            .map(|_| discrete_laplace(&mut b, scale).unwrap())
            .collect()
    };
    assert_eq!(draw(9), draw(9));
    assert_ne!(draw(9), draw(10));
}
