use mosaic_abi::{Accountant, ParamMap, PrivacyEvent, Sampling};
use mosaic_dp::accounting::special::ndtr;
use proptest::prelude::*;

use super::losses::{approximate_dp_delta, AdditiveLoss, Adjacency, Noise};
use super::pmf::{fast_len_for_tests, Pmf};
use super::*;

fn gauss(sigma: f64, sampling: Sampling) -> PrivacyEvent {
    PrivacyEvent::Gaussian {
        noise_multiplier: sigma,
        sampling,
    }
}

/// The Gaussian mechanism's exact curve (Balle and Wang 2018, Theorem 8):
/// δ(ε) = Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ).
fn gaussian_delta(sigma: f64, eps: f64) -> f64 {
    ndtr(0.5 / sigma - eps * sigma) - eps.exp() * ndtr(-0.5 / sigma - eps * sigma)
}

#[test]
fn hockey_stick_closed_forms() {
    for sigma in [0.5, 1.0, 3.0] {
        let l = AdditiveLoss {
            noise: Noise::Gaussian { sigma },
            q: 1.0,
            adjacency: Adjacency::Remove,
        };
        for eps in [0.0, 0.3, 2.0] {
            let want = gaussian_delta(sigma, eps);
            assert!(
                (l.delta(eps) - want).abs() <= 1e-14 + 1e-12 * want,
                "σ={sigma} ε={eps}"
            );
        }
    }
    // Laplace, no sampling: δ(ε) = 1 − e^{(ε − 1/b)/2} on [−1/b, 1/b] (b = 1: ε = 0 → 1 − e^{−1/2}).
    let lap = AdditiveLoss {
        noise: Noise::Laplace { b: 1.0 },
        q: 1.0,
        adjacency: Adjacency::Remove,
    };
    for eps in [-0.5, 0.0, 0.5, 0.99] {
        let want = 1.0 - ((eps - 1.0) / 2.0f64).exp();
        assert!(
            (lap.delta(eps) - want).abs() < 1e-14,
            "ε={eps}: {}",
            lap.delta(eps)
        );
    }
    assert_eq!(lap.delta(1.0 + 1e-9), 0.0);
    // Below its smallest loss a pair has δ = 1 − e^ε.
    assert!((lap.delta(-2.0) + (-2.0f64).exp_m1()).abs() < 1e-15);
    // Randomized response at ε₀ = 1: δ(0) = (e − 1)/(e + 1).
    let e = 1f64.exp();
    assert!((approximate_dp_delta(1.0, 0.0, 0.0) - (e - 1.0) / (e + 1.0)).abs() < 1e-15);
    assert!((approximate_dp_delta(1.0, 0.25, 5.0) - 0.25).abs() < 1e-15);
}

/// With sampling, the remove curve is the mixture's, and the add curve vanishes above
/// −ln(1 − q) (the largest add loss).
#[test]
fn subsampled_curves() {
    let (q, sigma) = (0.1, 1.0);
    let add = AdditiveLoss {
        noise: Noise::Gaussian { sigma },
        q,
        adjacency: Adjacency::Add,
    };
    assert_eq!(add.delta(-(1.0 - q).ln() + 1e-9), 0.0);
    let remove = AdditiveLoss {
        adjacency: Adjacency::Remove,
        ..add
    };
    // Monotone, within [0, 1], and below the unsampled curve.
    let full = AdditiveLoss { q: 1.0, ..remove };
    let mut last = 1.0;
    for i in 0..200 {
        let eps = -0.2 + i as f64 * 0.05;
        let d = remove.delta(eps);
        assert!((0.0..=last + 1e-15).contains(&d));
        assert!(d <= full.delta(eps) + 1e-15);
        last = d;
    }
    // Amplification by sampling in closed form at ε where e^ε = 1 − q + q e^{ε'}: δ = q δ'(ε').
    let eps1 = 1.0;
    let eps = (1.0 - q + q * f64::exp(eps1)).ln();
    let d = remove.delta(eps);
    assert!((d - q * full.delta(eps1)).abs() < 1e-14, "{d}");
}

/// Connect-the-dots lies above the exact curve and matches it at grid points.
#[test]
fn connect_the_dots_dominates() {
    let pld = Pld::new(1e-2, 0.0).unwrap();
    let loss = AdditiveLoss {
        noise: Noise::Gaussian { sigma: 1.2 },
        q: 1.0,
        adjacency: Adjacency::Remove,
    };
    let pmf = pld.additive_pmf(loss).unwrap();
    let total: f64 = pmf.probs.iter().sum::<f64>() + pmf.infinity;
    assert!((total - 1.0).abs() < 1e-12, "{total}");
    let q_mass: f64 = pmf
        .probs
        .iter()
        .enumerate()
        .map(|(j, p)| p * (-((pmf.lower + j as i64) as f64 * 1e-2)).exp())
        .sum();
    // ≤ 1 exactly in real arithmetic; rounding in the masses is amplified by e^{−ε} at the
    // lowest losses (here e^{8}).
    assert!(q_mass <= 1.0 + 1e-8, "{q_mass}");
    for i in 0..300 {
        let eps = i as f64 * 0.0137;
        let exact = gaussian_delta(1.2, eps);
        let grid = pmf.delta(eps, 1e-2);
        assert!(grid >= exact * (1.0 - 1e-12), "ε={eps}: {grid} < {exact}");
        if (eps / 1e-2).fract() == 0.0 {
            assert!((grid - exact).abs() < 1e-12);
        }
    }
}

/// Composing n unsampled Gaussians by FFT equals one Gaussian with σ/√n (exact), and both
/// sit above the exact curve.
#[test]
fn fft_composition_matches_the_gaussian_closed_form() {
    let sigma = 4.0;
    let n = 50u64;
    let pld = Pld::new(1e-3, 1e-15).unwrap();
    let one = pld
        .additive_pmf(AdditiveLoss {
            noise: Noise::Gaussian { sigma },
            q: 1.0,
            adjacency: Adjacency::Remove,
        })
        .unwrap();
    let composed = one.self_compose(n, 1e-15).unwrap();
    let mut chained = Pmf::identity();
    for _ in 0..n {
        chained = chained.compose(&one, 1e-15).unwrap();
    }
    let exact_sigma = sigma / (n as f64).sqrt();
    for delta in [1e-3, 1e-5, 1e-7] {
        let e_fft = composed.epsilon(delta, 1e-3);
        let e_chain = chained.epsilon(delta, 1e-3);
        // The exact ε: solve gaussian_delta(σ/√n, ε) = δ by bisection.
        let (mut lo, mut hi) = (0.0, 50.0);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if gaussian_delta(exact_sigma, mid) > delta {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        assert!(
            e_fft >= lo * (1.0 - 1e-9),
            "δ={delta}: {e_fft} < exact {lo}"
        );
        assert!(e_fft <= hi * 1.01, "δ={delta}: {e_fft} ≫ exact {hi}");
        assert!(
            (e_fft - e_chain).abs() <= 1e-6 * e_fft,
            "{e_fft} vs {e_chain}"
        );
    }
}

#[test]
fn pmf_queries_by_hand() {
    // Loss 0.5 with mass 0.6, loss 1 with mass 0.3, +∞ with 0.1 (Δ = 0.5).
    let p = Pmf {
        lower: 1,
        probs: vec![0.6, 0.3],
        infinity: 0.1,
    };
    // δ(0) = 0.1 + 0.6(1 − e^{−0.5}) + 0.3(1 − e^{−1}).
    let want = 0.1 + 0.6 * (1.0 - (-0.5f64).exp()) + 0.3 * (1.0 - (-1.0f64).exp());
    assert!((p.delta(0.0, 0.5) - want).abs() < 1e-15);
    assert!((p.delta(2.0, 0.5) - 0.1).abs() < 1e-15);
    // ε(δ) inverts δ(ε) between grid points.
    let e = p.epsilon(0.2, 0.5);
    assert!((p.delta(e, 0.5) - 0.2).abs() < 1e-12, "{e}");
    assert_eq!(p.epsilon(0.05, 0.5), f64::INFINITY);
    assert_eq!(p.epsilon(0.999, 0.5), 0.0);
    // Truncation moves mass up, never drops it.
    let t = Pmf {
        lower: -2,
        probs: vec![1e-17, 1e-17, 0.5, 0.5 - 3e-17, 1e-17],
        infinity: 0.0,
    }
    .truncated(1e-16);
    assert_eq!(t.lower, 0);
    assert_eq!(t.probs.len(), 2);
    assert!((t.probs.iter().sum::<f64>() + t.infinity - 1.0).abs() < 1e-16);
    assert_eq!(fast_len_for_tests(1000), 1024);
    assert_eq!(fast_len_for_tests(1025), 1152);
}

#[test]
fn pure_and_approximate_events() {
    // One pure ε = 1 event: ε(δ) ≤ 1 for every δ, and δ(1) = 0.
    let mut acc = Pld::from_params(&ParamMap::new()).unwrap();
    acc.compose(&PrivacyEvent::Pure { epsilon: 1.0 }, 1)
        .unwrap();
    assert!(acc.epsilon(1e-9).unwrap() <= 1.0 + 1e-4);
    assert!(acc.delta(1.0 + 1e-4).unwrap() < 1e-12);
    // (ε, δ) basic composition is an upper bound: 10 × (0.1, 1e-6) at δ = 1e-5.
    let mut acc = Pld::from_params(&ParamMap::new()).unwrap();
    acc.compose(
        &PrivacyEvent::Approximate {
            epsilon: 0.1,
            delta: 1e-6,
        },
        10,
    )
    .unwrap();
    let e = acc.epsilon(1.1e-5).unwrap();
    assert!(e <= 1.0 && e > 0.1, "{e}");
    assert!(acc.epsilon(9e-6).unwrap().is_infinite());
    // Laplace without sampling equals pure DP with ε = 1/b at δ → 0.
    let mut l = Pld::from_params(&ParamMap::new()).unwrap();
    l.compose(
        &PrivacyEvent::Laplace {
            noise_multiplier: 2.0,
            sampling: Sampling::Full,
        },
        1,
    )
    .unwrap();
    let e = l.epsilon(1e-12).unwrap();
    assert!((e - 0.5).abs() <= 1e-4, "{e}");
}

#[test]
fn errors_name_the_event_or_parameter() {
    let mut acc = Pld::from_params(&ParamMap::new()).unwrap();
    for (ev, needle) in [
        (PrivacyEvent::Zcdp { rho: 0.1 }, "`zcdp`"),
        (
            gauss(1.0, Sampling::WithoutReplacement { rate: 0.1 }),
            "without replacement",
        ),
        (gauss(-1.0, Sampling::Full), "`noise_multiplier`"),
    ] {
        let e = acc.compose(&ev, 1).unwrap_err();
        assert!(e.message().contains(needle), "{e}");
    }
    let e = acc.compose(&gauss(1e-6, Sampling::Full), 1).unwrap_err();
    assert!(
        e.message().contains("`value_discretization_interval`"),
        "{e}"
    );
    assert!(Pld::new(0.0, 0.0)
        .unwrap_err()
        .message()
        .contains("interval"));
    assert!(Pld::new(1e-4, 1.0).unwrap_err().message().contains("tail"));
    assert!(acc.epsilon(-0.1).unwrap_err().message().contains("`delta`"));
    assert_eq!(acc.epsilon(1e-5).unwrap(), 0.0);
}

fn dpsgd(q: f64, sigma: f64, steps: u64, delta: f64) -> f64 {
    let mut acc = Pld::new(1e-3, 1e-15).unwrap();
    acc.compose(&gauss(sigma, Sampling::Poisson { rate: q }), steps)
        .unwrap();
    acc.epsilon(delta).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn epsilon_is_monotone(q in 0.005f64..0.3, sigma in 0.8f64..3.0, steps in 1u64..300) {
        let e = dpsgd(q, sigma, steps, 1e-5);
        // Discretization at Δ = 1e-3 allows a wobble of a few Δ.
        prop_assert!(dpsgd(q, sigma * 1.2, steps, 1e-5) <= e + 5e-3);
        prop_assert!(dpsgd(q, sigma, steps * 3, 1e-5) >= e - 5e-3);
        prop_assert!(dpsgd((q * 2.0).min(1.0), sigma, steps, 1e-5) >= e - 5e-3);
    }

    #[test]
    fn composition_is_order_independent(s1 in 0.8f64..3.0, s2 in 0.8f64..3.0, q in 0.01f64..0.2) {
        let events = [
            gauss(s1, Sampling::Poisson { rate: q }),
            gauss(s2, Sampling::Full),
            PrivacyEvent::Laplace { noise_multiplier: s1 * 2.0, sampling: Sampling::Full },
        ];
        let mut a = Pld::new(1e-3, 1e-15).unwrap();
        let mut b = Pld::new(1e-3, 1e-15).unwrap();
        for e in &events { a.compose(e, 3).unwrap(); }
        for e in events.iter().rev() { b.compose(e, 3).unwrap(); }
        let (x, y) = (a.epsilon(1e-5).unwrap(), b.epsilon(1e-5).unwrap());
        prop_assert!((x - y).abs() <= 1e-6 * x.max(1.0), "{} vs {}", x, y);
    }
}
