use mosaic_abi::RngSeed;
use mosaic_testkit::dp_mechanism::{
    binomial_within, chi_square_critical, chi_square_pmf, dkw_critical, ks_statistic, normal_cdf,
};

use super::*;

fn bits(seed: u64) -> Bits {
    Bits::from_seed(&RngSeed::from_u64(seed))
}

/// The discrete Gaussian pmf with parameter σ, normalised by direct summation.
fn pmf(sigma: f64) -> impl Fn(i64) -> f64 {
    let w = move |y: i64| (-(y as f64).powi(2) / (2.0 * sigma * sigma)).exp();
    let reach = (40.0 * sigma) as i64 + 10;
    let z: f64 = (-reach..=reach).map(w).sum();
    move |y| w(y) / z
}

#[test]
fn banded_sampler_matches_the_pmf() {
    let n = 30_000;
    for (seed, (a, b)) in [
        (1u64, (1u64, 2u64)),
        (2, (1, 1)),
        (3, (3, 2)),
        (4, (3, 1)),
        (5, (41, 4)),
    ] {
        let sigma = a as f64 / b as f64;
        let mut r = bits(seed);
        let dg = DiscreteGaussian::new(Rational::new(a, b).unwrap()).unwrap();
        let samples: Vec<i64> = (0..n).map(|_| dg.sample(&mut r) as i64).collect();
        let (chi, df) = chi_square_pmf(&samples, 0, pmf(sigma));
        assert!(
            chi < chi_square_critical(df),
            "sigma {a}/{b}: {chi} ({df} df)"
        );
        // Power: a 10% wider distribution is rejected by the same samples.
        let (chi, df) = chi_square_pmf(&samples, 0, pmf(1.1 * sigma));
        assert!(
            chi > chi_square_critical(df),
            "sigma {a}/{b}: wider accepted ({chi})"
        );
    }
}

#[test]
fn cks_algorithm_3_matches_the_pmf_and_the_banded_sampler() {
    let n = 30_000;
    for (seed, s) in [(6u64, 1u64), (7, 2), (8, 5)] {
        let mut r = bits(seed);
        let cks: Vec<i64> = (0..n)
            .map(|_| discrete_gaussian_cks(&mut r, s).unwrap() as i64)
            .collect();
        let (chi, df) = chi_square_pmf(&cks, 0, pmf(s as f64));
        assert!(chi < chi_square_critical(df), "sigma {s}: {chi} ({df} df)");
        let banded: Vec<i64> = (0..n)
            .map(|_| discrete_gaussian(&mut r, Rational::integer(s)).unwrap() as i64)
            .collect();
        // Two-sample comparison: both tails frequencies agree within binomial error.
        let tail = |v: &[i64]| v.iter().filter(|&&y| y.unsigned_abs() > s).count() as u64;
        let p = tail(&cks) as f64 / n as f64;
        assert!(binomial_within(tail(&banded), n as u64, p), "sigma {s}");
    }
    for bad in [0, MAX_CKS_SIGMA + 1] {
        let e = discrete_gaussian_cks(&mut bits(0), bad).unwrap_err();
        assert!(e.to_string().contains("`sigma`"), "{e}");
    }
}

#[test]
fn a_lattice_sized_sigma_has_the_normal_cdf_and_variance() {
    // σ = 2^40 + 12345 (the noise API's range): the discrete Gaussian's CDF is the normal's to
    // within 2^-40, far below the DKW resolution of 20 000 samples.
    let s = (1u64 << 40) + 12_345;
    let n = 20_000;
    let mut r = bits(9);
    let dg = DiscreteGaussian::new(Rational::integer(s)).unwrap();
    let mut z: Vec<f64> = (0..n)
        .map(|_| dg.sample(&mut r) as f64 / s as f64)
        .collect();
    let d = ks_statistic(&mut z, normal_cdf);
    assert!(d < dkw_critical(n), "KS {d}");
    let var = z.iter().map(|x| x * x).sum::<f64>() / n as f64;
    // Var of the sample variance of N(0,1) is 2/n: 6 sd.
    assert!(
        (var - 1.0).abs() < 6.0 * (2.0 / n as f64).sqrt(),
        "variance {var}"
    );
    // Power: a 15% wider normal is rejected.
    let wide = |x: f64| normal_cdf(x / 1.15);
    assert!(ks_statistic(&mut z, wide) > dkw_critical(n));
}

#[test]
fn parameters_are_checked_and_seeds_reproduce() {
    assert!(DiscreteGaussian::new(Rational::ZERO).is_err());
    let e = DiscreteGaussian::new(Rational::integer(1 << 63)).unwrap_err();
    assert!(e.to_string().contains("`sigma`"), "{e}");
    let dg = DiscreteGaussian::new(Rational::new(7, 3).unwrap()).unwrap();
    assert_eq!(dg.sigma(), Rational::new(7, 3).unwrap());
    let draw = |seed| {
        let mut r = bits(seed);
        (0..50).map(|_| dg.sample(&mut r)).collect::<Vec<i128>>()
    };
    assert_eq!(draw(11), draw(11));
    assert_ne!(draw(1), draw(2));
}
