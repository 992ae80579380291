use super::*;

/// The chi-square quantile at z = 5 standard deviations (p ≈ 3e-7), Wilson–Hilferty.
fn chi_square_critical(df: f64) -> f64 {
    let c = 2.0 / (9.0 * df);
    df * (1.0 - c + 5.0 * c.sqrt()).powi(3)
}

/// The standard normal CDF (Abramowitz–Stegun 7.1.26 for erf is too coarse; use the
/// complementary error function's continued series through `erf` of high accuracy).
fn normal_cdf(x: f64) -> f64 {
    // erfc by the Numerical Recipes Chebyshev fit (relative error < 1.2e-7).
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

#[test]
fn grid_noise_is_gaussian_with_the_scale_asked_for() {
    for (seed, sigma) in [(4u64, 1.5f64), (5, 1e-3), (6, 3.7e4)] {
        let mut noise = DiscreteGaussian::new(sigma, RngSeed::from_u64(seed)).unwrap();
        let s = noise.std_dev();
        assert!(
            s >= sigma && s < sigma * (1.0 + 2f64.powi(-39)),
            "{s} vs {sigma}"
        );
        let g = noise.granularity();
        let bits = crate::sampling::GaussianNoise::SIGMA_BITS as i32;
        assert!(s / g >= 2f64.powi(bits) && s / g <= 2f64.powi(bits + 1));
        let n = 40_000;
        let mut v = vec![0.0; n];
        noise.privatize(&mut v).unwrap();
        // Every value is a multiple of the grid step.
        assert!(v.iter().all(|x| (x / g).fract() == 0.0));
        // Mean and variance within 5 standard errors (N_Z(0, n²) has variance n²(1 - O(e^-n²))).
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| x * x).sum::<f64>() / n as f64;
        assert!(mean.abs() < 5.0 * s / (n as f64).sqrt(), "mean {mean}");
        assert!(
            (var / (s * s) - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(),
            "variance ratio {}",
            var / (s * s)
        );
        // Shape: chi-square against the normal CDF on 14 bins of width σ/2 plus two tails.
        let edges: Vec<f64> = (-7..=7).map(|i| i as f64 * 0.5).collect();
        let mut observed = vec![0f64; edges.len() + 1];
        for x in &v {
            observed[edges.partition_point(|e| *e < x / s)] += 1.0;
        }
        let mut chi = 0.0;
        for (i, o) in observed.iter().enumerate() {
            let lo = if i == 0 {
                0.0
            } else {
                normal_cdf(edges[i - 1])
            };
            let hi = if i == edges.len() {
                1.0
            } else {
                normal_cdf(edges[i])
            };
            let e = n as f64 * (hi - lo);
            chi += (o - e) * (o - e) / e;
        }
        let df = (observed.len() - 1) as f64;
        assert!(chi < chi_square_critical(df), "sigma {sigma}: chi {chi}");
    }
}

#[test]
fn values_are_rounded_onto_the_grid_before_noise() {
    let mut noise = DiscreteGaussian::new(1.0, RngSeed::from_u64(7)).unwrap();
    let g = noise.granularity();
    let mut v = vec![0.3 * g, 1.0 / 3.0, -2.5];
    noise.privatize(&mut v).unwrap();
    assert!(v.iter().all(|x| (x / g).fract() == 0.0), "{v:?}");
}

#[test]
fn same_seed_same_noise() {
    let draw = |seed| {
        let mut noise = DiscreteGaussian::new(2.0, RngSeed::from_u64(seed)).unwrap();
        let mut v = vec![1.0; 64];
        noise.privatize(&mut v).unwrap();
        v
    };
    assert_eq!(draw(9), draw(9));
    assert_ne!(draw(9), draw(10));
}

#[test]
fn bad_parameters_and_values_are_named() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-310] {
        let e = DiscreteGaussian::new(bad, RngSeed::from_u64(0)).unwrap_err();
        assert!(e.to_string().contains("`std_dev`"), "{e}");
    }
    let mut noise = DiscreteGaussian::new(1.0, RngSeed::from_u64(0)).unwrap();
    let e = noise.privatize(&mut [0.0, f64::NAN]).unwrap_err();
    assert!(e.to_string().contains("index 1"), "{e}");
    let e = noise.privatize(&mut [1e300]).unwrap_err();
    assert!(e.to_string().contains("index 0"), "{e}");
    let e = match Noise::gaussian_fixed_seed(0.0, 1).source(1.0) {
        Err(e) => e,
        Ok(_) => panic!("a zero noise multiplier was accepted"),
    };
    assert!(e.to_string().contains("`noise_multiplier`"), "{e}");
}

#[test]
fn no_noise_is_the_identity_and_charges_nothing() {
    let mut v = vec![0.1, -7.25, 1e-300];
    let before = v.clone();
    NoNoise.privatize(&mut v).unwrap();
    assert_eq!(v, before);
    assert_eq!(NoNoise.charged_sensitivity(2.0, 1000), 2.0);
    assert!(NoNoise.seed_source().is_none());
    let grid = DiscreteGaussian::new(1.0, RngSeed::from_u64(0)).unwrap();
    let charged = grid.charged_sensitivity(1.0, 100);
    assert_eq!(charged, 1.0 + grid.granularity() * 10.0);
}
