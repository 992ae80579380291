//! SCE through the ABI: mergekit 0.1.5's output for `tests/fixtures/merge/cfg/sce.yaml`
//! (command in that folder's README) and properties of the formula.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{ErrorKind, MergeCall, ParamMap, RError, RngSeed, TensorMut, TensorRef};
use mosaic_tensor::DType;
use proptest::prelude::*;

type Model = BTreeMap<String, (Vec<u64>, Vec<f32>)>;

fn load_model(name: &str) -> Model {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/merge")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    let mut out = BTreeMap::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (name, view) in st.tensors() {
            assert_eq!(view.dtype(), safetensors::Dtype::F32);
            let shape: Vec<u64> = view.shape().iter().map(|&d| d as u64).collect();
            let values = TensorRef::new(DType::F32, &shape, view.data())
                .unwrap()
                .to_f32_vec();
            out.insert(name, (shape, values));
        }
    }
    out
}

fn params(topk: f64) -> ParamMap {
    ParamMap::new()
        .with("select_topk", topk)
        .with("int8_mask", false)
}

fn run(
    base: &[f32],
    models: &[Vec<f32>],
    base_index: Option<u32>,
    p: &ParamMap,
) -> Result<Vec<f32>, RError> {
    let shape = [base.len() as u64];
    let shapes: Vec<[u64; 1]> = models.iter().map(|m| [m.len() as u64]).collect();
    let refs: Vec<TensorRef<'_>> = models
        .iter()
        .zip(&shapes)
        .map(|(m, s)| TensorRef::from_f32(s, m).unwrap())
        .collect();
    let mp = vec![ParamMap::new(); models.len()];
    let call = MergeCall {
        tensor_name: RStr::from_str("t"),
        base: Some(TensorRef::from_f32(&shape, base).unwrap()).into(),
        models: RSlice::from_slice(&refs),
        base_index: base_index.into(),
        model_params: RSlice::from_slice(&mp),
        params: p,
        compute_dtype: DType::F32.into(),
        seed: RngSeed::from_u64(0),
    };
    let m = mosaic_plugin_merge_sparse::plugin_module();
    let method = (m.new_merge())("sce".into(), p).into_result()?;
    let mut out = vec![0f32; base.len()];
    method
        .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
        .into_result()?;
    Ok(out)
}

#[test]
fn sce_matches_mergekit() {
    // cfg/sce.yaml: base ./base; ft1, ft2, ft3; select_topk 0.4; float32.
    let base = load_model("base");
    let models: Vec<Model> = ["ft1", "ft2", "ft3"]
        .iter()
        .map(|n| load_model(n))
        .collect();
    let expected = load_model("expected/sce");
    assert_eq!(expected.len(), base.len());
    let p = params(0.4);
    let mut worst = 0f32;
    for (name, (shape, want)) in &expected {
        let inputs: Vec<Vec<f32>> = models.iter().map(|m| m[name].1.clone()).collect();
        assert_eq!(shape, &base[name].0);
        let got = run(&base[name].1, &inputs, None, &p).unwrap();
        for (g, w) in got.iter().zip(want) {
            worst = worst.max((g - w).abs());
        }
    }
    eprintln!("sce: max |diff| {worst}");
    assert!(worst <= 1e-6, "max |diff| {worst}");
}

#[test]
fn hand_computed_two_models() {
    // base 0; δ1 = [1, -2, 3, 0], δ2 = [3, 2, -1, 0], select_topk 1.
    // mean squares: (1+4+9)/4 = 3.5 and (9+4+1)/4 = 3.5 -> w = [0.5, 0.5].
    // sums [4, 0, 2, 0] -> majority +, +, +, + (0 counts as +).
    // e0: both agree -> (0.5+1.5)/1 = 2; e1: only δ2 (+2) -> 1/0.5 = 2;
    // e2: only δ1 (+3) -> 3; e3: all zero -> 0 / 1e-6 = 0.
    let out = run(
        &[0.0; 4],
        &[vec![1.0, -2.0, 3.0, 0.0], vec![3.0, 2.0, -1.0, 0.0]],
        None,
        &params(1.0),
    )
    .unwrap();
    assert_eq!(out, [2.0, 2.0, 3.0, 0.0]);
    // select_topk 0.5: variances [1, 4, 4, 0]; nonzero 3 -> k = ⌊1.5⌋ = 1: the first of the
    // tied largest (index 1) survives. δ1 = [0,-2,0,0], δ2 = [0,2,0,0]; w = [0.5,0.5];
    // sum 0 -> majority + -> e1 = 2·0.5/0.5 = 2.
    let out = run(
        &[0.0; 4],
        &[vec![1.0, -2.0, 3.0, 0.0], vec![3.0, 2.0, -1.0, 0.0]],
        None,
        &params(0.5),
    )
    .unwrap();
    assert_eq!(out, [0.0, 2.0, 0.0, 0.0]);
}

#[test]
fn base_listed_among_models_is_skipped_and_shapes_are_checked() {
    let base = [0.5f32, -1.0, 2.0];
    let a = vec![1.0f32, 0.0, 2.5];
    let b = vec![0.0f32, -2.0, 3.0];
    let without = run(&base, &[a.clone(), b.clone()], None, &params(1.0)).unwrap();
    let with = run(&base, &[a.clone(), base.to_vec(), b], Some(1), &params(1.0)).unwrap();
    assert_eq!(without, with);
    let err = run(&base, &[a, vec![1.0, 2.0]], None, &params(1.0)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn identical_models_give_the_model(base in prop::collection::vec(-2.0f32..2.0, 30), x in prop::collection::vec(-2.0f32..2.0, 30), n in 1usize..4) {
        let out = run(&base, &vec![x.clone(); n], None, &params(1.0)).unwrap();
        for (o, x) in out.iter().zip(&x) {
            prop_assert!((o - x).abs() <= 1e-5 * (1.0 + x.abs()), "{o} vs {x}");
        }
    }

    #[test]
    fn model_order_does_not_matter(base in prop::collection::vec(-2.0f32..2.0, 40), a in prop::collection::vec(-2.0f32..2.0, 40), b in prop::collection::vec(-2.0f32..2.0, 40), c in prop::collection::vec(-2.0f32..2.0, 40), k in 0.1f64..1.0) {
        let x = run(&base, &[a.clone(), b.clone(), c.clone()], None, &params(k)).unwrap();
        let y = run(&base, &[c, a, b], None, &params(k)).unwrap();
        for (x, y) in x.iter().zip(&y) {
            prop_assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn select_topk_keeps_the_high_variance_share(base in prop::collection::vec(-1.0f32..1.0, 50), a in prop::collection::vec(-2.0f32..2.0, 50), b in prop::collection::vec(-2.0f32..2.0, 50), k in 0.05f64..0.95) {
        // Two models: the variance is nonzero wherever a ≠ b; elements not selected fall
        // back to the base exactly.
        let out = run(&base, &[a.clone(), b.clone()], None, &params(k)).unwrap();
        let nonzero = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        let want = (nonzero as f32 * k as f32) as usize;
        let changed = out.iter().zip(&base).filter(|(o, b)| o != b).count();
        prop_assert!(changed <= want, "changed {changed} > k {want}");
    }
}
