use abi_stable::std_types::RSlice;
use mosaic_abi::ErrorKind;
use mosaic_testkit::dp_mechanism::{
    dkw_critical, empirical_privacy, ks_statistic, normal_cdf as cdf, real_bin,
};

use super::*;

fn mech(epsilon: f64, delta: f64, calibration: &str) -> Result<mosaic_abi::MechanismBox, RError> {
    crate::mechanism(
        "gaussian",
        &ParamMap::new()
            .with("epsilon", epsilon)
            .with("delta", delta)
            .with("calibration", calibration),
    )
}

#[test]
fn calibration_matches_scipy_and_dp_accounting() {
    let rows: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/gaussian_calibration.json"
    ))
    .unwrap();
    for row in rows.as_array().unwrap() {
        let eps = row["epsilon"].as_f64().unwrap();
        let delta = row["delta"].as_f64().unwrap();
        // dp-accounting's Gaussian privacy loss agrees that the reference z meets δ.
        let acct = row["dp_accounting_delta"].as_f64().unwrap();
        assert!((acct - delta).abs() <= 1e-9 * delta, "{row}");
        let want = row["analytic"].as_f64().unwrap();
        let z = noise_multiplier(eps, delta, Calibration::Analytic).unwrap();
        assert!(
            z >= want * (1.0 - 1e-12) && z <= want * (1.0 + 1e-7),
            "{row}: {z}"
        );
        assert!(gaussian_delta(z, eps) <= delta, "{row}");
        if let Some(classic) = row["classic"].as_f64() {
            let z = noise_multiplier(eps, delta, Calibration::Classic).unwrap();
            assert!(z >= classic && z <= classic * (1.0 + 1e-11), "{row}: {z}");
            // The analytic calibration is never noisier than the classic one.
            assert!(want < classic);
        }
    }
}

#[test]
fn hand_computed_classic_multiplier() {
    // ε = 0.5, δ = 1e-5: √(2 ln 125000) / 0.5 = √23.4722.../0.5 = 9.68961...
    let z = noise_multiplier(0.5, 1e-5, Calibration::Classic).unwrap();
    assert!((z - 9.689610525210778).abs() < 1e-10, "{z}");
    // And the analytic δ at z for ε = 0 is 2Φ(1/(2z)) − 1.
    let d = gaussian_delta(2.0, 0.0);
    assert!((d - (2.0 * normal_cdf(0.25) - 1.0)).abs() < 1e-16, "{d}");
}

#[test]
fn noise_is_normal_with_sigma_z_times_the_charged_sensitivity() {
    let g = Gaussian::new(1.0, 1e-5, Calibration::Analytic).unwrap();
    let n = 20_000;
    let noise = g.noise(2.0, n as u64).unwrap();
    assert!(noise.sigma() >= 2.0 * g.noise_multiplier());
    let out = g.release(&vec![5.0; n], 2.0, RngSeed::from_u64(8)).unwrap();
    let mut z: Vec<f64> = out
        .values()
        .unwrap()
        .iter()
        .map(|y| (y - 5.0) / noise.sigma())
        .collect();
    assert!(ks_statistic(&mut z, cdf) < dkw_critical(n));
    assert!(ks_statistic(&mut z, |t| cdf(t / 1.15)) > dkw_critical(n));
    let PrivacyEvent::Gaussian {
        noise_multiplier: nm,
        sampling,
    } = g.cost(2.0, n as u64).unwrap()
    else {
        panic!("expected a Gaussian event")
    };
    assert_eq!(sampling, Sampling::Full);
    assert!(
        nm >= g.noise_multiplier() && nm < g.noise_multiplier() * (1.0 + 1e-9),
        "{nm}"
    );
}

#[test]
fn empirical_privacy_on_neighbouring_sums() {
    let m = mech(3.0, 1e-3, "analytic").unwrap();
    let run = |eps| empirical_privacy(&m, &[0.0], &[1.0], 1.0, eps, 1e-3, 20_000, 5, real_bin(0.5));
    let check = run(3.0).unwrap();
    assert!(check.epsilon_lower_bound > 0.5, "{check:?}");
}

#[test]
fn calibration_errors_name_their_parameter() {
    let e = mech(1.5, 1e-5, "classic").err().unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidParam);
    assert!(
        e.message().contains("`epsilon`") && e.message().contains("analytic"),
        "{e}"
    );
    let e = mech(0.5, 1e-5, "optimal").err().unwrap();
    assert!(e.message().contains("`calibration`"), "{e}");
    let m = mech(0.5, 1e-5, "classic").unwrap();
    let e = m
        .release(RSlice::from_slice(&[1.0]), 0.0, RngSeed::from_u64(1))
        .into_result()
        .unwrap_err();
    assert!(e.message().contains("`sensitivity`"), "{e}");
}
