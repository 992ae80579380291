// Index loops over attributes read like the formulas they check.
#![allow(clippy::needless_range_loop)]

use super::*;
use crate::scalar::{
    duchi_bound, hybrid_alpha, hybrid_variance, hybrid_worst_variance, piecewise_variance,
    HYBRID_THRESHOLD,
};

/// Piecewise's first two moments from its density (two constant pieces), exactly.
fn piecewise_moments(s: &Scalar, x: f64) -> (f64, f64) {
    let (c, _) = s.bounds();
    let (l, r) = s.piece(x);
    let pc = s.center_probability();
    let hi = pc / (r - l);
    let lo = (1.0 - pc) / (c + 1.0);
    let m1 = |a: f64, b: f64| (b * b - a * a) / 2.0;
    let m2 = |a: f64, b: f64| (b * b * b - a * a * a) / 3.0;
    let mean = hi * m1(l, r) + lo * (m1(-c, l) + m1(r, c));
    let second = hi * m2(l, r) + lo * (m2(-c, l) + m2(r, c));
    (mean, second - mean * mean)
}

#[test]
fn piecewise_density_is_unbiased_with_the_paper_variance_and_ratio_e_eps() {
    for eps in [0.1, 0.5, 1.0, 2.0, 4.0, 8.0] {
        let s = Scalar::new(Base::Piecewise, eps);
        let (c, _) = s.bounds();
        for x in [-1.0, -0.4, 0.0, 0.3, 1.0] {
            let (mean, var) = piecewise_moments(&s, x);
            assert!((mean - x).abs() < 1e-9 * c * c, "eps {eps} x {x}: {mean}");
            let paper = piecewise_variance(eps, x);
            assert!(
                (var / paper - 1.0).abs() < 1e-9,
                "eps {eps} x {x}: {var} vs {paper}"
            );
            let (l, r) = s.piece(x);
            assert!(l >= -c - 1e-12 && r <= c + 1e-12);
        }
        // The two densities differ by exactly e^ε (up to the 2^-64 rounding of the piece's
        // probability, which only lowers the ratio).
        let pc = s.center_probability();
        let ratio = (pc / (c - 1.0)) / ((1.0 - pc) / (c + 1.0));
        assert!(ratio <= eps.exp() * (1.0 + 1e-12) && ratio >= eps.exp() * (1.0 - 1e-9));
    }
}

#[test]
fn hybrid_matches_the_paper_worst_case_and_is_flat_above_eps_star() {
    for eps in [0.7, 1.0, 2.0, 4.0] {
        let w = hybrid_worst_variance(eps);
        for x in [-1.0, 0.0, 0.5, 1.0] {
            assert!(
                (hybrid_variance(eps, x) / w - 1.0).abs() < 1e-9,
                "eps {eps} x {x}"
            );
        }
        // The mixture never does worse than either of its parts in the worst case.
        let b = duchi_bound(eps);
        assert!(w <= b * b && w <= piecewise_variance(eps, 1.0));
    }
    // Below ε*: Duchi alone.
    assert_eq!(hybrid_alpha(HYBRID_THRESHOLD), 0.0);
    let b = duchi_bound(0.5);
    assert!((hybrid_variance(0.5, 0.3) - (b * b - 0.09)).abs() < 1e-12);
}

#[test]
fn paper_k_and_scaling() {
    assert_eq!(paper_k(1.0, 10), 1);
    assert_eq!(paper_k(5.0, 10), 2);
    assert_eq!(paper_k(100.0, 10), 10);
    let m = Sampled::new(Base::Piecewise, 5.0, 10, 0).unwrap();
    assert_eq!(m.k(), 2);
    assert!((m.scalar().epsilon() - 2.5).abs() < 1e-15);
    // Var[t_j] = (d/k)(Var_PM(x) + x²) − x² at ε/k.
    let x: f64 = 0.4;
    let want = 5.0 * (piecewise_variance(2.5, x) + x * x) - x * x;
    assert!((m.report_variance(x) - want).abs() < 1e-12);
}

fn empirical(m: &Sampled, x: &[f64], n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let d = x.len();
    let values: Vec<f64> = x.iter().copied().cycle().take(d * n).collect();
    let mut out = vec![0u64; n * m.k() as usize];
    m.perturb(&values, 0, RngSeed::from_u64(seed), &mut out)
        .unwrap();
    // Each user's unbiased vector: (d/k)·M(x_j) on sampled attributes, 0 elsewhere.
    let unit = (1u64 << FIXED_BITS) as f64;
    let mut sum = vec![0.0; d];
    let mut sq = vec![0.0; d];
    for r in out.chunks_exact(m.k() as usize) {
        let mut t = vec![0.0; d];
        for &w in r {
            let j = (w >> 40) as usize;
            t[j] = ((w & ((1 << 40) - 1)) as f64 - m.offset as f64) / unit;
        }
        for j in 0..d {
            sum[j] += t[j];
            sq[j] += t[j] * t[j];
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
    let var = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| q / n as f64 - m * m)
        .collect();
    let mut counts = vec![0u64; 2 * d];
    m.aggregate(&out, &mut counts).unwrap();
    let est = m.estimate(&counts, n as u64).unwrap();
    for j in 0..d {
        assert!(
            (est[j] - mean[j]).abs() < 1e-9,
            "the state's mean equals the reports' mean"
        );
    }
    (mean, var)
}

#[test]
fn seeded_estimates_are_unbiased_with_the_theoretical_variance() {
    let n = 40_000;
    for base in [Base::Piecewise, Base::Hybrid] {
        for eps in [0.5, 1.0, 2.0, 4.0] {
            let m = Sampled::new(base, eps, 1, 0).unwrap();
            for x in [-0.9, 0.0, 0.6] {
                let (mean, var) = empirical(&m, &[x], n, 17);
                let v = m.report_variance(x);
                // Mean: 6 sigma. Sample variance: its own sd is at most sqrt((μ4 − v²)/n) with
                // |t| ≤ C, i.e. below C²/sqrt(n); 6 of those.
                let c = m.scalar().bound();
                assert!(
                    (mean[0] - x).abs() < 6.0 * (v / n as f64).sqrt(),
                    "{base:?} {eps} {x}"
                );
                assert!(
                    (var[0] - v).abs() < 6.0 * c * c / (n as f64).sqrt(),
                    "{base:?} {eps} {x}: {} vs {v}",
                    var[0]
                );
            }
        }
    }
}

#[test]
fn k_of_d_sampling_is_unbiased_per_attribute() {
    let x = [0.9, -0.5, 0.0, 0.3, -1.0, 0.7];
    let n = 40_000;
    for base in [Base::Piecewise, Base::Hybrid] {
        let m = Sampled::new(base, 4.0, x.len() as u64, 2).unwrap();
        let (mean, var) = empirical(&m, &x, n, 23);
        let bound = 3.0 * m.scalar().bound();
        for j in 0..x.len() {
            let v = m.report_variance(x[j]);
            assert!(
                (mean[j] - x[j]).abs() < 6.0 * (v / n as f64).sqrt(),
                "{base:?} attr {j}"
            );
            assert!((var[j] - v).abs() < 6.0 * bound * bound / (n as f64).sqrt());
        }
    }
}

#[test]
fn malformed_reports_and_parameters_are_named() {
    let m = Sampled::new(Base::Piecewise, 1.0, 3, 2).unwrap();
    let mut counts = vec![0; 6];
    let e = m.aggregate(&[1 << 40, 1 << 40], &mut counts).unwrap_err();
    assert!(
        e.message.contains("report 0") && e.message.contains("attribute 1"),
        "{e}"
    );
    let e = m.aggregate(&[0, 3 << 40], &mut counts).unwrap_err();
    assert!(e.message.contains("attribute 3"), "{e}");
    assert!(Sampled::new(Base::Hybrid, 1.0, 3, 4)
        .unwrap_err()
        .message
        .contains("k"));
    let e = Sampled::new(Base::Piecewise, 1e-4, 1 << 20, 1).unwrap_err();
    assert!(e.message.contains("epsilon"), "{e}");
}
