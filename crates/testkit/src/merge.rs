//! Property suite for merge methods: checks that any merge plugin (ours or a third party's)
//! can run on itself, with proptest-generated tensors.
//!
//! - [`MergeProperties::identity`]: merging identical models (and an identical base) returns
//!   the model.
//! - [`MergeProperties::order_independent`]: permuting the models (with their per-model
//!   parameters) does not change the result.
//! - [`MergeProperties::constant_preserving`]: with weights summing to 1, models that are one
//!   constant tensor each give a constant tensor.
//! - [`mean_over_seeds`]: the average output of a randomized method over many seeds, to check
//!   unbiasedness against the method's expectation (e.g. DARE with the 1/(1−p) rule against
//!   task arithmetic).

use abi_stable::std_types::{ROption, RSlice, RStr};
use mosaic_abi::{
    AbiDType, AlgorithmDescriptor, MergeCall, MergeMethodBox, ParamMap, ParamScope, PluginModRef,
    RError, RngSeed, TensorMut, TensorRef,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Which properties to check, and how the calls are made.
#[derive(Clone, Debug)]
pub struct MergeProperties {
    /// The algorithm name.
    pub name: String,
    /// Number of models per call.
    pub models: usize,
    /// Pass a base tensor (methods tagged `requires_base`).
    pub base: bool,
    /// Per-model parameters, the same for every model; required ones not given get a
    /// representative value (e.g. `weight` = 1).
    pub per_model: ParamMap,
    /// Global parameters.
    pub global: ParamMap,
    /// Check identity.
    pub identity: bool,
    /// Check order independence.
    pub order_independent: bool,
    /// Check constant preservation (the suite sets `weight` to 1/models).
    pub constant_preserving: bool,
    /// Absolute tolerance of the comparisons (scaled by the magnitude of the values).
    pub tolerance: f32,
    /// proptest cases per property.
    pub cases: u32,
}

impl MergeProperties {
    /// Defaults: all properties off, tolerance 1e-5, 32 cases.
    pub fn new(name: &str, models: usize, base: bool) -> MergeProperties {
        MergeProperties {
            name: name.into(),
            models,
            base,
            per_model: ParamMap::new(),
            global: ParamMap::new(),
            identity: false,
            order_independent: false,
            constant_preserving: false,
            tolerance: 1e-5,
            cases: 32,
        }
    }
}

/// Inputs of one merge call, owned.
#[derive(Clone, Debug)]
pub struct MergeInputs {
    /// Shape of every tensor.
    pub shape: Vec<u64>,
    /// The base tensor, if any.
    pub base: Option<Vec<f32>>,
    /// The models' tensors.
    pub models: Vec<Vec<f32>>,
    /// Per-model parameters.
    pub per_model: Vec<ParamMap>,
    /// Global parameters.
    pub global: ParamMap,
}

/// Run one merge call on owned inputs, through the ABI.
pub fn call_merge(m: &MergeMethodBox, inputs: &MergeInputs, seed: u64) -> Result<Vec<f32>, RError> {
    let refs: Vec<TensorRef<'_>> = inputs
        .models
        .iter()
        .map(|v| TensorRef::from_f32(&inputs.shape, v))
        .collect::<Result<_, _>>()?;
    let base = inputs
        .base
        .as_ref()
        .map(|b| TensorRef::from_f32(&inputs.shape, b))
        .transpose()?;
    let n = inputs.shape.iter().product::<u64>() as usize;
    let mut out = vec![0f32; n];
    let call = MergeCall {
        tensor_name: RStr::from_str("model.layers.0.mlp.up_proj.weight"),
        base: match base {
            Some(b) => ROption::RSome(b),
            None => ROption::RNone,
        },
        models: RSlice::from_slice(&refs),
        base_index: ROption::RNone,
        model_params: RSlice::from_slice(&inputs.per_model),
        params: &inputs.global,
        compute_dtype: AbiDType::F32,
        seed: RngSeed::from_u64(seed),
    };
    m.merge(call, TensorMut::from_f32(&inputs.shape, &mut out)?)
        .into_result()?;
    Ok(out)
}

/// Resolve per-model and global parameters against a descriptor, as the merge planner does
/// (defaults filled in, unknown keys and bad values refused).
pub fn resolve_params(
    descriptor: &AlgorithmDescriptor,
    per_model: &ParamMap,
    global: &ParamMap,
) -> Result<(ParamMap, ParamMap), RError> {
    Ok((
        per_model.resolve(&descriptor.params, ParamScope::PerModel)?,
        global.resolve(&descriptor.params, ParamScope::Global)?,
    ))
}

/// The descriptor of merge method `name` in `module`.
pub fn merge_descriptor(module: PluginModRef, name: &str) -> Result<AlgorithmDescriptor, String> {
    let info = (module.info())()
        .into_result()
        .map_err(|e| format!("info() failed: {e}"))?;
    info.algorithms
        .iter()
        .find(|d| d.family == mosaic_abi::Family::Merge && d.name.as_str() == name)
        .cloned()
        .ok_or_else(|| format!("no merge method `{name}` in plugin `{}`", info.name))
}

/// The mean output of `seeds` calls with seeds `0..seeds`.
pub fn mean_over_seeds(
    m: &MergeMethodBox,
    inputs: &MergeInputs,
    seeds: u64,
) -> Result<Vec<f32>, RError> {
    let mut acc: Vec<f64> = Vec::new();
    for s in 0..seeds {
        let out = call_merge(m, inputs, s)?;
        if acc.is_empty() {
            acc = vec![0.0; out.len()];
        }
        for (a, o) in acc.iter_mut().zip(out) {
            *a += o as f64;
        }
    }
    Ok(acc.into_iter().map(|a| (a / seeds as f64) as f32).collect())
}

fn close(a: &[f32], b: &[f32], tol: f32) -> Result<(), String> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let scale = 1.0f32.max(x.abs()).max(y.abs());
        // NaN anywhere fails the comparison.
        let ok = (x - y).abs() <= tol * scale;
        if !ok {
            return Err(format!("element {i}: {x} vs {y}"));
        }
    }
    Ok(())
}

fn values(len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, len)
}

/// Run the selected properties on `module`'s method `props.name`. The error names the
/// property and the failing case.
pub fn check_merge_properties(module: PluginModRef, props: &MergeProperties) -> Result<(), String> {
    let m = (module.new_merge())(RStr::from_str(&props.name), &ParamMap::new())
        .into_result()
        .map_err(|e| format!("`{}`: construction failed: {e}", props.name))?;
    let descriptor = merge_descriptor(module, &props.name)?;
    // Required parameters the caller did not give get a representative value.
    let fill = |given: &ParamMap, scope: ParamScope| -> ParamMap {
        let mut m = given.clone();
        for spec in descriptor.params_in(scope) {
            if spec.default.is_none() && !m.contains(&spec.name) {
                m.insert(&spec.name, crate::strategies::sample_value(spec));
            }
        }
        m
    };
    let (resolved_per_model, global) = resolve_params(
        &descriptor,
        &fill(&props.per_model, ParamScope::PerModel),
        &fill(&props.global, ParamScope::Global),
    )
    .map_err(|e| format!("merge `{}`: {e}", props.name))?;
    // With `weight` set explicitly (constant preservation), where the method declares it.
    let with_weight = descriptor
        .params
        .iter()
        .any(|p| p.name.as_str() == "weight");
    let k = props.models;
    let tol = props.tolerance;
    let shapes = (1usize..6, 1usize..9);
    let mut runner = TestRunner::new(Config::with_cases(props.cases));
    let fail = |what: &str, e: String| format!("merge `{}`: {what}: {e}", props.name);
    let per_model = |w: Option<f64>| -> Vec<ParamMap> {
        (0..k)
            .map(|_| {
                let mut p = resolved_per_model.clone();
                if let (Some(w), true) = (w, with_weight) {
                    p.insert("weight", w);
                }
                p
            })
            .collect()
    };
    if props.identity {
        runner
            .run(
                &shapes
                    .clone()
                    .prop_flat_map(|(r, c)| (Just((r, c)), values(r * c))),
                |((r, c), x)| {
                    let inputs = MergeInputs {
                        shape: vec![r as u64, c as u64],
                        base: props.base.then(|| x.clone()),
                        models: vec![x.clone(); k],
                        per_model: per_model(None),
                        global: global.clone(),
                    };
                    let out = call_merge(&m, &inputs, 1)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    close(&out, &x, tol).map_err(TestCaseError::fail)
                },
            )
            .map_err(|e| fail("identical models must merge to the model", e.to_string()))?;
    }
    if props.order_independent {
        let strat = shapes.clone().prop_flat_map(move |(r, c)| {
            (Just((r, c)), prop::collection::vec(values(r * c), k + 1))
        });
        runner
            .run(&strat, |((r, c), mut vs)| {
                let base = vs.pop().expect("k + 1 vectors");
                let mut inputs = MergeInputs {
                    shape: vec![r as u64, c as u64],
                    base: props.base.then_some(base),
                    models: vs,
                    per_model: per_model(None),
                    global: global.clone(),
                };
                let a =
                    call_merge(&m, &inputs, 1).map_err(|e| TestCaseError::fail(e.to_string()))?;
                inputs.models.reverse();
                inputs.per_model.reverse();
                let b =
                    call_merge(&m, &inputs, 1).map_err(|e| TestCaseError::fail(e.to_string()))?;
                close(&a, &b, tol).map_err(TestCaseError::fail)
            })
            .map_err(|e| fail("the order of the models must not matter", e.to_string()))?;
    }
    if props.constant_preserving {
        let strat = (shapes, prop::collection::vec(-1.0f32..1.0, k));
        runner
            .run(&strat, |((r, c), consts)| {
                let n = r * c;
                let inputs = MergeInputs {
                    shape: vec![r as u64, c as u64],
                    base: props.base.then(|| vec![0.0; n]),
                    models: consts.iter().map(|&v| vec![v; n]).collect(),
                    per_model: per_model(Some(1.0 / k as f64)),
                    global: global.clone(),
                };
                let out =
                    call_merge(&m, &inputs, 1).map_err(|e| TestCaseError::fail(e.to_string()))?;
                close(&out, &vec![out[0]; n], tol).map_err(TestCaseError::fail)
            })
            .map_err(|e| fail("constant models must merge to a constant", e.to_string()))?;
    }
    Ok(())
}
