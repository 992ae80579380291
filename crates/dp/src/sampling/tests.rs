use super::*;

fn rng(seed: u64) -> ChaCha20Rng {
    rng_from_seed(&RngSeed::from_u64(seed))
}

/// The closed-form pmf of the discrete Laplace distribution with scale `t`.
fn dlap_pmf(t: f64, y: i64) -> f64 {
    let q = (-1.0 / t).exp();
    (1.0 - q) / (1.0 + q) * q.powi(y.unsigned_abs() as i32)
}

/// Pearson's chi-square of `samples` against the discrete Laplace(`t`) pmf, with every bin
/// expected to hold at least 5 samples (the two tails pooled). Returns (statistic, df).
fn dlap_chi_square(samples: &[i128], t: f64) -> (f64, f64) {
    let n = samples.len() as f64;
    let mut k = 0i64;
    while n * dlap_pmf(t, k + 1) >= 5.0 {
        k += 1;
    }
    // Bins: (-inf, -k-1], -k..=k, [k+1, inf).
    let mut observed = vec![0f64; (2 * k + 3) as usize];
    for &y in samples {
        let y = y.clamp(-(k as i128) - 1, k as i128 + 1) as i64;
        observed[(y + k + 1) as usize] += 1.0;
    }
    let centre: f64 = (-k..=k).map(|y| dlap_pmf(t, y)).sum();
    let tail = (1.0 - centre) / 2.0;
    let mut chi = 0.0;
    for (i, o) in observed.iter().enumerate() {
        let y = i as i64 - k - 1;
        let p = if y.abs() > k { tail } else { dlap_pmf(t, y) };
        let e = n * p;
        chi += (o - e) * (o - e) / e;
    }
    (chi, (observed.len() - 1) as f64)
}

/// The chi-square quantile at z = 4 standard deviations (p ≈ 3e-5), Wilson–Hilferty.
fn chi_square_critical(df: f64) -> f64 {
    let c = 2.0 / (9.0 * df);
    df * (1.0 - c + 4.0 * c.sqrt()).powi(3)
}

#[test]
fn rational_from_f64_is_exact() {
    assert_eq!(
        Rational::from_f64("x", 0.75).unwrap(),
        Rational::new(3, 4).unwrap()
    );
    assert_eq!(
        Rational::from_f64("x", 1.5).unwrap(),
        Rational::new(3, 2).unwrap()
    );
    assert_eq!(
        Rational::from_f64("x", 2.0).unwrap(),
        Rational::new(2, 1).unwrap()
    );
    assert_eq!(Rational::from_f64("x", 0.0).unwrap().numer(), 0);
    let r = Rational::from_f64("x", 0.1).unwrap();
    assert_eq!(r.to_f64(), 0.1);
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        let e = Rational::from_f64("scale", bad).unwrap_err();
        assert!(e.to_string().contains("`scale`"), "{e}");
    }
    assert!(Rational::from_f64("x", 1e300).is_err());
    assert!(Rational::from_f64("x", 1e-30).is_err());
    assert!(Rational::new(1, 0).is_err());
}

#[test]
fn uniform_below_stays_in_range_and_is_roughly_flat() {
    let mut r = rng(1);
    let mut counts = [0u32; 3];
    for _ in 0..30_000 {
        counts[uniform_below(&mut r, 3) as usize] += 1;
    }
    for c in counts {
        // 10_000 expected, sd ≈ 82.
        assert!((c as i64 - 10_000).abs() < 400, "{counts:?}");
    }
    // Beyond u64 both halves of the draw are used: below 3 * 2^64, two thirds of the
    // outcomes exceed u64::MAX.
    let big = 3u128 << 64;
    let above = (0..300)
        .map(|_| uniform_below(&mut r, big))
        .inspect(|&x| assert!(x < big))
        .filter(|&x| x > u64::MAX as u128)
        .count();
    assert!(above > 150 && above < 250, "{above}");
    assert_eq!(uniform_below(&mut r, 1), 0);
}

#[test]
fn bernoulli_rational_frequency() {
    let mut r = rng(2);
    let p = Rational::new(1, 3).unwrap();
    let n = 30_000;
    let hits = (0..n).filter(|_| bernoulli(&mut r, p).unwrap()).count() as f64;
    let sd = (n as f64 * (1.0 / 3.0) * (2.0 / 3.0)).sqrt();
    assert!((hits - n as f64 / 3.0).abs() < 4.5 * sd, "{hits}");
    assert!(!bernoulli(&mut r, Rational::new(0, 5).unwrap()).unwrap());
    assert!(bernoulli(&mut r, Rational::new(5, 5).unwrap()).unwrap());
    let e = bernoulli(&mut r, Rational::new(6, 5).unwrap()).unwrap_err();
    assert!(e.to_string().contains("`p`"), "{e}");
}

#[test]
fn bernoulli_exp_neg_frequency_matches_exp() {
    let mut r = rng(3);
    let n = 20_000;
    for (num, den) in [(1u64, 2u64), (3, 2), (7, 3), (5, 1), (1, 10)] {
        let gamma = Rational::new(num, den).unwrap();
        let p = (-(num as f64) / den as f64).exp();
        let hits = (0..n).filter(|_| bernoulli_exp_neg(&mut r, gamma)).count() as f64;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (hits - n as f64 * p).abs() < 4.5 * sd,
            "gamma = {num}/{den}: {hits} hits, expected {}",
            n as f64 * p
        );
    }
    // exp(0) = 1.
    assert!((0..100).all(|_| bernoulli_exp_neg(&mut r, Rational::new(0, 7).unwrap())));
}

#[test]
fn discrete_laplace_pmf_matches_closed_form() {
    let n = 20_000;
    for (seed, (num, den)) in [(4u64, (2u64, 1u64)), (5, (3, 2)), (6, (1, 3)), (7, (25, 2))] {
        let t = num as f64 / den as f64;
        let scale = Rational::new(num, den).unwrap();
        let mut r = rng(seed);
        let samples: Vec<i128> = (0..n)
            .map(|_| discrete_laplace(&mut r, scale).unwrap())
            .collect();
        let (chi, df) = dlap_chi_square(&samples, t);
        assert!(
            chi < chi_square_critical(df),
            "scale {num}/{den}: chi-square {chi} with {df} df"
        );
        // The test has power: the same samples reject a 20% larger scale.
        let (chi_wrong, df_wrong) = dlap_chi_square(&samples, t * 1.2);
        assert!(
            chi_wrong > chi_square_critical(df_wrong),
            "scale {num}/{den}: wrong-scale chi-square {chi_wrong} with {df_wrong} df"
        );
        // Symmetry: the mean is near 0 (variance 2q/(1-q)^2).
        let q = (-1.0 / t).exp();
        let sd = (2.0 * q).sqrt() / (1.0 - q);
        let mean = samples.iter().map(|&y| y as f64).sum::<f64>() / n as f64;
        assert!(mean.abs() < 4.5 * sd / (n as f64).sqrt(), "mean {mean}");
    }
}

#[test]
fn discrete_laplace_rejects_zero_scale() {
    let e = discrete_laplace(&mut rng(0), Rational::new(0, 1).unwrap()).unwrap_err();
    assert!(e.to_string().contains("`scale`"), "{e}");
}

#[test]
fn same_seed_same_draws_different_seed_different_draws() {
    let scale = Rational::new(7, 2).unwrap();
    let draw = |seed| -> Vec<i128> {
        let mut r = rng(seed);
        (0..64)
            .map(|_| discrete_laplace(&mut r, scale).unwrap())
            .collect()
    };
    assert_eq!(draw(9), draw(9));
    assert_ne!(draw(9), draw(10));
}
