//! Planner: errors naming tensor and file, parameter resolution per tensor, slices, tied
//! embeddings, seeds, dry-run output.

mod common;

use std::path::Path;

use mosaic_abi::{AlgorithmDescriptor, Family, ParamSpec};
use mosaic_merge::{tensor_seed, MergeConfig, MergeError, Plan, PlanOptions, DEFAULT_SEED};

fn plan(dir: &Path, yaml: &str, d: &AlgorithmDescriptor) -> Result<Plan, MergeError> {
    let cfg = MergeConfig::from_yaml(yaml)?;
    Plan::build(&cfg, dir, d, &PlanOptions::default())
}

fn ta_descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(Family::Merge, "task_arithmetic", "Task vectors.")
        .param(ParamSpec::f64("weight", None, "w").per_model())
        .param(
            ParamSpec::f64("density", Some(1.0), "d")
                .per_model()
                .range(0.0, 1.0),
        )
        .param(ParamSpec::f64("lambda", Some(1.0), "l"))
        .param(ParamSpec::bool("normalize", Some(false), "n"))
        .tag("requires_base")
}

#[test]
fn missing_tensor_names_tensor_and_model() {
    let tmp = tempfile::tempdir().unwrap();
    common::tiny_model(&tmp.path().join("a"), 2, 0.0, true);
    // b: like a without one tensor.
    let t: Vec<_> = common::read_all(&tmp.path().join("a"))
        .into_iter()
        .filter(|(n, _, _)| n != "model.layers.1.input_layernorm.weight")
        .collect();
    let refs: Vec<_> = t
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    common::write_model(&tmp.path().join("b"), &refs, u64::MAX);
    let e = plan(
        tmp.path(),
        "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]\n",
        &common::linear_descriptor(),
    )
    .unwrap_err();
    assert!(matches!(e, MergeError::MissingTensor { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("`model.layers.1.input_layernorm.weight`"),
        "{msg}"
    );
    assert!(
        msg.contains("`b`") && msg.contains(&tmp.path().join("b").display().to_string()),
        "{msg}"
    );
}

#[test]
fn shape_mismatch_names_both_shapes_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    common::tiny_model(&tmp.path().join("a"), 1, 0.0, true);
    common::tiny_model(&tmp.path().join("b"), 1, 0.0, true);
    // c: like a, but a larger vocabulary (mergekit would truncate; we refuse).
    let mut t = common::read_all(&tmp.path().join("a"));
    for (n, s, v) in t.iter_mut() {
        if n == "model.embed_tokens.weight" {
            *s = vec![5, 2];
            v.extend([9.0, 9.0]);
        }
    }
    let refs: Vec<_> = t
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    common::write_model(&tmp.path().join("c"), &refs, u64::MAX);
    let e = plan(
        tmp.path(),
        "merge_method: linear\nmodels: [{model: a}, {model: c}]\nparameters: {weight: 1}\n",
        &common::linear_descriptor(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, MergeError::ShapeMismatch { .. }), "{msg}");
    assert!(msg.contains("model.embed_tokens.weight"), "{msg}");
    assert!(msg.contains("[4, 2]") && msg.contains("[5, 2]"), "{msg}");
    assert!(
        msg.contains(&tmp.path().join("a/model.safetensors").display().to_string())
            && msg.contains(&tmp.path().join("c/model.safetensors").display().to_string()),
        "{msg}"
    );
}

#[test]
fn unknown_or_misplaced_parameters_are_named() {
    let fx = common::fixtures();
    let e = plan(
        &fx,
        "merge_method: linear\nmodels: [{model: ./ft1, parameters: {weight: 1, densty: 0.5}}]\n",
        &common::linear_descriptor(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("densty") && msg.contains("`linear`"), "{msg}");
    let e = plan(
        &fx,
        "merge_method: linear\nmodels: [{model: ./ft1, parameters: {weight: 1, normalize: false}}]\n",
        &common::linear_descriptor(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("models[0].parameters.normalize"),
        "{e}"
    );
    // A required per-model parameter nobody gives.
    let e = plan(
        &fx,
        "merge_method: linear\nmodels: [{model: ./ft1}]\n",
        &common::linear_descriptor(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("`weight`"), "{e}");
    // A method tagged requires_base without a base.
    let e = plan(
        &fx,
        "merge_method: task_arithmetic\nmodels: [{model: ./ft1, parameters: {weight: 1}}]\n",
        &ta_descriptor(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, MergeError::Config { key, .. } if key == "base_model"),
        "{e}"
    );
}

#[test]
fn per_tensor_parameters_follow_mergekit_precedence() {
    let fx = common::fixtures();
    let p = plan(
        &fx,
        "merge_method: task_arithmetic\nbase_model: ./base\nmodels:\n  - model: ./ft1\n    parameters:\n      weight: [0.0, 1.0]\n      density: [{filter: mlp, value: 0.5}]\n  - model: ./ft3\nparameters:\n  weight: 0.3\n  density: 0.9\n  lambda: [{filter: self_attn, value: [1.0, 2.0, 4.0]}, {value: 0.5}]\n",
        &ta_descriptor(),
    )
    .unwrap();
    let t = |name: &str| p.tensors.iter().find(|t| t.name == name).unwrap();
    let w = |name: &str, i: usize| t(name).model_params[i].f64("weight").unwrap();
    let d = |name: &str, i: usize| t(name).model_params[i].f64("density").unwrap();
    let l = |name: &str| t(name).params.f64("lambda").unwrap();
    // 3 layers: t = 0, 0.5, 1; embeddings, final norm and lm_head take the first value.
    assert_eq!(w("model.layers.0.mlp.up_proj.weight", 0), 0.0);
    assert_eq!(w("model.layers.1.mlp.up_proj.weight", 0), 0.5);
    assert_eq!(w("model.layers.2.mlp.up_proj.weight", 0), 1.0);
    assert_eq!(w("model.embed_tokens.weight", 0), 0.0);
    assert_eq!(w("lm_head.weight", 0), 0.0);
    // ft3 falls back to the top-level value.
    assert_eq!(w("model.layers.1.mlp.up_proj.weight", 1), 0.3);
    // A filter with no match falls through to the next source (top level), not the default.
    assert_eq!(d("model.layers.1.mlp.up_proj.weight", 0), 0.5);
    assert_eq!(d("model.layers.1.self_attn.q_proj.weight", 0), 0.9);
    // Global: filtered gradient.
    assert_eq!(l("model.layers.1.self_attn.q_proj.weight"), 2.0);
    assert_eq!(l("model.layers.2.self_attn.q_proj.weight"), 4.0);
    assert_eq!(l("model.layers.2.mlp.up_proj.weight"), 0.5);
    // Defaults filled in; the base is passed separately.
    let x = t("model.norm.weight");
    assert!(!x.params.bool("normalize").unwrap());
    assert!(x.base.is_some() && x.base_index.is_none());
    assert_eq!(x.models.len(), 2);
    assert_eq!(p.inputs[x.base.as_ref().unwrap().model].reference, "./base");
    // Seeds: per tensor, stable.
    assert_eq!(x.seed, tensor_seed(DEFAULT_SEED, "model.norm.weight"));
    assert_ne!(x.seed, t("lm_head.weight").seed);
    // Dry run: JSON and text list methods and params.
    let json: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(json["method"], "task_arithmetic");
    let jt = json["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "model.layers.2.self_attn.q_proj.weight")
        .unwrap();
    assert_eq!(jt["params"]["lambda"], 4.0);
    assert_eq!(jt["model_params"][0]["weight"], 1.0);
    let text = p.to_string();
    assert!(text.contains("model.layers.1.mlp.up_proj.weight") && text.contains("weight=0.5"));
}

#[test]
fn base_listed_among_models_gets_base_index() {
    let fx = common::fixtures();
    let cfg = MergeConfig::from_file(fx.join("cfg/slerp.yaml")).unwrap();
    let d = AlgorithmDescriptor::new(Family::Merge, "slerp", "s")
        .param(ParamSpec::f64("t", None, "t"))
        .tag("requires_base");
    let p = Plan::build(&cfg, &fx, &d, &PlanOptions { seed: Some(7) }).unwrap();
    let x = &p.tensors[0];
    assert_eq!(x.base_index, Some(0));
    assert_eq!(x.models.len(), 2);
    assert_eq!(x.params.f64("t").unwrap(), 0.35);
    assert_eq!(p.constructor_params().f64("t").unwrap(), 0.35);
    assert_eq!(x.seed, tensor_seed(7, &x.name));
}

#[test]
fn tied_embeddings_follow_mergekit() {
    let tmp = tempfile::tempdir().unwrap();
    common::tiny_model(&tmp.path().join("tied"), 2, 0.0, false);
    common::tiny_model(&tmp.path().join("untied"), 2, 1.0, true);
    common::tiny_model(&tmp.path().join("tied2"), 2, 2.0, false);
    let d = common::linear_descriptor();
    // Some input has lm_head: the output has one; tied inputs lend their embeddings.
    let p = plan(
        tmp.path(),
        "merge_method: linear\nmodels: [{model: tied}, {model: untied}]\nparameters: {weight: 1}\n",
        &d,
    )
    .unwrap();
    let lm = p
        .tensors
        .iter()
        .find(|t| t.name == "lm_head.weight")
        .unwrap();
    assert_eq!(lm.models[0].tensor, "model.embed_tokens.weight");
    assert_eq!(lm.models[1].tensor, "lm_head.weight");
    assert!(p.notes.iter().any(|n| n.contains("tied")));
    // No input has lm_head: the output stays tied (no lm_head.weight).
    let p = plan(
        tmp.path(),
        "merge_method: linear\nmodels: [{model: tied}, {model: tied2}]\nparameters: {weight: 1}\n",
        &d,
    )
    .unwrap();
    assert!(p.tensors.iter().all(|t| t.name != "lm_head.weight"));
}

#[test]
fn slices_renumber_layers() {
    let tmp = tempfile::tempdir().unwrap();
    common::tiny_model(&tmp.path().join("a"), 3, 0.0, true);
    common::tiny_model(&tmp.path().join("b"), 3, 100.0, true);
    let d = AlgorithmDescriptor::new(Family::Merge, "passthrough", "p")
        .param(ParamSpec::f64("scale", Some(1.0), "s").per_model())
        .tag("single_input");
    let p = plan(
        tmp.path(),
        "merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [0, 2]}]\n  - sources: [{model: b, layer_range: [1, 3], parameters: {scale: [1.0, 3.0]}}]\n",
        &d,
    )
    .unwrap();
    assert_eq!(p.num_layers, Some(4));
    let t = |name: &str| p.tensors.iter().find(|t| t.name == name).unwrap();
    let src = |name: &str| {
        let x = t(name);
        (
            p.inputs[x.models[0].model].reference.clone(),
            x.models[0].tensor.clone(),
        )
    };
    assert_eq!(
        src("model.layers.1.mlp.up_proj.weight"),
        ("a".into(), "model.layers.1.mlp.up_proj.weight".into())
    );
    assert_eq!(
        src("model.layers.2.mlp.up_proj.weight"),
        ("b".into(), "model.layers.1.mlp.up_proj.weight".into())
    );
    assert_eq!(
        src("model.layers.3.mlp.up_proj.weight"),
        ("b".into(), "model.layers.2.mlp.up_proj.weight".into())
    );
    assert_eq!(src("model.embed_tokens.weight").0, "a");
    assert_eq!(src("lm_head.weight").0, "b");
    assert_eq!(src("model.norm.weight").0, "b");
    // Gradients run over each slice's own layers.
    let s = |name: &str| t(name).model_params[0].f64("scale").unwrap();
    assert_eq!(s("model.layers.2.mlp.up_proj.weight"), 1.0);
    assert_eq!(s("model.layers.3.mlp.up_proj.weight"), 3.0);
    assert_eq!(p.tensors.len(), 3 + 4 * 2);
    // A range past the model's layers is an error naming the key.
    let e = plan(
        tmp.path(),
        "merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [2, 4]}]\n",
        &d,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("slices[0].sources[0].layer_range"),
        "{e}"
    );
}

#[test]
fn dtype_from_config() {
    let fx = common::fixtures();
    let cfg = MergeConfig::from_file(fx.join("cfg/ties_bf16.yaml")).unwrap();
    let d = AlgorithmDescriptor::new(Family::Merge, "ties", "t")
        .param(ParamSpec::f64("weight", None, "w").per_model())
        .param(
            ParamSpec::f64("density", Some(1.0), "d")
                .per_model()
                .range(0.0, 1.0),
        )
        .param(ParamSpec::bool("normalize", Some(true), "n"))
        .tag("requires_base");
    let p = Plan::build(&cfg, &fx, &d, &PlanOptions::default()).unwrap();
    use mosaic_tensor::DType;
    assert!(p
        .tensors
        .iter()
        .all(|t| t.compute_dtype == DType::BF16 && t.dtype == DType::BF16));
    assert_eq!(p.config_dtype, Some(DType::BF16));
    assert_eq!(p.tensors[0].model_params[1].f64("density").unwrap(), 0.3);
    assert!(p.tensors[0].params.bool("normalize").unwrap());
}
