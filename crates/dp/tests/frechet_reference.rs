//! Fréchet distances against numpy/scipy (pytorch-fid's formula), from the fixture made by
//! `tests/fixtures/frechet.py` (see `tests/fixtures/README.md`).

use mosaic_dp::synth::{frechet_distance, Points};
use serde_json::Value;

#[test]
fn frechet_distance_matches_scipy() {
    let cases: Value = serde_json::from_str(include_str!("fixtures/frechet.json")).unwrap();
    for case in cases.as_array().unwrap() {
        let dim = case["dim"].as_u64().unwrap() as usize;
        let values = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let a = Points::new(dim, values("a")).unwrap();
        let b = Points::new(dim, values("b")).unwrap();
        let want = case["fid"].as_f64().unwrap();
        let got = frechet_distance(&a, &b).unwrap();
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "d {dim}: {got} vs {want}"
        );
        let back = frechet_distance(&b, &a).unwrap();
        assert!((back - want).abs() <= 1e-9 * want.abs().max(1.0));
    }
}
