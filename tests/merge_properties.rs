//! mosaic-testkit's merge property suite, run on every merge method as it is shipped: the
//! plugin libraries loaded through mosaic-host (proptest-generated tensors).

use mosaic_abi::{Family, ParamMap, PluginModRef};
use mosaic_host::Registry;
use mosaic_testkit::merge::{
    call_merge, check_merge_properties, mean_over_seeds, resolve_params, MergeInputs,
    MergeProperties,
};

fn registry() -> Registry {
    let mut reg = Registry::new();
    reg.load_dir(&mosaic_testkit::built_plugin_dir()).unwrap();
    reg
}

fn module_of(reg: &Registry, name: &str) -> PluginModRef {
    let e = reg.get(Family::Merge, name).unwrap();
    reg.plugin_of(e).module()
}

fn props(name: &str, models: usize, base: bool) -> MergeProperties {
    let mut p = MergeProperties::new(name, models, base);
    p.identity = true;
    p
}

#[test]
fn merging_identical_models_returns_the_model() {
    let reg = registry();
    let cases: Vec<MergeProperties> = vec![
        props("linear", 3, false),
        props("passthrough", 1, false),
        props("task_arithmetic", 3, true),
        props("ties", 3, true),
        props("dare_ties", 2, true),
        props("dare_linear", 2, true),
        props("breadcrumbs", 2, true),
        props("breadcrumbs_ties", 2, true),
        props("della", 2, true),
        props("della_linear", 2, true),
        props("sce", 3, true),
        props("pcb", 3, true),
        props("dare_q", 2, true),
        props("dare_magnitude", 2, true),
        {
            let mut p = props("slerp", 1, true);
            p.global = ParamMap::new().with("t", 0.3);
            p
        },
        {
            let mut p = props("nearswap", 1, true);
            p.global = ParamMap::new().with("t", 0.5);
            p
        },
        props("model_stock", 2, true),
        props("multislerp", 3, false),
        props("karcher", 3, false),
        props("nuslerp", 2, false),
        props("arcee_fusion", 1, true),
        props("ram", 2, true),
        props("ramplus_tl", 2, true),
    ];
    let mut covered: Vec<&str> = Vec::new();
    for p in &cases {
        check_merge_properties(module_of(&reg, &p.name), p).unwrap();
        covered.push(&p.name);
    }
    // Every merge method we ship is covered.
    for e in reg.family(Family::Merge) {
        assert!(
            covered.contains(&e.descriptor.name.as_str()),
            "merge method `{}` is not in the identity property list",
            e.descriptor.name
        );
    }
}

#[test]
fn order_independent_methods_do_not_depend_on_model_order() {
    let reg = registry();
    for (name, k, base) in [
        ("linear", 3, false),
        ("task_arithmetic", 3, true),
        ("ties", 3, true),
        ("multislerp", 3, false),
        ("karcher", 3, false),
    ] {
        let mut p = props(name, k, base);
        p.identity = false;
        p.order_independent = true;
        p.tolerance = 1e-4;
        check_merge_properties(module_of(&reg, name), &p).unwrap();
    }
}

#[test]
fn weights_summing_to_one_keep_a_constant_tensor_constant() {
    let reg = registry();
    for (name, base) in [("linear", false), ("task_arithmetic", true)] {
        let mut p = props(name, 3, base);
        p.identity = false;
        p.constant_preserving = true;
        check_merge_properties(module_of(&reg, name), &p).unwrap();
    }
}

#[test]
fn dare_is_unbiased_under_the_inverse_keep_probability_rule() {
    // E[DARE(δ)] = δ when kept deltas are scaled by 1/(1-p): the mean over seeds must approach
    // task arithmetic on the same inputs.
    let reg = registry();
    let n = 64;
    let base: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    let models: Vec<Vec<f32>> = (0..2)
        .map(|m| {
            base.iter()
                .enumerate()
                .map(|(i, b)| b + 0.1 * ((i * (m + 3)) as f32 * 0.91).cos())
                .collect()
        })
        .collect();
    let (per_model, global) = resolve_params(
        reg.descriptor(Family::Merge, "dare_linear").unwrap(),
        &ParamMap::new().with("weight", 0.5).with("density", 0.6),
        &ParamMap::new()
            .with("rescale_rule", "inverse_keep_prob")
            .with("rescale", true),
    )
    .unwrap();
    let inputs = MergeInputs {
        shape: vec![n as u64],
        base: Some(base.clone()),
        models,
        per_model: vec![per_model; 2],
        global,
    };
    let dare = reg.merge_method("dare_linear").unwrap();
    let mean = mean_over_seeds(&dare, &inputs, 4000).unwrap();
    let ta = reg.merge_method("task_arithmetic").unwrap();
    let (ta_model, ta_global) = resolve_params(
        reg.descriptor(Family::Merge, "task_arithmetic").unwrap(),
        &ParamMap::new().with("weight", 0.5),
        &ParamMap::new(),
    )
    .unwrap();
    let reference = call_merge(
        &ta,
        &MergeInputs {
            per_model: vec![ta_model; 2],
            global: ta_global,
            ..inputs.clone()
        },
        0,
    )
    .unwrap();
    // Each element's DARE estimate has a standard deviation of about
    // 0.5·0.1·sqrt(p/(1-p))·sqrt(2) ≈ 0.058 per seed, so ≈ 0.0009 over 4000 seeds.
    for (i, (a, b)) in mean.iter().zip(&reference).enumerate() {
        assert!(
            (a - b).abs() < 0.005,
            "element {i}: mean {a} vs expectation {b}"
        );
    }
}
