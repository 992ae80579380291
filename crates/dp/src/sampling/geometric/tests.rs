use mosaic_abi::RngSeed;
use mosaic_testkit::dp_mechanism::{chi_square_critical, chi_square_pmf};

use super::*;

#[test]
fn geometric_pmf_matches_closed_form() {
    let n = 30_000;
    for (seed, (s, t)) in [(1u64, (1u64, 1u64)), (2, (1, 3)), (3, (5, 2)), (4, (2, 7))] {
        let gamma = s as f64 / t as f64;
        let mut b = Bits::from_seed(&RngSeed::from_u64(seed));
        let rate = Rational::new(s, t).unwrap();
        let samples: Vec<i64> = (0..n)
            .map(|_| geometric(&mut b, rate).unwrap() as i64)
            .collect();
        let pmf = |x: i64| {
            if x < 0 {
                0.0
            } else {
                (1.0 - (-gamma).exp()) * (-gamma * x as f64).exp()
            }
        };
        let (chi, df) = chi_square_pmf(&samples, 0, pmf);
        assert!(
            chi < chi_square_critical(df),
            "rate {s}/{t}: {chi} ({df} df)"
        );
        // Power: the same samples reject a 15% faster rate.
        let wrong = |x: i64| {
            if x < 0 {
                0.0
            } else {
                (1.0 - (-1.15 * gamma).exp()) * (-1.15 * gamma * x as f64).exp()
            }
        };
        let (chi, df) = chi_square_pmf(&samples, 0, wrong);
        assert!(
            chi > chi_square_critical(df),
            "rate {s}/{t}: wrong rate accepted"
        );
    }
    let e = geometric(&mut Bits::from_seed(&RngSeed::from_u64(0)), Rational::ZERO).unwrap_err();
    assert!(e.to_string().contains("`rate`"), "{e}");
}
