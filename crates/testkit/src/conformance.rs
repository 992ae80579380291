//! The generic conformance suite: what every plugin must satisfy, whatever its family.
//!
//! For every algorithm the plugin declares:
//! - the descriptor is well formed ([`AlgorithmDescriptor::validate`]) and every default
//!   validates against its own spec;
//! - it can be constructed with representative parameters (defaults, plus a value inside the
//!   declared range for each required parameter);
//! - a call with a wrong-shaped (or otherwise malformed) input returns an error, never a
//!   panic and never a silent success;
//! - the same seed and inputs give the same bits, on two separately constructed instances.
//!
//! A plugin that panics fails the suite with a message naming the algorithm: the panic was
//! caught at the ABI boundary and arrived as an error of kind [`ErrorKind::Panic`].

use abi_stable::std_types::{ROption, RSlice, RSliceMut, RStr, RVec};
use mosaic_abi::{
    AlgorithmDescriptor, ErrorKind, Family, MergeCall, Observation, OptimStep, ParamMap,
    ParamScope, PluginModRef, RError, RngSeed, SearchSpace, StateBuffer, TensorMut, TensorRef,
    TensorStep, ABI_VERSION,
};
use mosaic_tensor::DType;

use crate::strategies::sample_params;

/// What the suite checked.
#[derive(Debug, Default, Clone)]
pub struct ConformanceReport {
    /// The plugin's name.
    pub plugin: String,
    /// `family/name` of every algorithm checked.
    pub checked: Vec<String>,
}

fn fail(algo: &AlgorithmDescriptor, what: impl std::fmt::Display) -> String {
    format!("{} algorithm `{}`: {what}", algo.family, algo.name)
}

fn no_panic<T>(
    algo: &AlgorithmDescriptor,
    r: Result<T, RError>,
) -> Result<Result<T, RError>, String> {
    match r {
        Err(e) if e.kind == ErrorKind::Panic => Err(fail(algo, format!("panicked: {e}"))),
        other => Ok(other),
    }
}

/// Run the whole suite on one plugin root module.
pub fn check_plugin(module: PluginModRef) -> Result<ConformanceReport, String> {
    let info = (module.info())()
        .into_result()
        .map_err(|e| format!("info() failed: {e}"))?;
    if info.abi_version != ABI_VERSION {
        return Err(format!(
            "plugin `{}` reports ABI version {}, expected {ABI_VERSION}",
            info.name, info.abi_version
        ));
    }
    if info.name.trim().is_empty() || info.version.trim().is_empty() {
        return Err("plugin name and version must not be empty".into());
    }
    if info.algorithms.is_empty() {
        return Err(format!("plugin `{}` declares no algorithms", info.name));
    }
    let mut report = ConformanceReport {
        plugin: info.name.to_string(),
        checked: Vec::new(),
    };
    for (i, algo) in info.algorithms.iter().enumerate() {
        algo.validate().map_err(|e| fail(algo, e))?;
        if info.algorithms[..i]
            .iter()
            .any(|a| a.family == algo.family && a.name == algo.name)
        {
            return Err(fail(algo, "declared twice in one plugin"));
        }
        for scope in [ParamScope::Global, ParamScope::PerModel] {
            let defaults = ParamMap::new().resolve(
                &algo
                    .params
                    .iter()
                    .filter(|p| p.default.is_some())
                    .cloned()
                    .collect::<Vec<_>>(),
                scope,
            );
            defaults.map_err(|e| fail(algo, format!("defaults do not validate: {e}")))?;
        }
        match algo.family {
            Family::Merge => check_merge(module, algo)?,
            Family::Optim => check_optim(module, algo)?,
            Family::DpMechanism => check_mechanism(module, algo)?,
            Family::DpAccountant => check_accountant(module, algo)?,
            Family::LdpOracle => check_ldp(module, algo)?,
            Family::LdpMean => check_ldp_mean(module, algo)?,
            Family::NasStrategy => check_nas(module, algo)?,
        }
        report
            .checked
            .push(format!("{}/{}", algo.family, algo.name));
    }
    Ok(report)
}

fn global_params(algo: &AlgorithmDescriptor) -> ParamMap {
    sample_params(algo.params_in(ParamScope::Global))
}

/// Deterministic values in [-1, 1), distinct per salt (shared by the suites).
pub(crate) fn values(n: usize, salt: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(salt) % 1000;
            x as f32 / 500.0 - 1.0
        })
        .collect()
}

fn check_merge(module: PluginModRef, algo: &AlgorithmDescriptor) -> Result<(), String> {
    let name = RStr::from_str(algo.name.as_str());
    let make = || {
        (module.new_merge())(name, &ParamMap::new())
            .into_result()
            .map_err(|e| fail(algo, format!("construction failed: {e}")))
    };
    let a = make()?;
    let b = make()?;
    let shape = [4u64, 6];
    let n = 24;
    let base = values(n, 7);
    let m1 = values(n, 11);
    let m2 = values(n, 13);
    let wrong = values(n + 6, 17);
    let wrong_shape = [5u64, 6];
    let per_model = sample_params(algo.params_in(ParamScope::PerModel));
    let global = global_params(algo);
    let model_params = [per_model.clone(), per_model.clone()];
    let seed = RngSeed::from_u64(42);
    fn t<'a>(shape: &'a [u64], v: &'a [f32]) -> TensorRef<'a> {
        TensorRef::from_f32(shape, v).expect("sizes match")
    }
    let models = [t(&shape, &m1), t(&shape, &m2)];
    let call = MergeCall {
        tensor_name: RStr::from_str("model.layers.0.mlp.up_proj.weight"),
        base: abi_stable::std_types::ROption::RSome(t(&shape, &base)),
        models: RSlice::from_slice(&models),
        base_index: abi_stable::std_types::ROption::RNone,
        model_params: RSlice::from_slice(&model_params),
        params: &global,
        compute_dtype: DType::F32.into(),
        seed,
    };
    let mut out_a = vec![0f32; n];
    let mut out_b = vec![0f32; n];
    let ra = a.merge(call, TensorMut::from_f32(&shape, &mut out_a).unwrap());
    let ra = no_panic(algo, ra.into_result())?;
    let rb = no_panic(
        algo,
        b.merge(call, TensorMut::from_f32(&shape, &mut out_b).unwrap())
            .into_result(),
    )?;
    match (&ra, &rb) {
        (Ok(()), Ok(())) => {
            if out_a
                .iter()
                .map(|v| v.to_bits())
                .ne(out_b.iter().map(|v| v.to_bits()))
            {
                return Err(fail(algo, "same seed and inputs gave different outputs"));
            }
        }
        (Err(_), Err(_)) => {} // the method refuses these inputs (e.g. needs one model): fine
        _ => return Err(fail(algo, "two identical calls disagreed on success")),
    }
    // A model of the wrong shape must be an error.
    let bad_models = [
        t(&shape, &m1),
        TensorRef::from_f32(&wrong_shape, &wrong).unwrap(),
    ];
    let bad = MergeCall {
        models: RSlice::from_slice(&bad_models),
        ..call
    };
    let r = a.merge(bad, TensorMut::from_f32(&shape, &mut out_a).unwrap());
    if no_panic(algo, r.into_result())?.is_ok() {
        return Err(fail(algo, "accepted a model tensor of the wrong shape"));
    }
    Ok(())
}

fn check_optim(module: PluginModRef, algo: &AlgorithmDescriptor) -> Result<(), String> {
    use mosaic_optim::{OptimizerState, Param, StepOptions};
    let params = global_params(algo);
    let name = RStr::from_str(algo.name.as_str());
    let zeroth = algo.has_tag("zeroth_order");
    let make = || {
        (module.new_optimizer())(name, &params)
            .into_result()
            .map_err(|e| fail(algo, format!("construction failed: {e}")))
    };
    // A matrix and a vector, three steps, with the loss ½‖x‖² for zeroth-order optimizers.
    let shapes: [&[u64]; 2] = [&[4, 3], &[5]];
    let half_sq = |p: &[TensorRef<'_>]| -> Result<f64, RError> {
        Ok(p.iter()
            .flat_map(|t| t.to_f32_vec())
            .map(|x| 0.5 * f64::from(x) * f64::from(x))
            .sum())
    };
    let run = || -> Result<Vec<Vec<f32>>, String> {
        let opt = make()?;
        let tensors: Vec<(&str, &[u64])> = vec![("w", shapes[0]), ("b", shapes[1])];
        let mut state = no_panic(
            algo,
            OptimizerState::new(&opt, &tensors).map_err(|e| RError::other(e.to_string())),
        )?
        .map_err(|e| fail(algo, format!("state_spec failed: {e}")))?;
        let mut p: Vec<Vec<f32>> = vec![values(12, 3), values(5, 4)];
        for step in 1..=3u64 {
            let g: Vec<Vec<f32>> = p.iter().map(|v| v.to_vec()).collect();
            let mut ps: Vec<Param<'_>> = p
                .iter_mut()
                .zip(&g)
                .map(|(v, g)| Param {
                    values: v,
                    grads: (!zeroth).then_some(g.as_slice()),
                })
                .collect();
            let options = StepOptions {
                lr: 0.01,
                momentum: None,
                seed: RngSeed::from_u64(step),
                oracle: zeroth.then_some(&half_sq as &mosaic_optim::LossFn<'_>),
            };
            state
                .step(&opt, &mut ps, &options)
                .map_err(|e| fail(algo, format!("step {step} failed on valid input: {e}")))?;
        }
        Ok(p)
    };
    let a = run()?;
    let b = run()?;
    let bits = |v: &[Vec<f32>]| -> Vec<u32> { v.iter().flatten().map(|x| x.to_bits()).collect() };
    if bits(&a) != bits(&b) {
        return Err(fail(algo, "same inputs and seed gave different parameters"));
    }
    if zeroth {
        return Ok(());
    }
    // Gradients of the wrong shape, through a raw call: an error, nothing written.
    let opt = make()?;
    let spec = no_panic(
        algo,
        opt.state_spec(RSlice::from_slice(&[16])).into_result(),
    )?
    .map_err(|e| fail(algo, format!("state_spec failed: {e}")))?;
    let mut store: Vec<mosaic_tensor::Tensor> = spec
        .buffers
        .iter()
        .map(|b| {
            let dims: Vec<usize> = b.shape.iter().map(|&d| d as usize).collect();
            mosaic_tensor::Tensor::zeros(b.dtype.into(), dims)
        })
        .collect();
    let mut bufs: Vec<StateBuffer<'_>> = spec
        .buffers
        .iter()
        .zip(store.iter_mut())
        .map(|(b, t)| StateBuffer {
            name: b.name.as_rstr(),
            data: TensorMut::new(t.dtype(), b.shape.as_slice(), t.as_bytes_mut()).unwrap(),
        })
        .collect();
    let mut scalars: Vec<mosaic_abi::Scalar> = spec
        .scalars
        .iter()
        .map(|s| mosaic_abi::Scalar::zero(s.kind))
        .collect();
    let mut p = values(16, 3);
    let before = p.clone();
    let g = values(9, 5);
    let (shape, gshape) = ([16u64], [9u64]);
    let mut tensors = [TensorStep {
        name: "w".into(),
        id: 0,
        offset: 0,
        params: TensorMut::from_f32(&shape, &mut p).unwrap(),
        grads: ROption::RSome(TensorRef::from_f32(&gshape, &g).unwrap()),
        buffers: RSliceMut::from_mut_slice(&mut bufs),
        scalars: RSliceMut::from_mut_slice(&mut scalars),
        step: 1,
        initialized: false,
    }];
    let call = OptimStep {
        tensors: RSliceMut::from_mut_slice(&mut tensors),
        lr: 0.1,
        momentum: ROption::RNone,
        seed: RngSeed::from_u64(1),
        oracle: ROption::RNone,
    };
    if no_panic(algo, opt.step(call).into_result())?.is_ok() {
        return Err(fail(algo, "accepted gradients of the wrong shape"));
    }
    if p != before {
        return Err(fail(algo, "changed the parameters of a rejected step"));
    }
    Ok(())
}

fn check_mechanism(module: PluginModRef, algo: &AlgorithmDescriptor) -> Result<(), String> {
    // The mechanism suite: same seed same bits, output shape, valid cost, errors not panics.
    crate::dp_mechanism::check_mechanism(
        module,
        algo,
        &crate::dp_mechanism::representative_params(algo),
    )
}

fn check_accountant(module: PluginModRef, algo: &AlgorithmDescriptor) -> Result<(), String> {
    let params = global_params(algo);
    let name = RStr::from_str(algo.name.as_str());
    let mut acc = (module.new_accountant())(name, &params)
        .into_result()
        .map_err(|e| fail(algo, format!("construction failed: {e}")))?;
    let invalid = [
        mosaic_abi::PrivacyEvent::Pure { epsilon: f64::NAN },
        mosaic_abi::PrivacyEvent::Approximate {
            epsilon: 1.0,
            delta: 2.0,
        },
        mosaic_abi::PrivacyEvent::Gaussian {
            noise_multiplier: -1.0,
            sampling: mosaic_abi::Sampling::Full,
        },
    ];
    for bogus in invalid {
        if no_panic(algo, acc.compose(&bogus, 1).into_result())?.is_ok() {
            return Err(fail(algo, format!("accepted an invalid event {bogus:?}")));
        }
    }
    // Nothing composed yet: a valid query must succeed.
    no_panic(algo, acc.epsilon(1e-5).into_result())?.map_err(|e| {
        fail(
            algo,
            format!("epsilon() of an empty composition failed: {e}"),
        )
    })?;
    no_panic(algo, acc.delta(1.0).into_result())?
        .map_err(|e| fail(algo, format!("delta() of an empty composition failed: {e}")))?;
    // epsilon_report agrees with epsilon (optional in the vtable: older plugins answer
    // through the default, which does).
    let eps = no_panic(algo, acc.epsilon(1e-5).into_result())?.map_err(|e| fail(algo, e))?;
    let report = no_panic(algo, acc.epsilon_report(1e-5).into_result())?
        .map_err(|e| fail(algo, format!("epsilon_report() failed: {e}")))?;
    if report.epsilon != eps || report.delta != 1e-5 {
        return Err(fail(
            algo,
            format!("epsilon_report {report:?} disagrees with epsilon {eps}"),
        ));
    }
    for bad in [f64::NAN, -1.0, 2.0] {
        if no_panic(algo, acc.epsilon(bad).into_result())?.is_ok() {
            return Err(fail(algo, format!("epsilon() accepted delta {bad}")));
        }
    }
    Ok(())
}

fn check_ldp(module: PluginModRef, algo: &AlgorithmDescriptor) -> Result<(), String> {
    let params = global_params(algo);
    let name = algo.name.as_str();
    let raw = (module.new_ldp_oracle())(RStr::from_str(name), &params)
        .into_result()
        .map_err(|e| fail(algo, format!("construction failed: {e}")))?;
    for r in [
        raw.domain_size().into_result(),
        raw.state_len().into_result(),
    ] {
        no_panic(algo, r)?.map_err(|e| fail(algo, format!("domain_size/state_len failed: {e}")))?;
    }
    let oracle = mosaic_ldp::Oracle::new(raw).map_err(|e| fail(algo, e))?;
    let k = oracle.domain_size();
    if k < 2 {
        return Err(fail(algo, format!("domain size {k} < 2")));
    }
    let vals: Vec<u64> = (0..50).map(|i| i % k).collect();
    let seed = RngSeed::from_u64(5);
    let a = oracle
        .perturb(&vals, seed)
        .map_err(|e| fail(algo, format!("perturb failed: {e}")))?;
    let b = oracle
        .perturb(&vals, seed)
        .map_err(|e| fail(algo, format!("perturb failed: {e}")))?;
    if a != b {
        return Err(fail(algo, "same seed gave different reports"));
    }
    if a.len() != vals.len() {
        return Err(fail(algo, "perturb did not give one report per value"));
    }
    if oracle.perturb(&[k], seed).is_ok() {
        return Err(fail(algo, "accepted a value outside the domain"));
    }
    let state = oracle
        .aggregate(&a)
        .map_err(|e| fail(algo, format!("aggregate failed: {e}")))?;
    let est = oracle
        .estimate_items(&state, &[0, k - 1])
        .map_err(|e| fail(algo, format!("estimate failed: {e}")))?;
    if est.counts.len() != 2 || est.variance.len() != 2 {
        return Err(fail(algo, "estimate has the wrong number of counts"));
    }
    let malformed = mosaic_abi::Reports {
        oracle: oracle.id().clone(),
        report_len: a.report_len + 1,
        data: RVec::from(vec![u64::MAX; (a.report_len as usize + 1) * 2]),
    };
    let r = oracle.raw().aggregate(malformed.as_slice()).into_result();
    if no_panic(algo, r)?.is_ok() {
        return Err(fail(algo, "accepted malformed reports"));
    }
    Ok(())
}

fn check_ldp_mean(module: PluginModRef, algo: &AlgorithmDescriptor) -> Result<(), String> {
    let params = global_params(algo);
    let raw = (module.new_ldp_mean())(RStr::from_str(algo.name.as_str()), &params)
        .into_result()
        .map_err(|e| fail(algo, format!("construction failed: {e}")))?;
    no_panic(algo, raw.layout().into_result())?
        .map_err(|e| fail(algo, format!("layout failed: {e}")))?;
    let m = mosaic_ldp::MeanEstimator::new(raw).map_err(|e| fail(algo, e))?;
    let d = m.dims();
    let vals: Vec<f64> = (0..40 * d).map(|i| ((i % 7) as f64 - 3.0) / 3.0).collect();
    let seed = RngSeed::from_u64(5);
    let a = m
        .perturb(&vals, seed)
        .map_err(|e| fail(algo, format!("perturb failed: {e}")))?;
    if a != m.perturb(&vals, seed).map_err(|e| fail(algo, e))? {
        return Err(fail(algo, "same seed gave different reports"));
    }
    if a.len() != 40 {
        return Err(fail(algo, "perturb did not give one report per user"));
    }
    let mut bad = vals.clone();
    bad[d] = 1.5;
    if m.perturb(&bad, seed).is_ok() {
        return Err(fail(algo, "accepted a value outside [-1, 1]"));
    }
    let state = m
        .aggregate(&a)
        .map_err(|e| fail(algo, format!("aggregate failed: {e}")))?;
    let est = m
        .estimate(&state)
        .map_err(|e| fail(algo, format!("estimate failed: {e}")))?;
    if est.means.len() != d || est.variance.len() != d || est.reports != 40 {
        return Err(fail(algo, "estimate has the wrong shape"));
    }
    let v = m
        .variance(&vals)
        .map_err(|e| fail(algo, format!("variance failed: {e}")))?;
    if v.len() != d
        || v.iter()
            .zip(est.variance.iter())
            .any(|(t, w)| !(*t > 0.0 && *t <= w * (1.0 + 1e-9)))
    {
        return Err(fail(
            algo,
            "theoretical variance not positive or above the worst case",
        ));
    }
    let foreign = mosaic_abi::Reports {
        oracle: mosaic_abi::OracleId::new("another", ParamMap::new()),
        report_len: a.report_len,
        data: a.data.clone(),
    };
    if no_panic(algo, m_raw_aggregate(&m, &foreign))?.is_ok() {
        return Err(fail(algo, "accepted reports of another mechanism"));
    }
    Ok(())
}

fn m_raw_aggregate(
    m: &mosaic_ldp::MeanEstimator,
    r: &mosaic_abi::Reports,
) -> Result<mosaic_abi::State, RError> {
    m.aggregate(r).map_err(|e| match e {
        mosaic_ldp::LdpError::Oracle { source, .. } => source,
        other => RError::other(other.to_string()),
    })
}

fn check_nas(module: PluginModRef, algo: &AlgorithmDescriptor) -> Result<(), String> {
    let params = global_params(algo);
    let name = RStr::from_str(algo.name.as_str());
    let space =
        SearchSpace::from_choices((0..3).map(|i| (format!("choice_{i}"), vec!["a", "b", "c"])));
    let make = || {
        (module.new_nas_strategy())(name, &space, &params, RngSeed::from_u64(3))
            .into_result()
            .map_err(|e| fail(algo, format!("construction failed: {e}")))
    };
    let mut a = make()?;
    let mut b = make()?;
    for step in 0..5 {
        let xa = no_panic(algo, a.ask(2).into_result())?
            .map_err(|e| fail(algo, format!("ask failed: {e}")))?;
        let xb = no_panic(algo, b.ask(2).into_result())?
            .map_err(|e| fail(algo, format!("ask failed: {e}")))?;
        if xa != xb {
            return Err(fail(algo, "same seed proposed different architectures"));
        }
        if xa.is_empty() || xa.len() > 2 {
            return Err(fail(
                algo,
                format!("ask(2) returned {} architectures", xa.len()),
            ));
        }
        let obs: Vec<Observation> = xa
            .iter()
            .enumerate()
            .map(|(i, x)| Observation::new(x, (step * 2 + i) as f64, 1.0))
            .collect();
        for x in &xa {
            space
                .check(x)
                .map_err(|e| fail(algo, format!("proposed an invalid architecture: {e}")))?;
        }
        no_panic(algo, a.tell(RSlice::from_slice(&obs)).into_result())?
            .map_err(|e| fail(algo, format!("tell failed: {e}")))?;
        no_panic(algo, b.tell(RSlice::from_slice(&obs)).into_result())?
            .map_err(|e| fail(algo, format!("tell failed: {e}")))?;
    }
    let wrong = [Observation::new(&[0], 1.0, 1.0)];
    let r = a.tell(RSlice::from_slice(&wrong)).into_result();
    if no_panic(algo, r)?.is_ok() {
        return Err(fail(algo, "accepted an architecture of the wrong length"));
    }
    Ok(())
}
