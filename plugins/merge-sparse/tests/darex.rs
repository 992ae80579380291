//! DAREx (`dare_q`, `dare_magnitude`) through the ABI: q = 1 − p reproduces DARE bit for bit,
//! kept fractions, unbiasedness, determinism, errors.

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{
    ErrorKind, MergeCall, ParamMap, ParamScope, ParamValue, RError, RngSeed, TensorMut, TensorRef,
};
use mosaic_tensor::DType;
use proptest::prelude::*;

/// Global parameters with the descriptor's defaults, overridden by `extra`.
fn globals(name: &str, extra: &[(&str, ParamValue)]) -> ParamMap {
    let m = mosaic_plugin_merge_sparse::plugin_module();
    let info = (m.info())().into_result().unwrap();
    let d = info
        .algorithms
        .iter()
        .find(|a| a.name.as_str() == name)
        .unwrap();
    let mut given = ParamMap::new();
    for (k, v) in extra {
        given.insert(k, v.clone());
    }
    given.resolve(&d.params, ParamScope::Global).unwrap()
}

/// Per-model parameters with the descriptor's defaults.
fn per_model(name: &str, given: ParamMap) -> ParamMap {
    let m = mosaic_plugin_merge_sparse::plugin_module();
    let info = (m.info())().into_result().unwrap();
    let d = info
        .algorithms
        .iter()
        .find(|a| a.name.as_str() == name)
        .unwrap();
    given.resolve(&d.params, ParamScope::PerModel).unwrap()
}

fn run(
    name: &str,
    base: &[f32],
    models: &[Vec<f32>],
    mp: &[ParamMap],
    p: &ParamMap,
    seed: u64,
) -> Result<Vec<f32>, RError> {
    let shape = [base.len() as u64];
    let shapes: Vec<[u64; 1]> = models.iter().map(|m| [m.len() as u64]).collect();
    let refs: Vec<TensorRef<'_>> = models
        .iter()
        .zip(&shapes)
        .map(|(m, s)| TensorRef::from_f32(s, m).unwrap())
        .collect();
    let call = MergeCall {
        tensor_name: RStr::from_str("t"),
        base: Some(TensorRef::from_f32(&shape, base).unwrap()).into(),
        models: RSlice::from_slice(&refs),
        base_index: None.into(),
        model_params: RSlice::from_slice(mp),
        params: p,
        compute_dtype: DType::F32.into(),
        seed: RngSeed::from_u64(seed),
    };
    let m = mosaic_plugin_merge_sparse::plugin_module();
    let method = (m.new_merge())(name.into(), p).into_result()?;
    let mut out = vec![0f32; base.len()];
    method
        .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
        .into_result()?;
    Ok(out)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn wdq(w: f64, d: f64, q: Option<f64>) -> ParamMap {
    let p = ParamMap::new().with("weight", w).with("density", d);
    match q {
        Some(q) => p.with("q", q),
        None => p,
    }
}

fn vec_of(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-2.0f32..2.0, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn q_equal_one_minus_p_is_dare_bit_for_bit(base in vec_of(64), a in vec_of(64), b in vec_of(64), seed in any::<u64>(), d1 in 0.05f64..1.0, d2 in 0.05f64..1.0, explicit in any::<bool>()) {
        let models = [a, b];
        // DARE with the paper's rescale 1/(1 − p) (mergekit's default rescale is the L1 rule).
        for (dare, consensus) in [("dare_linear", "none"), ("dare_ties", "sum")] {
            let dp = globals(dare, &[("rescale_rule", "inverse_keep_prob".into())]);
            let dmp = [
                wdq(0.8, d1, None).with("epsilon", 0.1).with("gamma", 0.01),
                wdq(0.4, d2, None),
            ];
            let dmp: Vec<ParamMap> = dmp.iter().map(|p| {
                let mut q = ParamMap::new();
                for (k, v) in p.iter() { if k == "weight" || k == "density" { q.insert(k, v.clone()); } }
                per_model(dare, q)
            }).collect();
            let want = run(dare, &base, &models, &dmp, &dp, seed).unwrap();
            let qp = globals("dare_q", &[("consensus", consensus.into())]);
            let q1 = if explicit { Some(d1) } else { None };
            let q2 = if explicit { Some(d2) } else { None };
            let qmp = [per_model("dare_q", wdq(0.8, d1, q1)), per_model("dare_q", wdq(0.4, d2, q2))];
            let got = run("dare_q", &base, &models, &qmp, &qp, seed).unwrap();
            prop_assert_eq!(bits(&got), bits(&want), "{} vs dare_q consensus {}", dare, consensus);
        }
    }

    #[test]
    fn same_seed_same_bits(base in vec_of(64), a in vec_of(64), seed in any::<u64>(), q in 0.1f64..1.5) {
        let p = globals("dare_q", &[]);
        let mp = [per_model("dare_q", wdq(1.0, 0.3, Some(q)))];
        let x = run("dare_q", &base, std::slice::from_ref(&a), &mp, &p, seed).unwrap();
        let y = run("dare_q", &base, std::slice::from_ref(&a), &mp, &p, seed).unwrap();
        prop_assert_eq!(bits(&x), bits(&y));
    }

    #[test]
    fn q_scales_the_kept_deltas(a in vec_of(64), seed in any::<u64>(), q in 0.1f64..1.5) {
        // Same mask (same seed), kept deltas times 1/q.
        let base = vec![0f32; 64];
        let p = globals("dare_q", &[]);
        let one = run("dare_q", &base, std::slice::from_ref(&a), &[per_model("dare_q", wdq(1.0, 0.4, Some(1.0)))], &p, seed).unwrap();
        let got = run("dare_q", &base, std::slice::from_ref(&a), &[per_model("dare_q", wdq(1.0, 0.4, Some(q)))], &p, seed).unwrap();
        for (g, o) in got.iter().zip(&one) {
            let want = (*o as f64 / q) as f32;
            prop_assert_eq!(g.to_bits(), want.to_bits());
        }
    }

    #[test]
    fn magnitude_keeps_the_largest(a in vec_of(50), d in 0.05f64..1.0, q in 0.2f64..1.5) {
        let base = vec![0f32; 50];
        let p = globals("dare_magnitude", &[("tie_break", "index".into())]);
        let out = run("dare_magnitude", &base, std::slice::from_ref(&a), &[per_model("dare_magnitude", wdq(1.0, d, Some(q)))], &p, 0).unwrap();
        let k = ((d * 50.0) as usize).max(1);
        let mut order: Vec<usize> = (0..50).collect();
        order.sort_by(|&i, &j| a[j].abs().total_cmp(&a[i].abs()).then(i.cmp(&j)));
        let mut keep = [false; 50];
        for &i in &order[..k] { keep[i] = true; }
        for i in 0..50 {
            let want = if keep[i] { (a[i] as f64 / q) as f32 } else { 0.0 };
            prop_assert_eq!(out[i].to_bits(), want.to_bits(), "i {}", i);
        }
    }
}

#[test]
fn dare_q_keeps_about_density() {
    let n = 20_000;
    let base = vec![0f32; n];
    let x = vec![1f32; n];
    let p = globals("dare_q", &[]);
    for density in [0.1, 0.5, 0.9] {
        let out = run(
            "dare_q",
            &base,
            std::slice::from_ref(&x),
            &[per_model("dare_q", wdq(1.0, density, Some(0.5)))],
            &p,
            11,
        )
        .unwrap();
        let kept = out.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        let sd = (density * (1.0 - density) / n as f64).sqrt();
        assert!(
            (kept - density).abs() < 5.0 * sd,
            "density {density}: kept {kept}"
        );
        // Every kept delta is 1/q = 2.
        assert!(out.iter().all(|&v| v == 0.0 || v == 2.0));
    }
}

#[test]
fn dare_magnitude_keeps_exactly_density() {
    let n = 1000;
    let base = vec![0f32; n];
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % n) as f32 + 1.0).collect();
    let p = globals("dare_magnitude", &[]);
    for density in [0.1, 0.25, 0.9] {
        let out = run(
            "dare_magnitude",
            &base,
            std::slice::from_ref(&x),
            &[per_model("dare_magnitude", wdq(1.0, density, None))],
            &p,
            0,
        )
        .unwrap();
        let kept = out.iter().filter(|&&v| v != 0.0).count();
        assert_eq!(kept, (density * n as f64) as usize);
        // q defaults to 1: kept deltas unchanged.
        assert!(out.iter().zip(&x).all(|(o, x)| *o == 0.0 || o == x));
    }
}

#[test]
fn dare_q_is_unbiased_when_q_is_one_minus_p() {
    let x: Vec<f32> = (0..16).map(|i| 0.5 + i as f32 * 0.25).collect();
    let base = vec![0f32; 16];
    let p = globals("dare_q", &[]);
    let seeds = 4000;
    let mut mean = [0f64; 16];
    for s in 0..seeds {
        let out = run(
            "dare_q",
            &base,
            std::slice::from_ref(&x),
            &[per_model("dare_q", wdq(1.0, 0.3, None))],
            &p,
            s,
        )
        .unwrap();
        for (m, o) in mean.iter_mut().zip(&out) {
            *m += *o as f64 / seeds as f64;
        }
    }
    for (m, x) in mean.iter().zip(&x) {
        // sd of the mean: x·sqrt((1 − d)/d / seeds).
        let sd = *x as f64 * ((0.7 / 0.3) / seeds as f64).sqrt();
        assert!((m - *x as f64).abs() < 5.0 * sd, "{m} vs {x}");
    }
}

#[test]
fn wrong_shapes_and_bad_parameters_are_errors() {
    let base = vec![0f32; 8];
    for name in ["dare_q", "dare_magnitude"] {
        let p = globals(name, &[]);
        let mp = [
            per_model(name, wdq(1.0, 0.5, None)),
            per_model(name, wdq(1.0, 0.5, None)),
        ];
        let err = run(name, &base, &[vec![1.0; 8], vec![1.0; 7]], &mp, &p, 0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{name}");
        let bad = ParamMap::new().with("consensus", "majority");
        let m = mosaic_plugin_merge_sparse::plugin_module();
        let err = match (m.new_merge())(name.into(), &bad).into_result() {
            Ok(_) => panic!("{name}: consensus `majority` accepted"),
            Err(e) => e,
        };
        assert_eq!(err.kind, ErrorKind::InvalidParam, "{name}");
        let mp = [ParamMap::new()
            .with("weight", 1.0)
            .with("density", 0.5)
            .with("q", -1.0)];
        let err = run(name, &base, &[vec![1.0; 8]], &mp, &p, 0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParam, "{name}");
    }
}

#[test]
fn new_descriptors_validate_and_are_tagged() {
    let m = mosaic_plugin_merge_sparse::plugin_module();
    let info = (m.info())().into_result().unwrap();
    for (name, random) in [
        ("sce", false),
        ("pcb", false),
        ("dare_q", true),
        ("dare_magnitude", false),
    ] {
        let a = info
            .algorithms
            .iter()
            .find(|a| a.name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} not registered"));
        a.validate().unwrap();
        assert!(a.has_tag("requires_base"), "{name}");
        assert_eq!(a.has_tag("random"), random, "{name}");
    }
}
