//! Golden tests: merge the fixture checkpoints through the ABI, tensor by tensor, exactly as
//! the planner builds each `MergeCall`, and compare with mergekit 0.1.5's outputs in
//! `tests/fixtures/merge/expected/<cfg>/` (see that folder's README for the commands).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{MergeCall, ParamMap, RngSeed, TensorMut, TensorRef};
use mosaic_tensor::DType;

struct Tensor {
    dtype: DType,
    shape: Vec<u64>,
    data: Vec<u8>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/merge")
}

/// Every tensor of a checkpoint folder (all of its `.safetensors` shards).
fn load_model(name: &str) -> BTreeMap<String, Tensor> {
    let dir = fixtures().join(name);
    let mut out = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
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
            let dtype = match view.dtype() {
                safetensors::Dtype::F32 => DType::F32,
                safetensors::Dtype::BF16 => DType::BF16,
                safetensors::Dtype::F16 => DType::F16,
                d => panic!("unexpected dtype {d:?}"),
            };
            out.insert(
                name,
                Tensor {
                    dtype,
                    shape: view.shape().iter().map(|&d| d as u64).collect(),
                    data: view.data().to_vec(),
                },
            );
        }
    }
    out
}

fn values(t: &Tensor) -> Vec<f32> {
    TensorRef::new(t.dtype, &t.shape, &t.data)
        .unwrap()
        .to_f32_vec()
}

/// Merge every tensor of `expected/<cfg>` with `method` and check it within `tol`.
#[allow(clippy::too_many_arguments)]
fn check_fixture(
    cfg: &str,
    method: &str,
    base: Option<&str>,
    models: &[(&str, ParamMap)],
    base_index: Option<u32>,
    params: ParamMap,
    compute: DType,
    tol: f32,
) {
    let module = mosaic_plugin_merge_sparse::plugin_module();
    let m = (module.new_merge())(method.into(), &params)
        .into_result()
        .unwrap();
    let base = base.map(load_model);
    let loaded: Vec<_> = models.iter().map(|(n, _)| load_model(n)).collect();
    let model_params: Vec<ParamMap> = models.iter().map(|(_, p)| p.clone()).collect();
    let expected = load_model(&format!("expected/{cfg}"));
    assert_eq!(expected.len(), loaded[0].len(), "tensor count");
    let mut worst = 0f32;
    let mut failing: Vec<String> = Vec::new();
    for (name, want) in &expected {
        let refs: Vec<TensorRef<'_>> = loaded
            .iter()
            .map(|m| {
                let t = &m[name];
                TensorRef::new(t.dtype, &t.shape, &t.data).unwrap()
            })
            .collect();
        let base_ref = base.as_ref().map(|b| {
            let t = &b[name];
            TensorRef::new(t.dtype, &t.shape, &t.data).unwrap()
        });
        let call = MergeCall {
            tensor_name: RStr::from_str(name),
            base: base_ref.into(),
            models: RSlice::from_slice(&refs),
            base_index: base_index.into(),
            model_params: RSlice::from_slice(&model_params),
            params: &params,
            compute_dtype: compute.into(),
            seed: RngSeed::from_u64(0),
        };
        let mut buf = vec![0u8; want.data.len()];
        let out = TensorMut::new(want.dtype, &want.shape, &mut buf).unwrap();
        m.merge(call, out).into_result().unwrap();
        let got = values(&Tensor {
            dtype: want.dtype,
            shape: want.shape.clone(),
            data: buf,
        });
        let diff = got
            .iter()
            .zip(values(want))
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = worst.max(diff);
        if diff > tol {
            let n = got
                .iter()
                .zip(values(want))
                .filter(|(a, b)| (*a - b).abs() > tol)
                .count();
            failing.push(format!(
                "`{name}` ({n} of {} elements, max |diff| {diff})",
                got.len()
            ));
        }
    }
    eprintln!("{cfg}: {} tensors, max |diff| {worst}", expected.len());
    assert!(
        failing.is_empty(),
        "{cfg}: {} tensors differ by more than {tol}: {}",
        failing.len(),
        failing.join(", ")
    );
}

fn gta(normalize: bool, rescale: bool) -> ParamMap {
    ParamMap::new()
        .with("int8_mask", false)
        .with("normalize", normalize)
        .with("rescale", rescale)
        .with("lambda", 1.0)
        .with("consensus_method", "sum")
}

fn wd(weight: f64, density: f64) -> ParamMap {
    ParamMap::new()
        .with("weight", weight)
        .with("density", density)
}

#[test]
fn ties_matches_mergekit() {
    // cfg/ties.yaml: base ./base; ft1, ft2, ft3 each weight 0.6, density 0.4; float32.
    let p = wd(0.6, 0.4);
    check_fixture(
        "ties",
        "ties",
        Some("base"),
        &[("ft1", p.clone()), ("ft2", p.clone()), ("ft3", p)],
        None,
        gta(true, false),
        DType::F32,
        1e-5,
    );
}

#[test]
fn ties_bf16_matches_mergekit_bit_for_bit() {
    // cfg/ties_bf16.yaml: base ./base; ft2 weight 1.0 density 0.7, ft3 weight 0.5 density 0.3;
    // normalize true; dtype bfloat16 (the expected file is bf16).
    check_fixture(
        "ties_bf16",
        "ties",
        Some("base"),
        &[("ft2", wd(1.0, 0.7)), ("ft3", wd(0.5, 0.3))],
        None,
        gta(true, false),
        DType::BF16,
        0.0,
    );
}

#[test]
fn breadcrumbs_ties_matches_mergekit() {
    // cfg/breadcrumbs_ties.yaml: base ./base; ft1, ft2 each weight 1.0, density 0.9,
    // gamma 0.05; float32; normalize/rescale at their defaults (false).
    let p = wd(1.0, 0.9).with("gamma", 0.05);
    check_fixture(
        "breadcrumbs_ties",
        "breadcrumbs_ties",
        Some("base"),
        &[("ft1", p.clone()), ("ft2", p)],
        None,
        gta(false, false),
        DType::F32,
        1e-5,
    );
}
