// Index loops over attributes read like the formulas they check.
#![allow(clippy::needless_range_loop)]

use super::*;
use mosaic_abi::MeanMechanism;

/// The exact output distribution of `x` (`d ≤ 10`): `P[t | x]` for every `t ∈ {0,1}^d` (bit
/// `j` set: `+B`), enumerating the sign vectors `v` with the tie rule of the module doc.
fn distribution(m: &Duchi, x: &[f64]) -> Vec<f64> {
    let d = x.len();
    let pi = m.near_probability();
    let cube = 1usize << d;
    let mut out = vec![0.0; cube];
    for v in 0..cube {
        let pv: f64 = (0..d)
            .map(|j| {
                let p1 = 0.5 + x[j] / 2.0;
                if v >> j & 1 == 1 {
                    p1
                } else {
                    1.0 - p1
                }
            })
            .product();
        for (t, o) in out.iter_mut().enumerate() {
            let agree = (!(t ^ v) & (cube - 1)).count_ones() as i64;
            let dot = 2 * agree - d as i64;
            // Drawn as t on its own side, or as −t on the other side and negated.
            let p = match dot.signum() {
                1 => 2.0 * pi,
                -1 => 2.0 * (1.0 - pi),
                _ => 1.0,
            } / cube as f64;
            *o += pv * p;
        }
    }
    out
}

#[test]
fn c_d_matches_the_paper_for_odd_d_and_small_cases_by_hand() {
    // The paper's odd-d constant 2^{d−1}/binom(d−1, (d−1)/2).
    assert!((c_d(1) - 1.0).abs() < 1e-12);
    assert!((c_d(3) - 4.0 / 2.0).abs() < 1e-12);
    assert!((c_d(5) - 16.0 / 6.0).abs() < 1e-12);
    assert!((c_d(7) - 64.0 / 20.0).abs() < 1e-12);
    // Even d with ties split: 2^{d−1}/binom(d−1, d/2 − 1).
    assert!((c_d(2) - 2.0).abs() < 1e-12);
    assert!((c_d(4) - 8.0 / 3.0).abs() < 1e-12);
    assert!((c_d(6) - 32.0 / 10.0).abs() < 1e-12);
    // Large d stays finite (≈ sqrt(π d / 2)).
    let c = c_d(4096);
    assert!((c / (std::f64::consts::PI * 4096.0 / 2.0).sqrt() - 1.0).abs() < 1e-3);
}

#[test]
fn one_attribute_is_plus_minus_b_with_the_closed_form_probability() {
    let m = Duchi::new(1.0, 1).unwrap();
    let b = (1f64.exp() + 1.0) / (1f64.exp() - 1.0);
    assert!((m.bound() - b).abs() < 1e-12);
    for x in [-1.0, -0.3, 0.0, 0.8, 1.0] {
        let p = distribution(&m, &[x]);
        assert!((p[1] - (0.5 + x / (2.0 * b))).abs() < 1e-12, "x = {x}");
    }
}

#[test]
fn exact_enumeration_unbiased_ldp_and_variance() {
    let xs = [0.3, -0.7, 0.1, 0.9, -0.2, 1.0, -1.0];
    for eps in [0.5, 1.0, 3.0] {
        for d in 1..=7usize {
            let m = Duchi::new(eps, d as u64).unwrap();
            let x = &xs[..d];
            let p = distribution(&m, x);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            for j in 0..d {
                let (mut mean, mut second) = (0.0, 0.0);
                for (t, &pt) in p.iter().enumerate() {
                    let tj = if t >> j & 1 == 1 {
                        m.bound()
                    } else {
                        -m.bound()
                    };
                    mean += pt * tj;
                    second += pt * tj * tj;
                }
                assert!((mean - x[j]).abs() < 1e-9, "eps {eps} d {d} j {j}: {mean}");
                let var = second - mean * mean;
                assert!((var - m.report_variance(x[j])).abs() < 1e-9);
            }
            // ε-LDP: the ratio over the cube's corners (the extreme inputs) is at most e^ε.
            let corners: Vec<Vec<f64>> = (0..1usize << d)
                .map(|c| {
                    (0..d)
                        .map(|j| if c >> j & 1 == 1 { 1.0 } else { -1.0 })
                        .collect()
                })
                .collect();
            let dists: Vec<Vec<f64>> = corners.iter().map(|c| distribution(&m, c)).collect();
            for a in &dists {
                for b in &dists {
                    for (pa, pb) in a.iter().zip(b) {
                        assert!(*pa <= eps.exp() * pb * (1.0 + 1e-12));
                    }
                }
            }
        }
    }
}

#[test]
fn the_sampler_follows_the_enumerated_distribution() {
    let m = Duchi::new(1.0, 3).unwrap();
    let x = [0.5, -0.25, 0.0];
    let n = 200_000usize;
    let values: Vec<f64> = x.iter().copied().cycle().take(3 * n).collect();
    let mut out = vec![0u64; n];
    m.perturb(&values, 0, RngSeed::from_u64(11), &mut out)
        .unwrap();
    let mut hist = [0usize; 8];
    for r in &out {
        hist[*r as usize] += 1;
    }
    let p = distribution(&m, &x);
    for t in 0..8 {
        let sd = (n as f64 * p[t] * (1.0 - p[t])).sqrt();
        let dev = (hist[t] as f64 - n as f64 * p[t]).abs();
        assert!(
            dev < 6.0 * sd,
            "outcome {t}: {} vs {}",
            hist[t],
            n as f64 * p[t]
        );
    }
}

#[test]
fn reports_above_the_dims_are_refused() {
    let m = Duchi::new(1.0, 3).unwrap();
    let mut counts = vec![0; 3];
    let e = m.aggregate(&[0b1000], &mut counts).unwrap_err();
    assert!(e.message.contains("report 0"), "{e}");
    m.aggregate(&[0b101, 0b001], &mut counts).unwrap();
    assert_eq!(counts, [2, 0, 1]);
    let means = m.estimate(&counts, 2).unwrap();
    assert!((means[0] - m.bound()).abs() < 1e-12);
    assert!((means[1] + m.bound()).abs() < 1e-12);
    assert!(means[2].abs() < 1e-12);
}

#[test]
fn bad_parameters_are_named() {
    assert!(Duchi::new(0.0, 1).unwrap_err().message.contains("epsilon"));
    assert!(Duchi::new(1.0, 0).unwrap_err().message.contains("dims"));
    assert!(Duchi::new(1.0, MAX_DIMS + 1)
        .unwrap_err()
        .message
        .contains("dims"));
}
