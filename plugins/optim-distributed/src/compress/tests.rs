use proptest::prelude::*;

use super::*;

fn sq(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum()
}

fn error(c: &dyn Compressor, x: &[f32], seed: u64) -> f64 {
    let mut m = Compressed::default();
    c.compress(x, RngSeed::from_u64(seed), &mut m);
    let y = m.to_dense();
    x.iter()
        .zip(&y)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// TopK is contractive: ‖C(x) − x‖² ≤ (1 − k/d)‖x‖², for every x.
    #[test]
    fn top_k_is_contractive(
        x in prop::collection::vec(-100.0f32..100.0, 1..64),
        density in 0.01f64..1.0,
    ) {
        let c = TopK { density };
        let alpha = c.contraction(x.len()).unwrap();
        prop_assert!(error(&c, &x, 0) <= (1.0 - alpha) * sq(&x) * (1.0 + 1e-12) + 1e-30);
    }

    /// The kept TopK entries are the largest: none dropped exceeds one kept.
    #[test]
    fn top_k_keeps_the_largest(x in prop::collection::vec(-10.0f32..10.0, 2..40)) {
        let mut m = Compressed::default();
        TopK { density: 0.3 }.compress(&x, RngSeed::from_u64(0), &mut m);
        let Compressed::Sparse { indices, .. } = &m else { panic!("sparse") };
        let smallest_kept = indices.iter().map(|&i| x[i as usize].abs()).fold(f32::MAX, f32::min);
        for (i, v) in x.iter().enumerate() {
            if !indices.contains(&(i as u32)) {
                prop_assert!(v.abs() <= smallest_kept);
            }
        }
    }
}

#[test]
fn hand_checked_messages() {
    let x = [0.5f32, -3.0, 2.0, 0.0, -2.0];
    let mut m = Compressed::default();
    TopK { density: 0.4 }.compress(&x, RngSeed::from_u64(0), &mut m);
    // |−3| and |2| (index 2 before index 4 on the tie |2| = |−2|).
    assert_eq!(
        m,
        Compressed::Sparse {
            len: 5,
            indices: vec![1, 2],
            values: vec![-3.0, 2.0]
        }
    );
    assert_eq!(m.to_dense(), [0.0, -3.0, 2.0, 0.0, 0.0]);
    assert_eq!(m.bits(), 128);
    Identity.compress(&x, RngSeed::from_u64(0), &mut m);
    assert_eq!(m.to_dense(), x);
    assert_eq!(kept(10, 0.01), 1);
    // 16 levels: codes in −16..=16, 33 states, 6 bits each, plus the 32-bit norm.
    let q = Compressed::Quantized {
        scale: 2.0,
        levels: 16,
        codes: vec![16, -8, 0],
    };
    assert_eq!(q.to_dense(), [2.0, -1.0, 0.0]);
    assert_eq!(q.bits(), 32 + 6 * 3);
}

/// Mean of `trials` messages of `c` on `x`, and the 6σ bound per coordinate from the
/// compressor's variance `var(i)` per message.
fn mean_message(c: &dyn Compressor, x: &[f32], trials: u64) -> Vec<f64> {
    let mut sum = vec![0.0f64; x.len()];
    let mut m = Compressed::default();
    for t in 0..trials {
        c.compress(x, RngSeed::from_u64(99).derive(t), &mut m);
        for (s, v) in sum.iter_mut().zip(m.to_dense()) {
            *s += f64::from(v);
        }
    }
    sum.iter().map(|s| s / trials as f64).collect()
}

/// Scaled RandK and the unbiased quantizer are unbiased: the mean of 20 000 messages is
/// within 6σ of x in every coordinate (σ from the exact per-coordinate variance).
#[test]
fn unbiased_compressors_average_to_x() {
    let x: Vec<f32> = (0..8).map(|i| (i as f32 - 3.5) * 0.7).collect();
    let n = 20_000u64;
    let d = x.len() as f64;
    // RandK scaled, k = 2 of 8: xᵢ·(d/k) with probability k/d: variance xᵢ²(d/k − 1).
    let mean = mean_message(
        &RandK {
            density: 0.25,
            scaled: true,
        },
        &x,
        n,
    );
    for (m, &xi) in mean.iter().zip(&x) {
        let sd = (f64::from(xi).powi(2) * (d / 2.0 - 1.0) / n as f64).sqrt();
        assert!(
            (m - f64::from(xi)).abs() <= 6.0 * sd + 1e-12,
            "rand_k: {m} vs {xi}"
        );
    }
    // QSGD: per coordinate the rounding variance is ≤ (‖x‖/s)²/4.
    let q = StochasticQuantizer {
        levels: 4,
        contractive: false,
    };
    let mean = mean_message(&q, &x, n);
    let norm = sq(&x).sqrt();
    for (m, &xi) in mean.iter().zip(&x) {
        let sd = ((norm / 4.0).powi(2) / 4.0 / n as f64).sqrt();
        assert!(
            (m - f64::from(xi)).abs() <= 6.0 * sd + 1e-12,
            "quantize: {m} vs {xi}"
        );
    }
}

/// Unscaled RandK and the scaled quantizer are contractive in expectation: the mean squared
/// error over 4 000 draws is below (1 − α)‖x‖² (plus 6 standard errors).
#[test]
fn randomized_contractions_hold_in_expectation() {
    let x: Vec<f32> = (0..16).map(|i| ((i * 7) as f32).sin()).collect();
    for c in [
        &RandK {
            density: 0.25,
            scaled: false,
        } as &dyn Compressor,
        &StochasticQuantizer {
            levels: 2,
            contractive: true,
        },
    ] {
        let alpha = c.contraction(x.len()).unwrap();
        let errs: Vec<f64> = (0..4000).map(|t| error(c, &x, t)).collect();
        let mean = errs.iter().sum::<f64>() / errs.len() as f64;
        let var = errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / errs.len() as f64;
        let bound = (1.0 - alpha) * sq(&x);
        assert!(
            mean <= bound + 6.0 * (var / errs.len() as f64).sqrt(),
            "{}: {mean} > {bound}",
            c.name()
        );
    }
    assert_eq!(
        RandK {
            density: 0.5,
            scaled: true
        }
        .contraction(4),
        None
    );
}
