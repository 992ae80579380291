//! Golden tests against mergekit 0.1.5's own outputs (`tests/fixtures/merge/`, made by
//! `mergekit-yaml cfg/<name>.yaml out/<name> --allow-crimes`; see the README there).
//!
//! Each tensor's `MergeCall` is built as the planner builds it: `base` = the base model's
//! tensor, `models` = the config's `models` in order (the base included when listed, with
//! `base_index`), per-model and global parameters resolved against the method's descriptor.
//! The method is reached through the ABI (`plugin_module()` → `new_merge`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{AbiDType, MergeCall, ParamMap, ParamScope, RngSeed, TensorMut, TensorRef};

type Tensors = BTreeMap<String, (Vec<u64>, Vec<f32>)>;

const TOL: f32 = 1e-5;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/merge")
}

/// Every tensor of a (possibly sharded) safetensors checkpoint folder.
fn load(dir: &Path) -> Tensors {
    let mut out = Tensors::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no safetensors in {}", dir.display());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (name, view) in st.tensors() {
            let shape = view.shape().iter().map(|&d| d as u64).collect();
            let values = match view.dtype() {
                safetensors::Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                // bf16 is the upper half of an f32: widening is exact.
                safetensors::Dtype::BF16 => view
                    .data()
                    .chunks_exact(2)
                    .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                    .collect(),
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            out.insert(name.to_string(), (shape, values));
        }
    }
    out
}

/// One fixture config, written out as the planner resolves it.
struct Case<'a> {
    cfg: &'a str,
    method: &'a str,
    base: Option<&'a str>,
    models: Vec<(&'a str, ParamMap)>,
    params: ParamMap,
}

/// Merge every tensor of the fixture and compare; returns the worst |difference|.
fn run(case: Case<'_>) -> f32 {
    let mut failures = Vec::new();
    let mut worst = 0f32;
    let cfg = case.cfg;
    let results = merge_all(case, AbiDType::F32);
    for (name, got, want) in &results {
        let max = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = worst.max(max);
        if max > TOL || got.iter().any(|v| !v.is_finite()) {
            failures.push(format!("{name}: max |diff| = {max:e}"));
        }
    }
    eprintln!(
        "{cfg}: worst |diff| over {} tensors = {worst:e}",
        results.len()
    );
    assert!(
        failures.is_empty(),
        "{cfg}: {} of {} tensors differ from mergekit by more than {TOL:e}:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    worst
}

/// Run the method on every tensor of the fixture in `compute` dtype; returns each tensor's
/// (name, our values, mergekit's values), both widened to f32.
fn merge_all(case: Case<'_>, compute: AbiDType) -> Vec<(String, Vec<f32>, Vec<f32>)> {
    let module = mosaic_plugin_merge_geometric::plugin_module();
    let info = (module.info())().into_result().unwrap();
    let desc = info
        .algorithms
        .iter()
        .find(|d| d.name.as_str() == case.method)
        .expect("descriptor");
    let params = case
        .params
        .resolve(&desc.params, ParamScope::Global)
        .unwrap();
    let method = (module.new_merge())(RStr::from_str(case.method), &params)
        .into_result()
        .unwrap();
    let base_index = case
        .base
        .and_then(|b| case.models.iter().position(|(m, _)| *m == b));
    // mergekit binds non-base parameters only for non-base inputs: the base keeps its own map.
    let model_params: Vec<ParamMap> = case
        .models
        .iter()
        .enumerate()
        .map(|(i, (_, p))| {
            if Some(i) == base_index {
                p.clone()
            } else {
                p.resolve(&desc.params, ParamScope::PerModel).unwrap()
            }
        })
        .collect();
    let dir = fixtures();
    let base = case.base.map(|b| load(&dir.join(b)));
    let models: Vec<Tensors> = case
        .models
        .iter()
        .map(|(m, _)| load(&dir.join(m)))
        .collect();
    let expected = load(&dir.join("expected").join(case.cfg));
    let mut results = Vec::new();
    for (name, (shape, want)) in &expected {
        let refs: Vec<TensorRef<'_>> = models
            .iter()
            .map(|m| {
                let (s, v) = &m[name];
                TensorRef::from_f32(s, v).unwrap()
            })
            .collect();
        let base_ref = base.as_ref().map(|b| {
            let (s, v) = &b[name];
            TensorRef::from_f32(s, v).unwrap()
        });
        let call = MergeCall {
            tensor_name: RStr::from_str(name),
            base: base_ref.into(),
            models: RSlice::from_slice(&refs),
            base_index: base_index.map(|i| i as u32).into(),
            model_params: RSlice::from_slice(&model_params),
            params: &params,
            compute_dtype: compute,
            seed: RngSeed::from_u64(0),
        };
        let got = if compute == AbiDType::BF16 {
            let mut bytes = vec![0u8; 2 * want.len()];
            let out = TensorMut::new(mosaic_tensor::DType::BF16, shape, &mut bytes).unwrap();
            method.merge(call, out).into_result().unwrap();
            bytes
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect()
        } else {
            let mut got = vec![0f32; want.len()];
            let out = TensorMut::from_f32(shape, &mut got).unwrap();
            method.merge(call, out).into_result().unwrap();
            got
        };
        results.push((name.clone(), got, want.clone()));
    }
    assert!(!expected.is_empty());
    results
}

/// cfg/slerp.yaml: base_model ./ft2; models ./ft2, ./ft3; t: 0.35.
#[test]
fn golden_slerp() {
    run(Case {
        cfg: "slerp",
        method: "slerp",
        base: Some("ft2"),
        models: vec![("ft2", ParamMap::new()), ("ft3", ParamMap::new())],
        params: ParamMap::new().with("t", 0.35),
    });
}

/// cfg/model_stock.yaml: base_model ./base; models ./ft1, ./ft3 (filter_wise default false).
#[test]
fn golden_model_stock() {
    run(Case {
        cfg: "model_stock",
        method: "model_stock",
        base: Some("base"),
        models: vec![("ft1", ParamMap::new()), ("ft3", ParamMap::new())],
        params: ParamMap::new(),
    });
}

/// cfg/multislerp.yaml: no base; ./ft1 weight 1, ./ft2 weight 2, ./ft3 weight 1.
#[test]
fn golden_multislerp() {
    run(Case {
        cfg: "multislerp",
        method: "multislerp",
        base: None,
        models: vec![
            ("ft1", ParamMap::new().with("weight", 1.0)),
            ("ft2", ParamMap::new().with("weight", 2.0)),
            ("ft3", ParamMap::new().with("weight", 1.0)),
        ],
        params: ParamMap::new(),
    });
}

/// cfg/nearswap.yaml: base_model ./ft1; models ./ft1, ./ft2; t: 0.01.
#[test]
fn golden_nearswap() {
    run(Case {
        cfg: "nearswap",
        method: "nearswap",
        base: Some("ft1"),
        models: vec![("ft1", ParamMap::new()), ("ft2", ParamMap::new())],
        params: ParamMap::new().with("t", 0.01),
    });
}

/// cfg/ram.yaml: base_model ./base; models ./ft1, ./ft2 (epsilon default 1e-5).
#[test]
fn golden_ram() {
    run(Case {
        cfg: "ram",
        method: "ram",
        base: Some("base"),
        models: vec![("ft1", ParamMap::new()), ("ft2", ParamMap::new())],
        params: ParamMap::new(),
    });
}

/// cfg/arcee_fusion.yaml: base_model ./base; models ./base, ./ft2. Bit for bit on this
/// fixture: softmax, exp and the row sums follow torch's CPU kernels exactly.
#[test]
fn golden_arcee_fusion() {
    let worst = run(Case {
        cfg: "arcee_fusion",
        method: "arcee_fusion",
        base: Some("base"),
        models: vec![("base", ParamMap::new()), ("ft2", ParamMap::new())],
        params: ParamMap::new(),
    });
    assert_eq!(worst, 0.0, "arcee_fusion is not exact");
}
