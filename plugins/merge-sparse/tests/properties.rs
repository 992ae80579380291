//! Property tests through the ABI for the generalized task arithmetic methods.

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{
    ErrorKind, MergeCall, MergeMethodBox, ParamMap, RError, RngSeed, TensorMut, TensorRef,
};
use mosaic_tensor::DType;
use proptest::prelude::*;

fn method(name: &str) -> MergeMethodBox {
    let m = mosaic_plugin_merge_sparse::plugin_module();
    (m.new_merge())(name.into(), &ParamMap::new())
        .into_result()
        .unwrap()
}

/// Global parameters with the method's descriptor defaults filled in, overridden by `extra`.
fn globals(name: &str, extra: &[(&str, mosaic_abi::ParamValue)]) -> ParamMap {
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
    given
        .resolve(&d.params, mosaic_abi::ParamScope::Global)
        .unwrap()
}

fn run(
    name: &str,
    base: &[f32],
    models: &[Vec<f32>],
    mp: &[ParamMap],
    params: &ParamMap,
    seed: u64,
) -> Result<Vec<f32>, RError> {
    let shape = [base.len() as u64];
    let refs: Vec<TensorRef<'_>> = models
        .iter()
        .map(|m| TensorRef::from_f32(&shape, m).unwrap())
        .collect();
    let call = MergeCall {
        tensor_name: RStr::from_str("t"),
        base: Some(TensorRef::from_f32(&shape, base).unwrap()).into(),
        models: RSlice::from_slice(&refs),
        base_index: None.into(),
        model_params: RSlice::from_slice(mp),
        params,
        compute_dtype: DType::F32.into(),
        seed: RngSeed::from_u64(seed),
    };
    let mut out = vec![0f32; base.len()];
    method(name)
        .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
        .into_result()?;
    Ok(out)
}

fn wd(w: f64, d: f64) -> ParamMap {
    ParamMap::new()
        .with("weight", w)
        .with("density", d)
        .with("gamma", 0.01)
        .with("epsilon", 0.1)
}

const ALL: [&str; 7] = [
    "ties",
    "dare_ties",
    "dare_linear",
    "breadcrumbs",
    "breadcrumbs_ties",
    "della",
    "della_linear",
];

fn vec_of(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-2.0f32..2.0, n)
}

fn mp_for(name: &str, w: f64, d: f64) -> ParamMap {
    let mut p = ParamMap::new().with("weight", w).with("density", d);
    if name.starts_with("breadcrumbs") {
        p.insert("gamma", 0.01);
    }
    if name.starts_with("della") {
        p.insert("epsilon", 0.1);
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn density_one_merging_identical_models_gives_the_model(base in vec_of(24), x in vec_of(24), n in 1usize..4, w in 0.2f64..2.0) {
        // Every element kept, all signs agree: with normalize the merge returns the model.
        for name in ALL {
            let p = globals(name, &[("normalize", true.into())]);
            let mp = vec![mp_for(name, w, 1.0); n];
            let out = run(name, &base, &vec![x.clone(); n], &mp, &p, 3).unwrap();
            for (o, x) in out.iter().zip(&x) {
                prop_assert!((o - x).abs() <= 1e-5 * (1.0 + x.abs()), "{name}: {o} vs {x}");
            }
        }
    }

    #[test]
    fn model_order_does_not_matter(base in vec_of(40), a in vec_of(40), b in vec_of(40), c in vec_of(40), d in 0.2f64..1.0) {
        for name in ["ties", "breadcrumbs", "breadcrumbs_ties"] {
            let p = globals(name, &[]);
            let mp = vec![mp_for(name, 0.7, d), mp_for(name, 0.3, d), mp_for(name, 1.1, d)];
            let rev: Vec<ParamMap> = mp.iter().rev().cloned().collect();
            let x = run(name, &base, &[a.clone(), b.clone(), c.clone()], &mp, &p, 0).unwrap();
            let y = run(name, &base, &[c.clone(), b.clone(), a.clone()], &rev, &p, 0).unwrap();
            for (x, y) in x.iter().zip(&y) {
                prop_assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{name}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn same_seed_same_bits(base in vec_of(64), a in vec_of(64), b in vec_of(64), seed in any::<u64>()) {
        for name in ["dare_ties", "dare_linear", "della", "della_linear"] {
            let p = globals(name, &[]);
            let mp = vec![mp_for(name, 1.0, 0.5), mp_for(name, 0.5, 0.5)];
            let x = run(name, &base, &[a.clone(), b.clone()], &mp, &p, seed).unwrap();
            let y = run(name, &base, &[a.clone(), b.clone()], &mp, &p, seed).unwrap();
            prop_assert_eq!(x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), y.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
    }
}

#[test]
fn dare_with_density_one_is_identity_on_deltas() {
    let base: Vec<f32> = (0..50).map(|i| i as f32 * 0.1).collect();
    let x: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
    let p = globals("dare_linear", &[]);
    let out = run(
        "dare_linear",
        &base,
        std::slice::from_ref(&x),
        &[wd(1.0, 1.0)],
        &p,
        9,
    )
    .unwrap();
    for (o, x) in out.iter().zip(&x) {
        assert!((o - x).abs() <= 1e-6, "{o} vs {x}");
    }
}

#[test]
fn dare_drops_about_one_minus_density() {
    let n = 20_000;
    let base = vec![0f32; n];
    let x = vec![1f32; n];
    for density in [0.1, 0.5, 0.9] {
        let p = globals("dare_linear", &[("rescale", false.into())]);
        let out = run(
            "dare_linear",
            &base,
            std::slice::from_ref(&x),
            &[wd(1.0, density)],
            &p,
            11,
        )
        .unwrap();
        let kept = out.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        // 5 standard deviations of a binomial proportion.
        let sd = (density * (1.0 - density) / n as f64).sqrt();
        assert!(
            (kept - density).abs() < 5.0 * sd,
            "density {density}: kept {kept}"
        );
    }
}

#[test]
fn dare_is_unbiased_under_the_inverse_rule_and_l1_keeps_the_norm() {
    let x: Vec<f32> = (0..16).map(|i| 0.5 + i as f32 * 0.25).collect();
    let base = vec![0f32; 16];
    let p = globals(
        "dare_linear",
        &[("rescale_rule", "inverse_keep_prob".into())],
    );
    let seeds = 4000;
    let mut mean = [0f64; 16];
    for s in 0..seeds {
        let out = run(
            "dare_linear",
            &base,
            std::slice::from_ref(&x),
            &[wd(1.0, 0.3)],
            &p,
            s,
        )
        .unwrap();
        for (m, o) in mean.iter_mut().zip(out) {
            *m += o as f64 / seeds as f64;
        }
    }
    for (m, x) in mean.iter().zip(&x) {
        // sd of the mean: x * sqrt((1-d)/d / seeds) ≈ 0.024 x.
        assert!((m - *x as f64).abs() < 0.12 * *x as f64, "mean {m} vs {x}");
    }
    // mergekit's rule: kept elements scaled so that the L1 norm is unchanged.
    let p = globals("dare_linear", &[]);
    let out = run(
        "dare_linear",
        &base,
        std::slice::from_ref(&x),
        &[wd(1.0, 0.5)],
        &p,
        5,
    )
    .unwrap();
    let l1 = |v: &[f32]| v.iter().map(|x| x.abs() as f64).sum::<f64>();
    assert!((l1(&out) - l1(&x)).abs() < 1e-4 * l1(&x));
}

#[test]
fn ties_elects_signs_on_weighted_deltas() {
    // Element 0: deltas +1 (w 3) and -2 (w 1): weighted +3 vs -2, sign +, keeps model 0 only.
    let base = vec![0f32, 0.0];
    let a = vec![1f32, 1.0];
    let b = vec![-2f32, 1.0];
    let p = globals("ties", &[]);
    let out = run("ties", &base, &[a, b], &[wd(3.0, 1.0), wd(1.0, 1.0)], &p, 0).unwrap();
    // normalize: element 0 = 3*1 / 3 = 1; element 1 = (3 + 1) / 4 = 1.
    assert_eq!(out, vec![1.0, 1.0]);
    // count consensus: one + and one - ties to +, same result here; with three models it differs.
    let c = globals("ties", &[("consensus_method", "count".into())]);
    let out = run(
        "ties",
        &[0.0],
        &[vec![5.0], vec![-1.0], vec![-1.0]],
        &[wd(1.0, 1.0), wd(1.0, 1.0), wd(1.0, 1.0)],
        &c,
        0,
    )
    .unwrap();
    assert_eq!(out, vec![-1.0]);
    let out = run(
        "ties",
        &[0.0],
        &[vec![5.0], vec![-1.0], vec![-1.0]],
        &[wd(1.0, 1.0), wd(1.0, 1.0), wd(1.0, 1.0)],
        &p,
        0,
    )
    .unwrap();
    assert_eq!(out, vec![5.0]);
}

#[test]
fn breadcrumbs_keeps_the_band_between_outliers_and_small_values() {
    // 10 elements, density 0.5, gamma 0.2: drop the 2 largest and the 3 smallest.
    let base = vec![0f32; 10];
    let x: Vec<f32> = (1..=10).map(|i| i as f32).collect();
    let p = globals("breadcrumbs", &[]);
    let mp = ParamMap::new()
        .with("weight", 1.0)
        .with("density", 0.5)
        .with("gamma", 0.2);
    let out = run("breadcrumbs", &base, std::slice::from_ref(&x), &[mp], &p, 0).unwrap();
    assert_eq!(out, vec![0.0, 0.0, 0.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0]);
}

#[test]
fn della_rejects_bad_epsilon_and_wrong_shapes_are_errors() {
    let p = globals("della", &[]);
    let mp = ParamMap::new()
        .with("weight", 1.0)
        .with("density", 0.9)
        .with("epsilon", 0.2);
    let e = run("della", &[0.0; 4], &[vec![1.0; 4]], &[mp], &p, 0).unwrap_err();
    assert!(e.message().contains("`epsilon`"), "{e}");

    let shape = [4u64];
    let other = [3u64];
    let (a, b) = (vec![0f32; 4], vec![0f32; 3]);
    let refs = [TensorRef::from_f32(&other, &b).unwrap()];
    let mp = [wd(1.0, 0.5)];
    for name in ALL {
        let params = globals(name, &[]);
        let call = MergeCall {
            tensor_name: RStr::from_str("w"),
            base: Some(TensorRef::from_f32(&shape, &a).unwrap()).into(),
            models: RSlice::from_slice(&refs),
            base_index: None.into(),
            model_params: RSlice::from_slice(&mp),
            params: &params,
            compute_dtype: DType::F32.into(),
            seed: RngSeed::from_u64(0),
        };
        let mut out = vec![0f32; 4];
        let e = method(name)
            .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
            .into_result()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{name}: {e}");
        assert!(e.message().contains("`w`"), "{name}: {e}");
    }
}

#[test]
fn descriptors_follow_mergekit() {
    let m = mosaic_plugin_merge_sparse::plugin_module();
    let info = (m.info())().into_result().unwrap();
    let names: Vec<&str> = info.algorithms.iter().map(|a| a.name.as_str()).collect();
    // The generalized task arithmetic family comes first; SCE, PCB and DAREx follow (their
    // descriptors are checked in their own test files).
    assert_eq!(&names[..ALL.len()], ALL);
    for a in info.algorithms.iter().take(ALL.len()) {
        a.validate().unwrap();
        assert!(a.has_tag("requires_base"));
        assert_eq!(
            a.has_tag("random"),
            a.name.starts_with("dare") || a.name.starts_with("della")
        );
    }
    let d = |n: &str, k: &str| globals(n, &[]).get(k).cloned().unwrap();
    assert_eq!(d("ties", "normalize"), true.into());
    assert_eq!(d("dare_ties", "rescale"), true.into());
    assert_eq!(d("breadcrumbs", "normalize"), false.into());
    assert_eq!(d("della", "normalize"), true.into());
    assert_eq!(d("della_linear", "normalize"), false.into());
}
