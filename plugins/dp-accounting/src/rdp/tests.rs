use mosaic_abi::{Accountant, ErrorKind, PrivacyEvent, Sampling};
use proptest::prelude::*;

use super::subsampled::{
    gaussian, poisson_gaussian, without_replacement_gaussian, wor_cgf_integer,
};
use super::*;

fn gauss(sigma: f64, sampling: Sampling) -> PrivacyEvent {
    PrivacyEvent::Gaussian {
        noise_multiplier: sigma,
        sampling,
    }
}

/// ln ∫ p^α q^{1−α} by the trapezoid rule on a wide grid (an independent check of closed
/// forms for densities on the real line).
fn renyi_numeric(p: impl Fn(f64) -> f64, q: impl Fn(f64) -> f64, alpha: f64) -> f64 {
    let (lo, hi, n) = (-40.0, 40.0, 400_000);
    let h = (hi - lo) / n as f64;
    let mut s = 0.0;
    for i in 0..=n {
        let x = lo + i as f64 * h;
        let w = if i == 0 || i == n { 0.5 } else { 1.0 };
        let (a, b) = (p(x), q(x));
        if a > 0.0 && b > 0.0 {
            s += w * (alpha * a.ln() + (1.0 - alpha) * b.ln()).exp();
        }
    }
    (s * h).ln() / (alpha - 1.0)
}

fn normal(mu: f64, sigma: f64) -> impl Fn(f64) -> f64 {
    move |x| {
        (-(x - mu) * (x - mu) / (2.0 * sigma * sigma)).exp()
            / (sigma * (2.0 * std::f64::consts::PI).sqrt())
    }
}

#[test]
fn gaussian_closed_form_and_numeric() {
    assert_eq!(gaussian(2.0, 3.0), 3.0 / 8.0);
    // q = 1 reduces to the unsampled mechanism, for both samplings.
    for a in [1.5, 2.0, 7.3, 64.0] {
        assert_eq!(poisson_gaussian(1.0, 1.3, a), gaussian(1.3, a));
        assert_eq!(without_replacement_gaussian(1.0, 1.3, a), gaussian(1.3, a));
    }
    let n = renyi_numeric(normal(1.0, 1.5), normal(0.0, 1.5), 3.5);
    assert!((n - gaussian(1.5, 3.5)).abs() < 1e-7, "{n}");
}

/// α = 2 by hand: A₂ = (1−q)² + 2q(1−q) + q² e^{1/σ²} = 1 + q²(e^{1/σ²} − 1).
#[test]
fn poisson_order_two_by_hand() {
    let (q, s): (f64, f64) = (0.05, 0.9);
    let want = (q * q * (1.0 / (s * s)).exp_m1()).ln_1p();
    assert!((poisson_gaussian(q, s, 2.0) - want).abs() < 1e-14);
    // And against numerical integration of the mixture against N(0, σ²) at α = 3.
    let mix = |x: f64| (1.0 - q) * normal(0.0, s)(x) + q * normal(1.0, s)(x);
    let n = renyi_numeric(mix, normal(0.0, s), 3.0);
    assert!((n / poisson_gaussian(q, s, 3.0) - 1.0).abs() < 1e-6, "{n}");
}

/// The fractional series meets the integer sum at integer orders (from either side) and
/// bounds the numerical divergence at fractional orders.
#[test]
fn fractional_orders_join_the_integer_ones() {
    for (q, s) in [(0.01, 1.1), (0.1, 2.0), (0.001, 0.7)] {
        for a in [2.0, 3.0, 10.0] {
            let int = poisson_gaussian(q, s, a);
            for frac in [a - 1e-7, a + 1e-7] {
                let f = poisson_gaussian(q, s, frac);
                assert!(
                    (f / int - 1.0).abs() < 1e-5,
                    "q={q} s={s} α={frac}: {f} vs {int}"
                );
            }
        }
    }
    // (Close to α = 1 the series converges too slowly for q = 0.2, σ = 1: such orders come
    // back +∞ and are not used, as in dp-accounting.)
    assert_eq!(poisson_gaussian(0.2, 1.0, 1.5), f64::INFINITY);
    let (q, s) = (0.2, 1.0);
    let mix = |x: f64| (1.0 - q) * normal(0.0, s)(x) + q * normal(1.0, s)(x);
    for a in [2.5, 4.7] {
        let n = renyi_numeric(mix, normal(0.0, s), a).max(renyi_numeric(normal(0.0, s), mix, a));
        let f = poisson_gaussian(q, s, a);
        assert!(f.is_finite() && f >= n * (1.0 - 1e-6), "α={a}: {f} < {n}");
        // Summing |C(α, i)| costs about 1 % here.
        assert!(f <= n * 1.03, "α={a}: {f} ≫ {n}");
    }
}

/// Sampling without replacement at α = 2 by hand: 1 + q² min(4(e^{ε(2)} − 1), 2e^{ε(2)}).
#[test]
fn without_replacement_order_two_by_hand() {
    let (q, s): (f64, f64) = (0.1, 1.0);
    let e2: f64 = 2.0 / (2.0 * s * s);
    let want = (q * q * (4.0 * e2.exp_m1()).min(2.0 * e2.exp())).ln_1p();
    assert!((without_replacement_gaussian(q, s, 2.0) - want).abs() < 1e-14);
    // Fractional orders interpolate the cumulant linearly.
    let (c3, c4) = (wor_cgf_integer(q, s, 3), wor_cgf_integer(q, s, 4));
    let f = without_replacement_gaussian(q, s, 3.25);
    assert!((f - (0.75 * c3 + 0.25 * c4) / 2.25).abs() < 1e-14);
    // The large-order branch bounds the exact one from above where both apply.
    assert!(wor_cgf_integer(q, s, 257) >= wor_cgf_integer(q, s, 256));
}

/// Mironov 2017 Prop. 6 at α = 2, ε = 1: 1 + ln(1 + (e^{−3} − 1)/3) = 0.619 142…, and
/// against numerical integration of Lap(0, 1) against Lap(1, 1).
#[test]
fn laplace_by_hand_and_numeric() {
    let want = 1.0 + (1.0 + ((-3.0f64).exp() - 1.0) / 3.0).ln();
    assert!((laplace_rdp(1.0, 2.0) - want).abs() < 1e-15);
    let lap = |mu: f64, b: f64| move |x: f64| (-(x - mu).abs() / b).exp() / (2.0 * b);
    for (b, a) in [(1.0, 2.0), (2.0, 5.5), (0.5, 1.05)] {
        let n = renyi_numeric(lap(1.0, b), lap(0.0, b), a);
        assert!(
            (laplace_rdp(1.0 / b, a) - n).abs() < 1e-6,
            "b={b} α={a}: {n}"
        );
    }
    // The Taylor branch and the closed form agree where they meet.
    let (x, y) = (laplace_rdp(0.7, 1.099_999_9), laplace_rdp(0.7, 1.100_000_1));
    assert!((x - y).abs() < 1e-6);
}

/// Randomized response at ε = 1, α = 2: ln((e² + e^{−1})/(1 + e)) = 0.735 393…; never above
/// min(ε, αε²/2).
#[test]
fn pure_dp_is_randomized_response() {
    let e1 = 1f64.exp();
    let want = ((e1 * e1 + 1.0 / e1) / (1.0 + e1)).ln();
    assert!((pure_rdp(1.0, 2.0) - want).abs() < 1e-15);
    for eps in [0.01, 0.5, 3.0, 40.0] {
        for a in [1.1, 2.0, 10.0, 1000.0] {
            let r = pure_rdp(eps, a);
            assert!(
                r <= eps.min(a * eps * eps / 2.0) + 1e-12,
                "ε={eps} α={a}: {r}"
            );
        }
    }
    assert_eq!(pure_rdp(0.0, 3.0), 0.0);
}

#[test]
fn zcdp_and_curve_events() {
    let mut acc = Rdp::new(&[1.5, 2.0, 3.0, 10.0]).unwrap();
    acc.compose(&PrivacyEvent::Zcdp { rho: 0.1 }, 2).unwrap();
    assert_eq!(
        acc.curve(),
        &[0.30000000000000004, 0.4, 0.6000000000000001, 2.0]
    );
    let curve = PrivacyEvent::Rdp {
        orders: vec![2.0, 4.0].into(),
        epsilons: vec![0.5, 1.0].into(),
    };
    let c = acc.event_curve(&curve).unwrap();
    assert_eq!(c, vec![0.5, 0.5, 1.0, f64::INFINITY]);
    // A curve that stops below the last order leaves that order unusable, not optimistic.
    acc.compose(&curve, 1).unwrap();
    assert_eq!(acc.curve()[3], f64::INFINITY);
    let r = acc.epsilon_report(1e-5).unwrap();
    assert!(r.epsilon.is_finite() && r.order() != Some(10.0));
}

#[test]
fn conversion_reports_the_order_and_inverts() {
    let mut acc = Rdp::from_params(&ParamMap::new()).unwrap();
    assert_eq!(acc.orders().len(), 156);
    acc.compose(&gauss(1.1, Sampling::Poisson { rate: 0.01 }), 10_000)
        .unwrap();
    let r = acc.epsilon_report(1e-5).unwrap();
    let order = r.order().unwrap();
    assert!(acc.orders().contains(&order));
    let i = acc.orders().iter().position(|&a| a == order).unwrap();
    assert_eq!(
        r.epsilon,
        convert::epsilon_at_order(order, acc.curve()[i], 1e-5)
    );
    let d = acc.delta(r.epsilon).unwrap();
    assert!(d <= 1e-5 * (1.0 + 1e-9) && d > 1e-6, "{d}");
    // Nothing composed: ε = 0 at any δ.
    let empty = Rdp::new(&default_orders()).unwrap();
    assert_eq!(empty.epsilon(1e-9).unwrap(), 0.0);
    assert_eq!(empty.delta(0.0).unwrap(), 0.0);
}

#[test]
fn errors_name_the_event_or_parameter() {
    let mut acc = Rdp::new(&default_orders()).unwrap();
    let cases = [
        (
            PrivacyEvent::Approximate {
                epsilon: 1.0,
                delta: 1e-6,
            },
            "`approximate`",
        ),
        (
            PrivacyEvent::Laplace {
                noise_multiplier: 1.0,
                sampling: Sampling::Poisson { rate: 0.1 },
            },
            "pld",
        ),
        (gauss(0.0, Sampling::Full), "`noise_multiplier`"),
        (
            gauss(1.0, Sampling::Poisson { rate: 1.5 }),
            "`sampling_rate`",
        ),
    ];
    for (ev, needle) in cases {
        let e = acc.compose(&ev, 1).unwrap_err();
        assert!(e.message().contains(needle), "{e}");
    }
    acc.compose(&gauss(1.0, Sampling::Poisson { rate: 0.1 }), 1)
        .unwrap();
    let e = acc
        .compose(&gauss(1.0, Sampling::WithoutReplacement { rate: 0.1 }), 1)
        .unwrap_err();
    assert!(e.message().contains("cannot be composed"), "{e}");
    // Unsampled events mix with either.
    acc.compose(&gauss(3.0, Sampling::Full), 1).unwrap();
    assert_eq!(
        acc.epsilon(f64::NAN).unwrap_err().kind,
        ErrorKind::InvalidParam
    );
    assert!(acc.delta(-1.0).unwrap_err().message().contains("`epsilon`"));
    for bad in [vec![], vec![1.0], vec![2.0, f64::INFINITY]] {
        let e = Rdp::new(&bad).unwrap_err();
        assert!(e.message().contains("`orders`"), "{e}");
    }
}

fn dpsgd(q: f64, sigma: f64, steps: u64, delta: f64) -> f64 {
    let mut acc = Rdp::new(&default_orders()).unwrap();
    acc.compose(&gauss(sigma, Sampling::Poisson { rate: q }), steps)
        .unwrap();
    acc.epsilon(delta).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn epsilon_is_monotone(q in 0.001f64..0.5, sigma in 0.6f64..5.0, steps in 1u64..5000) {
        let e = dpsgd(q, sigma, steps, 1e-5);
        prop_assert!(dpsgd(q, sigma * 1.1, steps, 1e-5) <= e);
        prop_assert!(dpsgd(q, sigma, steps * 2, 1e-5) >= e);
        prop_assert!(dpsgd((q * 1.5).min(1.0), sigma, steps, 1e-5) >= e);
        prop_assert!(dpsgd(q, sigma, steps, 1e-6) >= e);
    }

    #[test]
    fn composition_is_order_independent(s1 in 0.5f64..4.0, s2 in 0.5f64..4.0, q in 0.01f64..0.3,
                                        n1 in 1u64..50, n2 in 1u64..50) {
        let events = [
            (gauss(s1, Sampling::Poisson { rate: q }), n1),
            (gauss(s2, Sampling::Full), n2),
            (PrivacyEvent::Laplace { noise_multiplier: s1, sampling: Sampling::Full }, 1),
        ];
        let mut a = Rdp::new(&default_orders()).unwrap();
        let mut b = Rdp::new(&default_orders()).unwrap();
        for (e, n) in &events { a.compose(e, *n).unwrap(); }
        for (e, n) in events.iter().rev() { b.compose(e, *n).unwrap(); }
        for (x, y) in a.curve().iter().zip(b.curve()) {
            prop_assert!(x == y || (x - y).abs() <= 1e-12 * x.abs().max(1.0));
        }
        // n runs at once equal n separate runs.
        let mut c = Rdp::new(&default_orders()).unwrap();
        for _ in 0..n1 { c.compose(&events[0].0, 1).unwrap(); }
        let mut d = Rdp::new(&default_orders()).unwrap();
        d.compose(&events[0].0, n1).unwrap();
        for (x, y) in c.curve().iter().zip(d.curve()) {
            prop_assert!(x == y || (x - y).abs() <= 1e-12 * x.abs().max(1.0));
        }
    }
}
