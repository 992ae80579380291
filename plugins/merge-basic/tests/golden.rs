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
    let module = mosaic_plugin_merge_basic::plugin_module();
    let m = (module.new_merge())(method.into(), &params)
        .into_result()
        .unwrap();
    let base = base.map(load_model);
    let loaded: Vec<_> = models.iter().map(|(n, _)| load_model(n)).collect();
    let model_params: Vec<ParamMap> = models.iter().map(|(_, p)| p.clone()).collect();
    let expected = load_model(&format!("expected/{cfg}"));
    assert_eq!(expected.len(), loaded[0].len(), "tensor count");
    let mut worst = 0f32;
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
        assert!(
            diff <= tol,
            "{cfg}: tensor `{name}` differs by {diff} (> {tol})"
        );
    }
    eprintln!("{cfg}: {} tensors, max |diff| {worst}", expected.len());
}

fn weight(w: f64) -> ParamMap {
    ParamMap::new().with("weight", w)
}

#[test]
fn linear_matches_mergekit() {
    // cfg/linear.yaml: ft1 weight 2, ft2 weight 1, no base model, normalize defaults to true.
    check_fixture(
        "linear",
        "linear",
        None,
        &[("ft1", weight(2.0)), ("ft2", weight(1.0))],
        None,
        ParamMap::new().with("normalize", true),
        DType::F32,
        1e-5,
    );
}

#[test]
fn task_arithmetic_matches_mergekit() {
    // cfg/task_arithmetic.yaml: base ./base; ft1 weight 0.5, ft3 weight 0.9; lambda 0.8.
    let p = |w: f64| weight(w).with("density", 1.0);
    check_fixture(
        "task_arithmetic",
        "task_arithmetic",
        Some("base"),
        &[("ft1", p(0.5)), ("ft3", p(0.9))],
        None,
        ParamMap::new()
            .with("lambda", 0.8)
            .with("normalize", false)
            .with("rescale", false)
            .with("int8_mask", false),
        DType::F32,
        1e-5,
    );
}
