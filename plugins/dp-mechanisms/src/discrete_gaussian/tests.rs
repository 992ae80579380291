use abi_stable::std_types::RSlice;
use mosaic_testkit::dp_mechanism::{
    chi_square_critical, chi_square_pmf, empirical_privacy, exact_bin,
};

use super::*;

fn mech(epsilon: f64, delta: f64) -> mosaic_abi::MechanismBox {
    crate::mechanism(
        "discrete_gaussian",
        &ParamMap::new()
            .with("epsilon", epsilon)
            .with("delta", delta),
    )
    .unwrap()
}

#[test]
fn rho_inverts_the_zcdp_conversion() {
    // Reference values: ρ = (√(ln(1/δ) + ε) − √ln(1/δ))², computed independently in Python.
    for (eps, delta, want) in [
        (1.0, 1e-5, 0.0208199383395355),
        (0.5, 1e-6, 0.004443844159097092),
        (3.0, 1e-3, 0.2697740882567991),
    ] {
        let rho = rho_for(eps, delta).unwrap();
        assert!(
            rho <= want * (1.0 + 1e-14) && rho >= want * (1.0 - 1e-11),
            "{rho} vs {want}"
        );
        let back = rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt();
        assert!(back <= eps, "{back} > {eps}");
    }
}

#[test]
fn sigma_and_cost_respect_rho() {
    let m = DiscreteGaussianMechanism::new(1.0, 1e-5).unwrap();
    // σ = Δ/√(2ρ) ≈ 4.9006 for Δ = 1.
    let sigma = m.sigma(1.0).unwrap().to_f64();
    assert!((sigma - 4.900555168628412).abs() < 1e-9, "{sigma}");
    let rho = m.rho_used(3.0).unwrap();
    assert!(rho <= m.rho() && rho > m.rho() * (1.0 - 1e-12), "{rho}");
    let PrivacyEvent::Zcdp { rho: r } = mech(1.0, 1e-5).cost(3.0, 1).into_result().unwrap() else {
        panic!("expected zCDP")
    };
    assert_eq!(r, rho);
}

#[test]
fn noise_is_discrete_gaussian_with_the_calibrated_sigma() {
    let n = 20_000;
    let out = mech(1.0, 1e-5)
        .release(
            RSlice::from_slice(&vec![-4.0; n]),
            1.0,
            RngSeed::from_u64(3),
        )
        .into_result()
        .unwrap();
    let z: Vec<i64> = out.integers().unwrap().iter().map(|y| y + 4).collect();
    let pmf = |sigma: f64| {
        let w = move |y: i64| (-(y as f64).powi(2) / (2.0 * sigma * sigma)).exp();
        let total: f64 = (-400..=400).map(w).sum();
        move |y: i64| w(y) / total
    };
    let sigma = 4.900555168628412;
    let (chi, df) = chi_square_pmf(&z, 0, pmf(sigma));
    assert!(chi < chi_square_critical(df), "{chi}");
    let (chi, df) = chi_square_pmf(&z, 0, pmf(sigma * 1.1));
    assert!(chi > chi_square_critical(df), "{chi}");
}

#[test]
fn empirical_privacy_on_neighbouring_counts() {
    let m = mech(2.0, 1e-3);
    let run = |eps| empirical_privacy(&m, &[10.0], &[11.0], 1.0, eps, 1e-3, 20_000, 4, exact_bin);
    let check = run(2.0).unwrap();
    assert!(check.epsilon_lower_bound > 0.2, "{check:?}");
}
