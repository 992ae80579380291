use abi_stable::std_types::RSlice;
use mosaic_abi::ErrorKind;
use mosaic_testkit::dp_mechanism::{
    chi_square_critical, chi_square_pmf, empirical_privacy, exact_bin,
};

use super::*;

fn geometric(epsilon: f64) -> mosaic_abi::MechanismBox {
    crate::mechanism("geometric", &ParamMap::new().with("epsilon", epsilon)).unwrap()
}

#[test]
fn scale_is_the_integer_sensitivity_over_epsilon_rounded_up() {
    let g = Geometric::new(0.5).unwrap();
    assert_eq!(g.scale(2.0).unwrap(), Rational::integer(4));
    // ⌊2.9⌋ = 2: only the integer part of the sensitivity matters.
    assert_eq!(g.scale(2.9).unwrap(), Rational::integer(4));
    // 1/0.7 is not a float: the scale is the next float above it.
    let t = Geometric::new(0.7).unwrap().scale(1.0).unwrap().to_f64();
    assert!(
        t.mul_add(0.7, -1.0) >= 0.0 && t.next_down().mul_add(0.7, -1.0) < 0.0,
        "{t}"
    );
    let e = g.scale(0.5).unwrap_err();
    assert!(
        e.message().contains("`sensitivity`") && e.message().contains(">= 1"),
        "{e}"
    );
}

#[test]
fn noise_is_discrete_laplace() {
    let n = 20_000;
    let mech = geometric(0.5); // Δ = 1: scale 2
    let out = mech
        .release(RSlice::from_slice(&vec![7.0; n]), 1.0, RngSeed::from_u64(1))
        .into_result()
        .unwrap();
    let z: Vec<i64> = out.integers().unwrap().iter().map(|y| y - 7).collect();
    let pmf = |t: f64| {
        move |y: i64| {
            let q = (-1.0 / t).exp();
            (1.0 - q) / (1.0 + q) * q.powi(y.unsigned_abs() as i32)
        }
    };
    let (chi, df) = chi_square_pmf(&z, 0, pmf(2.0));
    assert!(chi < chi_square_critical(df), "{chi}");
    let (chi, df) = chi_square_pmf(&z, 0, pmf(2.4));
    assert!(chi > chi_square_critical(df), "{chi}");
}

#[test]
fn empirical_privacy_on_neighbouring_counts() {
    let mech = geometric(1.0);
    let run = |eps| empirical_privacy(&mech, &[3.0], &[4.0], 1.0, eps, 0.0, 20_000, 2, exact_bin);
    let check = run(1.0).unwrap();
    assert!(check.epsilon_lower_bound > 0.25, "{check:?}");
    assert!(run(0.25).is_err());
}

#[test]
fn cost_and_errors() {
    let mech = geometric(0.3);
    assert_eq!(
        mech.cost(5.0, 10).into_result().unwrap(),
        PrivacyEvent::Pure { epsilon: 0.3 }
    );
    let e = mech
        .release(RSlice::from_slice(&[1.0, 2.5]), 1.0, RngSeed::from_u64(0))
        .into_result()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(
        e.message().contains("index 1") && e.message().contains("integer"),
        "{e}"
    );
}
