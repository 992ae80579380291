use mosaic_abi::{AccountantBox, ErrorKind, ParamMap};

use super::*;

fn new_basic() -> AccountantBox {
    let m = crate::plugin_module();
    (m.new_accountant())("basic".into(), &ParamMap::new())
        .into_result()
        .unwrap()
}

/// By hand: 3 × pure(0.5) + 10 × approx(0.1, 1e-6) + 4 × laplace(noise multiplier 2)
/// = (1.5 + 1.0 + 2.0, 10e-6) = (4.5, 1e-5).
#[test]
fn sums_epsilons_and_deltas() {
    let mut acc = new_basic();
    acc.compose(&PrivacyEvent::Pure { epsilon: 0.5 }, 3)
        .into_result()
        .unwrap();
    acc.compose(
        &PrivacyEvent::Approximate {
            epsilon: 0.1,
            delta: 1e-6,
        },
        10,
    )
    .into_result()
    .unwrap();
    acc.compose(
        &PrivacyEvent::Laplace {
            noise_multiplier: 2.0,
            sampling: Sampling::Full,
        },
        4,
    )
    .into_result()
    .unwrap();
    let eps = acc.epsilon(1.1e-5).into_result().unwrap();
    assert!((eps - 4.5).abs() < 1e-12, "{eps}");
    assert_eq!(acc.epsilon(1e-6).into_result().unwrap(), f64::INFINITY);
    let d = acc.delta(4.5).into_result().unwrap();
    assert!((d - 1e-5).abs() < 1e-18, "{d}");
    assert_eq!(acc.delta(4.4).into_result().unwrap(), 1.0);
    assert_eq!(acc.delta(100.0).into_result().unwrap(), d);
}

#[test]
fn empty_composition_costs_nothing() {
    let acc = new_basic();
    assert_eq!(acc.epsilon(0.0).into_result().unwrap(), 0.0);
    assert_eq!(acc.delta(0.0).into_result().unwrap(), 0.0);
}

#[test]
fn errors_name_the_event_or_parameter() {
    let mut acc = new_basic();
    let cases = [
        (
            PrivacyEvent::Gaussian {
                noise_multiplier: 1.0,
                sampling: Sampling::Full,
            },
            "`gaussian`",
        ),
        (
            PrivacyEvent::Laplace {
                noise_multiplier: 1.0,
                sampling: Sampling::Poisson { rate: 0.1 },
            },
            "`laplace`",
        ),
        (PrivacyEvent::Zcdp { rho: 0.5 }, "`zcdp`"),
        (PrivacyEvent::Pure { epsilon: -1.0 }, "`epsilon`"),
        (
            PrivacyEvent::Approximate {
                epsilon: 1.0,
                delta: 2.0,
            },
            "`delta`",
        ),
        (
            PrivacyEvent::Laplace {
                noise_multiplier: 0.0,
                sampling: Sampling::Full,
            },
            "`noise_multiplier`",
        ),
    ];
    for (ev, name) in cases {
        let e = acc.compose(&ev, 1).into_result().unwrap_err();
        assert!(e.message().contains(name), "{e}");
    }
    // Failed events leave the totals untouched.
    assert_eq!(acc.epsilon(0.0).into_result().unwrap(), 0.0);
    let e = acc.epsilon(f64::NAN).into_result().unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidParam);
    let e = acc.delta(-1.0).into_result().unwrap_err();
    assert!(e.message().contains("`epsilon`"), "{e}");
}

#[test]
fn plain_rust_totals() {
    let mut acc = BasicComposition::new();
    acc.compose(&PrivacyEvent::Pure { epsilon: 0.25 }, 4)
        .unwrap();
    assert_eq!(acc.totals(), (1.0, 0.0));
    assert!(descriptor().validate().is_ok());
    assert!(crate::laplace::descriptor().validate().is_ok());
}
