use mosaic_testkit::dp_mechanism::{dkw_critical, ks_statistic, normal_cdf};

use super::*;

fn seed(s: u64) -> RngSeed {
    RngSeed::from_u64(s)
}

#[test]
fn gaussian_grid_and_sigma_are_exact_and_rounded_up() {
    let g = GaussianNoise::new(1.0).unwrap();
    assert_eq!(g.grid().exponent(), -40);
    assert_eq!(g.lattice_sigma(), 1 << 40);
    assert_eq!(g.sigma(), 1.0);
    for sigma in [0.1, 3.7, 1e-6, 123456.789] {
        let g = GaussianNoise::new(sigma).unwrap();
        assert!(
            g.sigma() >= sigma && g.sigma() <= sigma * (1.0 + 2f64.powi(-39)),
            "{sigma}"
        );
        let s = g.lattice_sigma();
        assert!((1 << 40..=1 << 41).contains(&s), "{s}");
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = GaussianNoise::new(bad).unwrap_err();
        assert!(e.to_string().contains("`sigma`"), "{e}");
    }
}

#[test]
fn gaussian_calibration_charges_the_rounding() {
    // z = 1.1, Δ₂ = 1, one million values: 2^k ≈ 1.1·2^-40, √len = 1000, so the charged
    // sensitivity is 1 + 1000·2^k ≈ 1 + 1e-9 and σ ≈ 1.1·(1 + 1e-9).
    let (z, len) = (1.1, 1_000_000u64);
    let g = GaussianNoise::calibrated(z, 1.0, len).unwrap();
    let charged = 1.0 + 1000.0 * g.grid().step();
    assert!(g.sigma() >= z * charged, "{} < {}", g.sigma(), z * charged);
    assert!(g.sigma() <= z * charged * (1.0 + 1e-11));
    assert!(g.noise_multiplier(1.0, len).unwrap() >= z);
    assert_eq!(g.charged_sensitivity(2.0, 0), 2.0);
    let e = GaussianNoise::calibrated(1.0, 0.0, 1).unwrap_err();
    assert!(e.to_string().contains("`sensitivity`"), "{e}");
    let e = GaussianNoise::calibrated(-1.0, 1.0, 1).unwrap_err();
    assert!(e.to_string().contains("`noise_multiplier`"), "{e}");
}

#[test]
fn gaussian_noise_is_normal_on_the_grid() {
    let g = GaussianNoise::new(2.5).unwrap();
    let n = 20_000;
    let x: Vec<f64> = (0..n).map(|i| (i % 7) as f64 * 0.3 - 1.0).collect();
    let mut y = x.clone();
    g.add_to_f64(&seed(1), &mut y).unwrap();
    let step = g.grid().step();
    let mut z: Vec<f64> = y
        .iter()
        .zip(&x)
        .map(|(a, b)| {
            assert_eq!((a / step).fract(), 0.0, "{a} is off the grid");
            (a - b) / g.sigma()
        })
        .collect();
    assert!(ks_statistic(&mut z, normal_cdf) < dkw_critical(n));
    assert!(ks_statistic(&mut z, |t| normal_cdf(t / 1.15)) > dkw_critical(n));
}

#[test]
fn blocks_give_the_same_bits_however_the_work_is_split() {
    let g = GaussianNoise::new(0.5).unwrap();
    let n = 2 * BLOCK + 777;
    let x: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
    let mut whole = x.clone();
    g.add_to_f32(&seed(2), &mut whole).unwrap();
    let mut split = x.clone();
    for (b, chunk) in split.chunks_mut(BLOCK).enumerate() {
        g.add_block_f32(&seed(2), b as u64, chunk).unwrap();
    }
    assert_eq!(
        whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        split.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    #[cfg(feature = "parallel")]
    {
        let mut par = x.clone();
        g.par_add_to_f32(&seed(2), &mut par).unwrap();
        assert_eq!(whole, par);
    }
    // The lattice noise alone is the same stream.
    let mut lattice = vec![0i64; n];
    g.fill_lattice(&seed(2), 0, &mut lattice);
    let mut again = vec![0i64; n - BLOCK];
    g.fill_lattice(&seed(2), 1, &mut again);
    assert_eq!(&lattice[BLOCK..], &again[..]);
    let mut other = x.clone();
    g.add_to_f32(&seed(3), &mut other).unwrap();
    assert_ne!(whole, other);
    assert!(g
        .add_block_f32(&seed(2), 0, &mut vec![0f32; BLOCK + 1])
        .is_err());
}

#[test]
fn bad_values_are_named_and_nothing_is_written() {
    let g = GaussianNoise::new(1.0).unwrap();
    let mut v = vec![1.0, 2.0, f64::NAN, 4.0];
    let e = g.add_to_f64(&seed(4), &mut v).unwrap_err();
    assert!(e.to_string().contains("index 2"), "{e}");
    assert_eq!(&v[..2], &[1.0, 2.0]);
    let mut v = vec![1.0f32, f32::INFINITY];
    assert!(g.add_to_f32(&seed(4), &mut v).is_err());
}

#[test]
fn laplace_calibration_and_distribution() {
    let l = LaplaceNoise::new(1.0).unwrap();
    assert_eq!(l.grid().exponent(), -52);
    assert_eq!(l.scale(), 1.0);
    // ε = 0.5, Δ₁ = 2, 1000 values: b ≥ (2 + 1000·2^k)/0.5.
    let l = LaplaceNoise::calibrated(0.5, 2.0, 1000).unwrap();
    let charged = 2.0 + 1000.0 * l.grid().step();
    assert!(l.scale() >= charged / 0.5);
    assert!(1.0 / l.noise_multiplier(2.0, 1000).unwrap() <= 0.5 * (1.0 + 1e-15));
    let n = 20_000;
    let x = vec![3.25; n];
    let y = l.add_to_f64(&seed(5), &x).unwrap();
    let b = l.scale();
    let cdf = |t: f64| {
        if t < 0.0 {
            0.5 * (t / b).exp()
        } else {
            1.0 - 0.5 * (-t / b).exp()
        }
    };
    let mut z: Vec<f64> = y.iter().map(|v| v - 3.25).collect();
    assert!(ks_statistic(&mut z, cdf) < dkw_critical(n));
    let e = LaplaceNoise::calibrated(1e-12, 1.0, 1 << 50).unwrap_err();
    assert!(e.to_string().contains("`epsilon`"), "{e}");
    let e = l.add_to_f64(&seed(5), &[f64::NAN]).unwrap_err();
    assert!(e.to_string().contains("index 0"), "{e}");
}
