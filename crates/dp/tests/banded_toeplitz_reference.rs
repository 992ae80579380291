//! mosaic-dp's banded Toeplitz factorizations against jax_privacy 2.0.0 (float64), from the
//! fixture made by `tests/fixtures/banded_toeplitz.py` (see `tests/fixtures/README.md`).

use mosaic_dp::continual::{BandedToeplitz, Objective, OptimizeOptions, Participation};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/banded_toeplitz.json")).unwrap()
}

fn coefs(v: &Value) -> Vec<f64> {
    v["coefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect()
}

fn objective(v: &Value) -> Objective {
    match v["objective"].as_str().unwrap() {
        "mean" => Objective::Mean,
        "max" => Objective::Max,
        other => panic!("objective {other}"),
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn loss_of_fixed_strategies_matches_jax_privacy() {
    for case in fixture()["loss"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        let mf = BandedToeplitz::new(coefs(case)).unwrap();
        let got = mf
            .error(n, Participation::single(), objective(case))
            .unwrap();
        let want = case["loss"].as_f64().unwrap();
        assert!(rel(got, want) < 1e-10, "{case}: {got} vs {want}");
    }
}

#[test]
fn multi_epoch_sensitivity_matches_jax_privacy() {
    for case in fixture()["sensitivity"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        let k = case["k"].as_u64().unwrap() as usize;
        let b = case["b"].as_u64().unwrap() as usize;
        let mf = BandedToeplitz::new(coefs(case)).unwrap();
        let got = mf
            .sensitivity(n, Participation::multi_epoch(k, b))
            .unwrap()
            .powi(2);
        let want = case["squared"].as_f64().unwrap();
        assert!(rel(got, want) < 1e-12, "{case}: {got} vs {want}");
    }
}

#[test]
fn optimised_bands_match_jax_privacy() {
    for case in fixture()["optimized"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        let bands = case["bands"].as_u64().unwrap() as usize;
        let options = OptimizeOptions {
            objective: objective(case),
            ..Default::default()
        };
        let (mf, report) = BandedToeplitz::optimal(n, bands, &options).unwrap();
        let want = case["loss"].as_f64().unwrap();
        assert!(report.converged, "{case}: {report:?}");
        // The same optimum: equal losses, and the same unit-norm coefficients.
        assert!(
            rel(report.loss, want) < 1e-7,
            "n {n} bands {bands}: {} vs {want}",
            report.loss
        );
        for (a, b) in mf.coefs().iter().zip(coefs(case)) {
            assert!(
                (a - b).abs() < 1e-3,
                "n {n} bands {bands}: {:?} vs {:?}",
                mf.coefs(),
                coefs(case)
            );
        }
    }
}
