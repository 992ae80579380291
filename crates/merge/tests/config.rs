//! Config parsing: every fixture config, unknown keys, impossible values, gradients, filters.

mod common;

use mosaic_abi::{ParamKind, ParamValue};
use mosaic_merge::config::Scalar;
use mosaic_merge::params::{evaluate, layer_t};
use mosaic_merge::{MergeConfig, MergeError, ParameterSetting};

#[test]
fn parses_every_fixture_config() {
    let dir = common::fixtures().join("cfg");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let cfg = MergeConfig::from_file(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        // Fixture files are named `<method>` or `<method>_<variant>`.
        let stem = p.file_stem().unwrap().to_str().unwrap();
        assert!(
            stem == cfg.merge_method || stem.starts_with(&format!("{}_", cfg.merge_method)),
            "{stem}.yaml uses merge_method `{}`",
            cfg.merge_method
        );
        assert!(!cfg.referenced_models().is_empty());
        n += 1;
    }
    assert!(n >= 10, "only {n} fixture configs parsed");
    let ta = MergeConfig::from_file(dir.join("task_arithmetic.yaml")).unwrap();
    assert_eq!(ta.base_model.as_deref(), Some("./base"));
    let models = ta.models.as_ref().unwrap();
    assert_eq!(models[1].model, "./ft3");
    assert_eq!(
        models[1].parameters.as_ref().unwrap()["weight"],
        ParameterSetting::Scalar(Scalar::Float(0.9))
    );
    assert_eq!(
        ta.parameters.as_ref().unwrap()["lambda"],
        ParameterSetting::Scalar(Scalar::Float(0.8))
    );
    let bf = MergeConfig::from_file(dir.join("ties_bf16.yaml")).unwrap();
    assert_eq!(bf.dtype().unwrap(), Some(mosaic_tensor::DType::BF16));
}

#[test]
fn unknown_keys_are_named() {
    let e = MergeConfig::from_yaml("merge_method: linear\nmodels: [{model: a}]\nbase_modle: b\n")
        .unwrap_err();
    assert!(matches!(e, MergeError::Parse { .. }));
    assert!(e.to_string().contains("base_modle"), "{e}");
    let e = MergeConfig::from_yaml("merge_method: linear\nmodels: [{model: a, weights: 1}]\n")
        .unwrap_err();
    assert!(e.to_string().contains("weights"), "{e}");
    let e = MergeConfig::from_yaml(
        "merge_method: linear\nmodels: [{model: a, parameters: {weight: [{filter: mlp, valu: 1}]}}]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("valu"), "{e}");
}

#[test]
fn impossible_values_are_named() {
    let cases = [
        ("merge_method: ties\nmodels: []\n", "models"),
        ("merge_method: ties\n", "models"),
        (
            "merge_method: ties\nmodels: [{model: a, parameters: {density: -0.1, weight: 1}}]\n",
            "models[0].parameters.density",
        ),
        (
            "merge_method: ties\nmodels: [{model: a}]\nparameters: {density: [{filter: mlp, value: [0.2, 1.5]}]}\n",
            "parameters.density",
        ),
        ("merge_method: linear\nmodels: [{model: a}]\ndtype: float13\n", "dtype"),
        ("merge_method: linear\nmodels: [{model: a}]\nout_dtype: int64\n", "out_dtype"),
        ("merge_method: linear\nmodels: [{model: a}, {model: a}]\n", "models[1].model"),
        (
            "merge_method: linear\nmodels: [{model: a}]\ntokenizer_source: union\n",
            "tokenizer_source",
        ),
        (
            "merge_method: passthrough\nslices:\n  - sources:\n    - {model: a, layer_range: [0, 2]}\n    - {model: b, layer_range: [0, 3]}\n",
            "slices[0].sources[1].layer_range",
        ),
        (
            "merge_method: linear\nmodels: [{model: a}]\nslices: [{sources: [{model: a, layer_range: [0, 1]}]}]\n",
            "models",
        ),
    ];
    for (yaml, key) in cases {
        let e = MergeConfig::from_yaml(yaml).unwrap_err();
        assert!(
            matches!(&e, MergeError::Config { key: k, .. } if k == key),
            "{yaml}: {e}"
        );
        assert!(e.to_string().contains(key), "{e}");
    }
}

#[test]
fn slices_parse() {
    let cfg = MergeConfig::from_yaml(
        "merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [0, 2]}]\n  - sources: [{model: b, layer_range: [1, 3], parameters: {scale: 0.5}}]\ndtype: bfloat16\n",
    )
    .unwrap();
    let s = cfg.slices.as_ref().unwrap();
    assert_eq!(s[1].sources[0].layer_range, [1, 3]);
    assert_eq!(cfg.referenced_models(), ["a", "b"]);
}

fn f(v: Option<ParamValue>) -> f64 {
    v.unwrap().as_f64().unwrap()
}

/// A 3-layer model: layers 0, 1, 2 sit at t = 0, 0.5, 1.
#[test]
fn gradient_matches_hand_computed_values() {
    let g: ParameterSetting =
        serde_yaml::from_str::<ParameterSetting>("[0.0, 0.5, 1.0, 0.2]").unwrap();
    // Four anchors spread over [0, 1]: at t = 0.5 the position is 1.5, halfway between
    // 0.5 and 1.0; at t = 1 it is the last value.
    let t: Vec<f64> = (0..3).map(|i| layer_t(i, 3)).collect();
    assert_eq!(t, [0.0, 0.5, 1.0]);
    assert_eq!(
        f(evaluate(&g, "model.layers.0.x", t[0], ParamKind::F64)),
        0.0
    );
    assert!((f(evaluate(&g, "model.layers.1.x", t[1], ParamKind::F64)) - 0.75).abs() < 1e-12);
    assert!((f(evaluate(&g, "model.layers.2.x", t[2], ParamKind::F64)) - 0.2).abs() < 1e-12);
    // Two anchors: linear ramp.
    let g2: ParameterSetting = serde_yaml::from_str("[1, 3]").unwrap();
    assert_eq!(f(evaluate(&g2, "n", 0.5, ParamKind::F64)), 2.0);
    // One layer sits at t = 1.
    assert_eq!(layer_t(0, 1), 1.0);
    // Booleans pick an entry, no interpolation.
    let b: ParameterSetting = serde_yaml::from_str("[true, false]").unwrap();
    assert_eq!(
        evaluate(&b, "n", 0.5, ParamKind::Bool),
        Some(ParamValue::Bool(true))
    );
    assert_eq!(
        evaluate(&b, "n", 1.0, ParamKind::Bool),
        Some(ParamValue::Bool(false))
    );
    // A list for a list-valued parameter is the value itself.
    assert_eq!(
        evaluate(&g2, "n", 0.5, ParamKind::F64List),
        Some(ParamValue::F64List(vec![1.0, 3.0].into()))
    );
}

#[test]
fn filters_first_match_wins() {
    let s: ParameterSetting = serde_yaml::from_str(
        "[{filter: self_attn, value: 0.1}, {filter: mlp, value: [0.0, 1.0]}, {value: 0.7}]",
    )
    .unwrap();
    let at = |name: &str, t| f(evaluate(&s, name, t, ParamKind::F64));
    assert_eq!(at("model.layers.0.self_attn.q_proj.weight", 0.0), 0.1);
    assert_eq!(at("model.layers.1.mlp.up_proj.weight", 0.5), 0.5);
    assert_eq!(at("model.layers.1.input_layernorm.weight", 0.5), 0.7);
    assert_eq!(at("lm_head.weight", 0.0), 0.7);
    // No default and no match: nothing (the next source is consulted).
    let s: ParameterSetting = serde_yaml::from_str("{filter: mlp, value: 2}").unwrap();
    assert_eq!(evaluate(&s, "model.norm.weight", 0.0, ParamKind::F64), None);
    assert_eq!(
        evaluate(&s, "model.layers.0.mlp.x", 0.0, ParamKind::F64),
        Some(ParamValue::F64(2.0))
    );
    // `*` matches everything.
    let s: ParameterSetting = serde_yaml::from_str("[{filter: '*', value: 3}]").unwrap();
    assert_eq!(f(evaluate(&s, "x", 0.0, ParamKind::F64)), 3.0);
}
