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

/// Distance in units in the last place between two bf16 values (held widened in f32).
fn bf16_ulps(a: f32, b: f32) -> u32 {
    // Map the sign-magnitude bits to a monotonic integer line.
    let key = |v: f32| {
        let h = (v.to_bits() >> 16) as i32;
        if h & 0x8000 != 0 {
            -(h & 0x7fff)
        } else {
            h
        }
    };
    key(a).abs_diff(key(b))
}

/// What a `dtype: bfloat16` comparison found.
struct Bf16Diff {
    /// Elements whose bits differ.
    differ: usize,
}

/// Merge a `dtype: bfloat16` fixture (f32 inputs, bf16 compute and output) and compare bit
/// for bit.
fn run_bf16(case: Case<'_>) -> Bf16Diff {
    let cfg = case.cfg;
    let results = merge_all(case, AbiDType::BF16);
    let (mut differ, mut worst, mut total) = (0, 0, 0);
    let mut worst_abs = 0f32;
    for (name, got, want) in &results {
        let ulps: Vec<u32> = got
            .iter()
            .zip(want)
            .map(|(&a, &b)| bf16_ulps(a, b))
            .collect();
        let n = ulps.iter().filter(|&&u| u > 0).count();
        if n > 0 {
            eprintln!("{cfg}: {name}: {n} of {} elements differ", ulps.len());
            if std::env::var_os("GOLDEN_VERBOSE").is_some() {
                for (i, u) in ulps.iter().enumerate().filter(|(_, &u)| u > 0).take(4) {
                    eprintln!("    [{i}] got {:e} want {:e} ({u} ULP)", got[i], want[i]);
                }
            }
        }
        differ += n;
        worst = worst.max(ulps.iter().copied().max().unwrap_or(0));
        worst_abs = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(worst_abs, f32::max);
        total += ulps.len();
    }
    eprintln!(
        "{cfg}: {differ} of {total} elements differ, worst {worst} bf16 ULP, max |diff| {worst_abs:e}"
    );
    Bf16Diff { differ }
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

// ---- `dtype: bfloat16` fixtures (cfg/<name>_bf16.yaml: the f32 config with `dtype: bfloat16`;
// mergekit casts the f32 inputs to bf16 and runs every torch op in bf16). ----

fn slerp_case(cfg: &str) -> Case<'_> {
    Case {
        cfg,
        method: "slerp",
        base: Some("ft2"),
        models: vec![("ft2", ParamMap::new()), ("ft3", ParamMap::new())],
        params: ParamMap::new().with("t", 0.35),
    }
}

fn nuslerp_case(cfg: &str) -> Case<'_> {
    Case {
        cfg,
        method: "nuslerp",
        base: None,
        models: vec![
            ("ft1", ParamMap::new().with("weight", 0.7)),
            ("ft3", ParamMap::new().with("weight", 0.3)),
        ],
        params: ParamMap::new(),
    }
}

fn model_stock_case(cfg: &str) -> Case<'_> {
    Case {
        cfg,
        method: "model_stock",
        base: Some("base"),
        models: vec![("ft1", ParamMap::new()), ("ft3", ParamMap::new())],
        params: ParamMap::new(),
    }
}

fn karcher_case(cfg: &str) -> Case<'_> {
    Case {
        cfg,
        method: "karcher",
        base: None,
        models: vec![
            ("ft1", ParamMap::new()),
            ("ft2", ParamMap::new()),
            ("ft3", ParamMap::new()),
        ],
        params: ParamMap::new().with("max_iter", 20i64).with("tol", 1e-6),
    }
}

fn multislerp_case(cfg: &str) -> Case<'_> {
    Case {
        cfg,
        method: "multislerp",
        base: None,
        models: vec![
            ("ft1", ParamMap::new().with("weight", 1.0)),
            ("ft2", ParamMap::new().with("weight", 2.0)),
            ("ft3", ParamMap::new().with("weight", 1.0)),
        ],
        params: ParamMap::new(),
    }
}

fn nearswap_case(cfg: &str) -> Case<'_> {
    Case {
        cfg,
        method: "nearswap",
        base: Some("ft1"),
        models: vec![("ft1", ParamMap::new()), ("ft2", ParamMap::new())],
        params: ParamMap::new().with("t", 0.01),
    }
}

/// Bit for bit: the half-precision path replays mergekit's float32 op sequence with torch's
/// CPU reductions (vector norm and row sum, see `torch_cpu`) and glibc's `acosf`/`sinf`.
#[test]
fn golden_slerp_bf16() {
    assert_eq!(run_bf16(slerp_case("slerp_bf16")).differ, 0);
}

#[test]
fn golden_nuslerp_bf16() {
    assert_eq!(run_bf16(nuslerp_case("nuslerp_bf16")).differ, 0);
}

#[test]
fn golden_model_stock_bf16() {
    assert_eq!(run_bf16(model_stock_case("model_stock_bf16")).differ, 0);
}

/// Bit for bit: the half-precision path replays mergekit's op sequence with torch's CPU
/// reductions (the float32 vector norm and the bfloat16 `torch.dot`, see `torch_cpu`).
#[test]
fn golden_karcher_bf16() {
    assert_eq!(run_bf16(karcher_case("karcher_bf16")).differ, 0);
}

#[test]
fn golden_multislerp_bf16() {
    assert_eq!(run_bf16(multislerp_case("multislerp_bf16")).differ, 0);
}

#[test]
fn golden_nearswap_bf16() {
    assert_eq!(run_bf16(nearswap_case("nearswap_bf16")).differ, 0);
}
