use mosaic_abi::{Accountant, PrivacyEvent, Sampling};

use super::*;

/// By hand: 3 × ρ=0.05 + Gaussian σ=2 (ρ=1/8) + pure ε=0.5 (ρ=1/8) = 0.4.
#[test]
fn rho_adds_up() {
    let mut z = Zcdp::new();
    z.compose(&PrivacyEvent::Zcdp { rho: 0.05 }, 3).unwrap();
    z.compose(
        &PrivacyEvent::Gaussian {
            noise_multiplier: 2.0,
            sampling: Sampling::Full,
        },
        1,
    )
    .unwrap();
    z.compose(&PrivacyEvent::Pure { epsilon: 0.5 }, 1).unwrap();
    assert!((z.rho() - 0.4).abs() < 1e-15);
    // The conversion is convert's, and at least as tight as Bun–Steinke's ρ + 2√(ρ ln 1/δ).
    let r = z.epsilon_report(1e-5).unwrap();
    assert_eq!(r.epsilon, convert::zcdp_epsilon(0.4, 1e-5).value);
    assert!(r.epsilon < 0.4 + 2.0 * (0.4 * 1e5f64.ln()).sqrt());
    let a = r.order().unwrap();
    assert!(a > 1.0);
    // The epsilon at the reported order is the one returned.
    let at = convert::epsilon_at_order(a, a * 0.4, 1e-5);
    assert!((at - r.epsilon).abs() < 1e-12);
    let d = z.delta(r.epsilon).unwrap();
    assert!((d / 1e-5 - 1.0).abs() < 1e-6, "{d}");
}

/// For the Gaussian mechanism the exact (ε, δ) curve is known (Balle and Wang 2018): the zCDP
/// bound must lie above it, as every sound conversion does.
#[test]
fn bound_lies_above_the_exact_gaussian_curve() {
    use mosaic_dp::accounting::special::ndtr;
    for sigma in [0.8, 2.0, 5.0] {
        let mut z = Zcdp::new();
        z.compose(
            &PrivacyEvent::Gaussian {
                noise_multiplier: sigma,
                sampling: Sampling::Full,
            },
            1,
        )
        .unwrap();
        for eps in [0.1, 1.0, 3.0] {
            let exact =
                ndtr(-eps * sigma + 0.5 / sigma) - eps.exp() * ndtr(-eps * sigma - 0.5 / sigma);
            let bound = z.delta(eps).unwrap();
            assert!(bound >= exact, "σ={sigma} ε={eps}: {bound} < {exact}");
        }
    }
}

#[test]
fn refuses_what_it_cannot_analyse() {
    let mut z = Zcdp::new();
    for ev in [
        PrivacyEvent::Gaussian {
            noise_multiplier: 1.0,
            sampling: Sampling::Poisson { rate: 0.1 },
        },
        PrivacyEvent::Approximate {
            epsilon: 1.0,
            delta: 1e-6,
        },
        PrivacyEvent::Rdp {
            orders: vec![2.0].into(),
            epsilons: vec![1.0].into(),
        },
    ] {
        let e = z.compose(&ev, 1).unwrap_err();
        assert!(e.message().contains(&format!("`{}`", ev.kind())), "{e}");
    }
    assert_eq!(z.rho(), 0.0);
    assert_eq!(z.epsilon(1e-5).unwrap(), 0.0);
    assert!(z.epsilon(2.0).unwrap_err().message().contains("`delta`"));
    assert!(z
        .delta(f64::NAN)
        .unwrap_err()
        .message()
        .contains("`epsilon`"));
    // Poisson sampling at rate 1 is no sampling.
    z.compose(
        &PrivacyEvent::Laplace {
            noise_multiplier: 2.0,
            sampling: Sampling::Poisson { rate: 1.0 },
        },
        2,
    )
    .unwrap();
    assert!((z.rho() - 0.25).abs() < 1e-15);
}
