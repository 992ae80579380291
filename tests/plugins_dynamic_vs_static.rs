//! Load every built plugin `.so` through mosaic-host, call each family's algorithm on real
//! data, and check that the same algorithm linked statically gives bit-identical results.
//!
//! Needs the plugins built first: `cargo xtask test` does it (or `cargo xtask build-plugins`).

use abi_stable::std_types::{ROption, RSlice, RStr};
use mosaic_abi::{
    Family, MergeCall, Observation, ParamMap, PrivacyEvent, RngSeed, SearchSpace, TensorMut,
    TensorRef,
};
use mosaic_host::{PluginOrigin, Registry};

fn dynamic() -> Registry {
    let mut reg = Registry::new();
    reg.load_dir(&mosaic_testkit::built_plugin_dir()).unwrap();
    reg
}

fn statik() -> Registry {
    let mut reg = Registry::new();
    for m in [
        mosaic_plugin_merge_basic::plugin_module(),
        mosaic_plugin_optim_basic::plugin_module(),
        mosaic_plugin_dp_basic::plugin_module(),
        mosaic_plugin_dp_accounting::plugin_module(),
        mosaic_plugin_ldp_basic::plugin_module(),
        mosaic_plugin_ldp_freq::plugin_module(),
        mosaic_plugin_ldp_rappor::plugin_module(),
        mosaic_plugin_ldp_mean::plugin_module(),
        mosaic_plugin_nas_basic::plugin_module(),
    ] {
        reg.add_static(m).unwrap();
    }
    reg
}

fn data(n: usize, salt: u64) -> Vec<f32> {
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x % 20_000) as f32 / 10_000.0) - 1.0
        })
        .collect()
}

fn run_linear(reg: &Registry) -> Vec<u32> {
    let linear = reg.merge_method("linear").unwrap();
    let shape = [64u64, 48];
    let n = 64 * 48;
    let (a, b, c) = (data(n, 1), data(n, 2), data(n, 3));
    let models = [
        TensorRef::from_f32(&shape, &a).unwrap(),
        TensorRef::from_f32(&shape, &b).unwrap(),
        TensorRef::from_f32(&shape, &c).unwrap(),
    ];
    let per_model = [
        ParamMap::new().with("weight", 0.5),
        ParamMap::new().with("weight", 0.3),
        ParamMap::new().with("weight", 0.2),
    ];
    let global = ParamMap::new().with("normalize", true);
    let mut out = vec![0f32; n];
    let call = MergeCall {
        tensor_name: RStr::from_str("model.layers.0.mlp.up_proj.weight"),
        base: ROption::RNone,
        models: RSlice::from_slice(&models),
        base_index: ROption::RNone,
        model_params: RSlice::from_slice(&per_model),
        params: &global,
        compute_dtype: mosaic_abi::AbiDType::F32,
        seed: RngSeed::from_u64(0),
    };
    linear
        .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
        .into_result()
        .unwrap();
    // Independent reference: the weighted average, computed here.
    for i in 0..n {
        let want = (0.5 * a[i] + 0.3 * b[i] + 0.2 * c[i]) / (0.5 + 0.3 + 0.2);
        assert!(
            (out[i] - want).abs() <= 1e-6,
            "element {i}: {} vs {want}",
            out[i]
        );
    }
    out.iter().map(|v| v.to_bits()).collect()
}

fn run_sgd(reg: &Registry) -> Vec<u32> {
    let params = ParamMap::new().with("momentum", 0.5);
    let opt = reg.optimizer("sgd", &params).unwrap();
    let n = 1000;
    let target = data(n, 7);
    let mut p = vec![0f32; n];
    let mut driver =
        mosaic_optim::Driver::flat(opt, n, 0.1, mosaic_optim::LrSchedule::Constant).unwrap();
    let loss = |p: &[f32]| -> f32 { p.iter().zip(&target).map(|(a, b)| (a - b).powi(2)).sum() };
    let start = loss(&p);
    for _ in 1..=50 {
        // Gradient of the quadratic loss sum (p - target)^2.
        let g: Vec<f32> = p.iter().zip(&target).map(|(a, b)| 2.0 * (a - b)).collect();
        driver.step_flat(&mut p, &g).unwrap();
    }
    assert!(
        loss(&p) < start * 1e-3,
        "SGD did not converge: {} -> {}",
        start,
        loss(&p)
    );
    p.iter().map(|v| v.to_bits()).collect()
}

fn run_laplace(reg: &Registry) -> Vec<u64> {
    let mech = reg
        .mechanism("laplace", &ParamMap::new().with("epsilon", 0.5))
        .unwrap();
    let values: Vec<f64> = (0..2000).map(|i| (i % 10) as f64).collect();
    let out = mech
        .release(RSlice::from_slice(&values), 1.0, RngSeed::from_u64(11))
        .into_result()
        .unwrap();
    let noisy = out.values().expect("laplace releases values");
    let mean_abs: f64 = noisy
        .iter()
        .zip(&values)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / values.len() as f64;
    // E|Laplace(b)| = b = 2; 2000 samples give a standard error of about 0.045.
    assert!((mean_abs - 2.0).abs() < 0.25, "mean |noise| {mean_abs}");
    let event = mech.cost(1.0, 1).into_result().unwrap();
    let PrivacyEvent::Laplace {
        noise_multiplier, ..
    } = event
    else {
        panic!("expected a Laplace event, got {event:?}")
    };
    assert!((1.0 / noise_multiplier - 0.5).abs() < 1e-12);
    let mut acc = reg.accountant("basic", &ParamMap::new()).unwrap();
    acc.compose(&event, 4).into_result().unwrap();
    assert!((acc.epsilon(0.0).into_result().unwrap() - 2.0).abs() < 1e-12);
    noisy.iter().map(|v| v.to_bits()).collect()
}

fn run_grr(reg: &Registry) -> Vec<u64> {
    let k = 8u64;
    let oracle = mosaic_ldp::Oracle::new(
        reg.ldp_oracle(
            "grr",
            &ParamMap::new()
                .with("epsilon", 2.0)
                .with("domain_size", k as i64),
        )
        .unwrap(),
    )
    .unwrap();
    let values: Vec<u64> = (0..20_000u64).map(|i| (i * i) % 7 % k).collect();
    let reports = oracle.perturb(&values, RngSeed::from_u64(5)).unwrap();
    let state = oracle.aggregate(&reports).unwrap();
    let est = oracle.estimate(&state).unwrap();
    for item in 0..k {
        let truth = values.iter().filter(|&&v| v == item).count() as f64;
        let got = est.counts[item as usize];
        let sd = est.variance[item as usize].sqrt();
        assert!(
            (got - truth).abs() < 6.0 * sd,
            "item {item}: {got} vs {truth} (sd {sd})"
        );
    }
    reports.data.to_vec()
}

fn run_random_search(reg: &Registry) -> Vec<u32> {
    let space = SearchSpace::from_choices(
        (0..4).map(|i| (format!("layer_{i}"), vec!["conv3x3", "conv1x1", "skip"])),
    );
    let mut s = reg
        .nas_strategy("random", &space, &ParamMap::new(), RngSeed::from_u64(3))
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..27 {
        let batch = s.ask(3).into_result().unwrap();
        let obs: Vec<Observation> = batch
            .iter()
            .map(|arch| {
                space.check(arch).unwrap();
                Observation::new(arch, arch.iter().map(|&a| a as f64).sum(), 1.0)
            })
            .collect();
        s.tell(RSlice::from_slice(&obs)).into_result().unwrap();
        for arch in &batch {
            seen.extend(arch.iter().copied());
        }
    }
    // With deduplication (the default) 81 proposals enumerate the whole 3^4 space.
    let mut archs: Vec<&[u32]> = seen.chunks(4).collect();
    archs.sort();
    archs.dedup();
    assert_eq!(archs.len(), 81);
    seen
}

#[test]
fn at_least_five_algorithms_from_five_libraries() {
    let reg = dynamic();
    let files = reg
        .plugins()
        .iter()
        .filter(|p| matches!(p.origin, PluginOrigin::File(_)))
        .count();
    assert!(files >= 5, "only {files} plugin files loaded");
    assert!(reg.algorithms().count() >= 5);
    for family in [
        Family::Merge,
        Family::Optim,
        Family::DpMechanism,
        Family::DpAccountant,
        Family::LdpOracle,
        Family::LdpMean,
        Family::NasStrategy,
    ] {
        assert!(
            reg.family(family).count() >= 1,
            "no {family} algorithm loaded"
        );
    }
}

#[test]
fn merge_linear_dynamic_equals_static() {
    assert_eq!(run_linear(&dynamic()), run_linear(&statik()));
}

#[test]
fn sgd_dynamic_equals_static() {
    assert_eq!(run_sgd(&dynamic()), run_sgd(&statik()));
}

#[test]
fn laplace_dynamic_equals_static() {
    assert_eq!(run_laplace(&dynamic()), run_laplace(&statik()));
}

fn run_accountants(reg: &Registry) -> Vec<u64> {
    let event = PrivacyEvent::Gaussian {
        noise_multiplier: 1.1,
        sampling: mosaic_abi::Sampling::Poisson { rate: 0.02 },
    };
    let coarse = ParamMap::new().with("value_discretization_interval", 1e-3);
    [
        ("rdp", ParamMap::new()),
        ("pld", coarse),
        ("zcdp", ParamMap::new()),
    ]
    .iter()
    .flat_map(|(name, params)| {
        let mut acc = reg.accountant(name, params).unwrap();
        let e = if *name == "zcdp" {
            PrivacyEvent::Zcdp { rho: 0.1 }
        } else {
            event.clone()
        };
        acc.compose(&e, 500).into_result().unwrap();
        let r = acc.epsilon_report(1e-5).into_result().unwrap();
        [r.epsilon.to_bits(), r.order().unwrap_or(0.0).to_bits()]
    })
    .collect()
}

#[test]
fn accountants_dynamic_equal_static() {
    assert_eq!(run_accountants(&dynamic()), run_accountants(&statik()));
}

#[test]
fn grr_dynamic_equals_static() {
    assert_eq!(run_grr(&dynamic()), run_grr(&statik()));
}

/// Reports and server states of every LDP oracle, loaded and linked statically.
fn run_ldp_oracles(reg: &Registry) -> Vec<(Vec<u64>, Vec<u64>)> {
    [
        "grr", "sue", "oue", "olh", "blh", "hr", "cms", "hcms", "rappor",
    ]
    .iter()
    .map(|name| {
        let params = ParamMap::new()
            .with("epsilon", 1.5)
            .with("domain_size", 40i64);
        let o = mosaic_ldp::Oracle::new(reg.ldp_oracle(name, &params).unwrap()).unwrap();
        let values: Vec<u64> = (0..9000u64).map(|i| (i * i) % 40).collect();
        let reports = o.perturb(&values, RngSeed::from_u64(9)).unwrap();
        let state = o.aggregate(&reports).unwrap();
        let est = o.estimate(&state).unwrap();
        assert_eq!(est.counts.len(), 40, "{name}");
        (reports.data.to_vec(), state.words.to_vec())
    })
    .collect()
}

#[test]
fn ldp_oracles_dynamic_equal_static() {
    assert_eq!(run_ldp_oracles(&dynamic()), run_ldp_oracles(&statik()));
}

fn run_ldp_means(reg: &Registry) -> Vec<(Vec<u64>, Vec<u64>)> {
    ["duchi", "piecewise", "hybrid"]
        .iter()
        .map(|name| {
            let params = ParamMap::new().with("epsilon", 2.0).with("dims", 3i64);
            let m = mosaic_ldp::MeanEstimator::new(reg.ldp_mean(name, &params).unwrap()).unwrap();
            let values: Vec<f64> = (0..3 * 9000)
                .map(|i| ((i % 11) as f64 - 5.0) / 5.0)
                .collect();
            let reports = m.perturb(&values, RngSeed::from_u64(9)).unwrap();
            let state = m.aggregate(&reports).unwrap();
            assert_eq!(m.estimate(&state).unwrap().means.len(), 3, "{name}");
            (reports.data.to_vec(), state.words.to_vec())
        })
        .collect()
}

#[test]
fn ldp_means_dynamic_equal_static() {
    assert_eq!(run_ldp_means(&dynamic()), run_ldp_means(&statik()));
}

#[test]
fn random_search_dynamic_equals_static() {
    assert_eq!(run_random_search(&dynamic()), run_random_search(&statik()));
}

#[test]
fn every_built_plugin_passes_conformance_as_a_library() {
    let dir = mosaic_testkit::built_plugin_dir();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut reg = Registry::new();
        reg.load_file(&path).unwrap();
        // The module of the library just loaded, checked through the ABI.
        let report = mosaic_testkit::check_plugin(reg.plugins()[0].module())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        checked += report.checked.len();
    }
    assert!(checked >= 5);
}

#[test]
fn parameters_are_validated_by_the_host_with_the_name() {
    let reg = dynamic();
    let err = reg
        .mechanism("laplace", &ParamMap::new().with("epsilon", -1.0))
        .err()
        .unwrap();
    assert!(err.to_string().contains("`epsilon`"), "{err}");
    let err = reg
        .optimizer("sgd", &ParamMap::new().with("momentun", 0.9))
        .err()
        .unwrap();
    assert!(err.to_string().contains("`momentun`"), "{err}");
}
