//! PCB merging through the ABI: a hand-checked case (numbers from `pcb_reference.py`, an
//! independent numpy evaluation of the paper's equations) and properties.

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{ErrorKind, MergeCall, ParamMap, RError, RngSeed, TensorMut, TensorRef};
use mosaic_tensor::DType;
use proptest::prelude::*;

fn params(density: f64, lambda: f64) -> ParamMap {
    ParamMap::new()
        .with("density", density)
        .with("lambda", lambda)
}

fn run(
    base: Option<&[f32]>,
    models: &[Vec<f32>],
    base_index: Option<u32>,
    p: &ParamMap,
) -> Result<Vec<f32>, RError> {
    let len = models[0].len();
    let shape = [len as u64];
    let shapes: Vec<[u64; 1]> = models.iter().map(|m| [m.len() as u64]).collect();
    let refs: Vec<TensorRef<'_>> = models
        .iter()
        .zip(&shapes)
        .map(|(m, s)| TensorRef::from_f32(s, m).unwrap())
        .collect();
    let mp = vec![ParamMap::new(); models.len()];
    let base_shape = [base.map_or(0, |b| b.len() as u64)];
    let call = MergeCall {
        tensor_name: RStr::from_str("t"),
        base: base
            .map(|b| TensorRef::from_f32(&base_shape, b).unwrap())
            .into(),
        models: RSlice::from_slice(&refs),
        base_index: base_index.into(),
        model_params: RSlice::from_slice(&mp),
        params: p,
        compute_dtype: DType::F32.into(),
        seed: RngSeed::from_u64(0),
    };
    let m = mosaic_plugin_merge_sparse::plugin_module();
    let method = (m.new_merge())("pcb".into(), p).into_result()?;
    let mut out = vec![0f32; len];
    method
        .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
        .into_result()?;
    Ok(out)
}

fn close(got: &[f32], want: &[f64], tol: f64) {
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() <= tol, "{got:?} vs {want:?}");
    }
}

const BASE: [f32; 4] = [0.1, -0.2, 0.3, 0.0];

fn two_tasks() -> Vec<Vec<f32>> {
    let t1 = [0.5f32, -1.0, 0.25, 2.0];
    let t2 = [1.5f32, 0.5, -0.75, 1.0];
    [t1, t2]
        .iter()
        .map(|t| BASE.iter().zip(t).map(|(b, d)| b + d).collect())
        .collect()
}

#[test]
fn hand_computed_two_tasks_four_elements() {
    // τ1 = [0.5, -1, 0.25, 2], τ2 = [1.5, 0.5, -0.75, 1]; values from pcb_reference.py.
    let out = run(Some(&BASE), &two_tasks(), None, &params(1.0, 1.0)).unwrap();
    close(
        &out,
        &[
            1.509290483815363,
            -0.7021071362579911,
            -0.02407880825450992,
            1.8335447758615788,
        ],
        2e-6,
    );
    // r = 0.5 keeps 2 of 4 scores per task: task 1 keeps elements 1, 3; task 2 keeps 0, 3;
    // element 2 falls back to the base.
    let out = run(Some(&BASE), &two_tasks(), None, &params(0.5, 1.0)).unwrap();
    close(&out, &[1.6, -1.2, 0.3, 1.8335447758615788], 2e-6);
    let out = run(Some(&BASE), &two_tasks(), None, &params(0.5, 0.7)).unwrap();
    close(&out, &[1.15, -0.9, 0.3, 1.2834813431031051], 2e-6);
}

#[test]
fn missing_base_and_wrong_shapes_are_errors() {
    let err = run(None, &two_tasks(), None, &params(0.5, 1.0)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    let mut models = two_tasks();
    models[1].pop();
    let err = run(Some(&BASE), &models, None, &params(0.5, 1.0)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    let err = run(Some(&BASE), &two_tasks(), None, &params(0.0, 1.0)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidParam);
}

#[test]
fn base_listed_among_models_is_skipped() {
    let mut with = two_tasks();
    with.insert(1, BASE.to_vec());
    let a = run(Some(&BASE), &two_tasks(), None, &params(0.5, 1.0)).unwrap();
    let b = run(Some(&BASE), &with, Some(1), &params(0.5, 1.0)).unwrap();
    assert_eq!(a, b);
}

fn vec_of(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-2.0f32..2.0, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn identical_task_vectors_give_base_plus_lambda_kept_delta(base in vec_of(32), x in vec_of(32), n in 1usize..4, r in 0.05f64..1.0, lambda in 0.2f64..2.0) {
        // All β_i are equal, so τ_m = m ⊙ τ: base + λ·τ where kept, the base elsewhere; the
        // kept share is ⌈r·d⌉-ish (d − ⌊(1 − r)·d⌋ up to ties).
        let out = run(Some(&base), &vec![x.clone(); n], None, &params(r, lambda)).unwrap();
        let mut kept = 0;
        for ((o, b), x) in out.iter().zip(&base).zip(&x) {
            let full = b + (lambda as f32) * (x - b);
            let is_base = (o - b).abs() <= 1e-6 * (1.0 + b.abs());
            let is_full = (o - full).abs() <= 1e-5 * (1.0 + full.abs());
            prop_assert!(is_base || is_full, "{o}: neither base {b} nor {full}");
            kept += usize::from(is_full);
        }
        let d = base.len();
        let want = d - ((1.0 - r) * d as f64).floor() as usize;
        prop_assert!(kept >= want, "kept {kept} < {want}");
    }

    #[test]
    fn model_order_does_not_matter(base in vec_of(40), a in vec_of(40), b in vec_of(40), c in vec_of(40), r in 0.05f64..1.0) {
        let x = run(Some(&base), &[a.clone(), b.clone(), c.clone()], None, &params(r, 1.0)).unwrap();
        let y = run(Some(&base), &[c, a, b], None, &params(r, 1.0)).unwrap();
        for (x, y) in x.iter().zip(&y) {
            prop_assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn density_one_keeps_everything(base in vec_of(24), a in vec_of(24), b in vec_of(24), lambda in 0.2f64..2.0) {
        // Every score is positive, so τ_m is a convex combination of the task values.
        let out = run(Some(&base), &[a.clone(), b.clone()], None, &params(1.0, lambda)).unwrap();
        for (i, o) in out.iter().enumerate() {
            let (ta, tb) = (a[i] - base[i], b[i] - base[i]);
            let m = (o - base[i]) / lambda as f32;
            let (lo, hi) = (ta.min(tb), ta.max(tb));
            let slack = 1e-4 * (1.0 + hi.abs().max(lo.abs()));
            prop_assert!(m >= lo - slack && m <= hi + slack, "{m} outside [{lo}, {hi}]");
        }
    }
}
