//! Property tests through the ABI for `linear`, `passthrough` and `task_arithmetic`.

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{
    ErrorKind, MergeCall, MergeMethodBox, ParamMap, RError, RngSeed, TensorMut, TensorRef,
};
use mosaic_tensor::DType;
use proptest::prelude::*;

fn method(name: &str) -> MergeMethodBox {
    let m = mosaic_plugin_merge_basic::plugin_module();
    (m.new_merge())(name.into(), &ParamMap::new())
        .into_result()
        .unwrap()
}

/// Run `name` on f32 inputs; `base` separate, models with their per-model params.
fn run(
    name: &str,
    base: Option<&[f32]>,
    models: &[Vec<f32>],
    model_params: &[ParamMap],
    base_index: Option<u32>,
    params: &ParamMap,
    compute: DType,
) -> Result<Vec<f32>, RError> {
    let n = models
        .first()
        .map(Vec::len)
        .or(base.map(<[f32]>::len))
        .unwrap();
    let shape = [n as u64];
    let refs: Vec<TensorRef<'_>> = models
        .iter()
        .map(|m| TensorRef::from_f32(&shape, m).unwrap())
        .collect();
    let base = base.map(|b| TensorRef::from_f32(&shape, b).unwrap());
    let call = MergeCall {
        tensor_name: RStr::from_str("t"),
        base: base.into(),
        models: RSlice::from_slice(&refs),
        base_index: base_index.into(),
        model_params: RSlice::from_slice(model_params),
        params,
        compute_dtype: compute.into(),
        seed: RngSeed::from_u64(1),
    };
    let mut out = vec![0f32; n];
    method(name)
        .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
        .into_result()?;
    Ok(out)
}

fn weights(ws: &[f64]) -> Vec<ParamMap> {
    ws.iter()
        .map(|&w| ParamMap::new().with("weight", w))
        .collect()
}

fn ta_params(normalize: bool, lambda: f64) -> ParamMap {
    ParamMap::new()
        .with("normalize", normalize)
        .with("lambda", lambda)
        .with("rescale", false)
        .with("int8_mask", false)
}

fn vec_of(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-4.0f32..4.0, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn linear_of_identical_models_is_the_model(x in vec_of(17), ws in prop::collection::vec(0.1f64..3.0, 1..5)) {
        let models = vec![x.clone(); ws.len()];
        let p = ParamMap::new().with("normalize", true);
        let out = run("linear", None, &models, &weights(&ws), None, &p, DType::F32).unwrap();
        for (o, x) in out.iter().zip(&x) {
            prop_assert!((o - x).abs() <= 1e-5 * (1.0 + x.abs()), "{o} vs {x}");
        }
    }

    #[test]
    fn linear_keeps_a_constant_tensor_constant(c in -3.0f32..3.0, raw in prop::collection::vec(0.05f64..1.0, 2..5)) {
        // Weights summing to one, no normalization: a constant tensor stays that constant.
        let total: f64 = raw.iter().sum();
        let ws: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let models = vec![vec![c; 9]; ws.len()];
        let p = ParamMap::new().with("normalize", false);
        let out = run("linear", None, &models, &weights(&ws), None, &p, DType::F32).unwrap();
        for o in out {
            prop_assert!((o - c).abs() <= 1e-5, "{o} vs {c}");
        }
    }

    #[test]
    fn linear_and_task_arithmetic_ignore_model_order(
        a in vec_of(11), b in vec_of(11), c in vec_of(11), base in vec_of(11),
        wa in 0.1f64..2.0, wb in 0.1f64..2.0, wc in 0.1f64..2.0, normalize: bool,
    ) {
        let fwd = [a.clone(), b.clone(), c.clone()];
        let rev = [c, b, a];
        let (wf, wr) = (weights(&[wa, wb, wc]), weights(&[wc, wb, wa]));
        let p = ParamMap::new().with("normalize", normalize);
        let x = run("linear", None, &fwd, &wf, None, &p, DType::F32).unwrap();
        let y = run("linear", None, &rev, &wr, None, &p, DType::F32).unwrap();
        for (x, y) in x.iter().zip(&y) {
            prop_assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()));
        }
        let p = ta_params(normalize, 0.7);
        let x = run("task_arithmetic", Some(&base), &fwd, &wf, None, &p, DType::F32).unwrap();
        let y = run("task_arithmetic", Some(&base), &rev, &wr, None, &p, DType::F32).unwrap();
        for (x, y) in x.iter().zip(&y) {
            prop_assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()));
        }
    }

    #[test]
    fn task_arithmetic_of_the_base_is_the_base(base in vec_of(13), ws in prop::collection::vec(0.1f64..3.0, 1..4), normalize: bool) {
        let models = vec![base.clone(); ws.len()];
        let out = run("task_arithmetic", Some(&base), &models, &weights(&ws), None, &ta_params(normalize, 1.3), DType::F32).unwrap();
        prop_assert_eq!(out, base);
    }

    #[test]
    fn task_arithmetic_matches_closed_form(base in vec_of(7), a in vec_of(7), b in vec_of(7), wa in 0.1f64..2.0, wb in 0.1f64..2.0, lambda in 0.1f64..2.0, normalize: bool) {
        let out = run("task_arithmetic", Some(&base), &[a.clone(), b.clone()], &weights(&[wa, wb]), None, &ta_params(normalize, lambda), DType::F32).unwrap();
        let div = if normalize { wa + wb } else { 1.0 };
        for i in 0..7 {
            let d = wa * (a[i] - base[i]) as f64 + wb * (b[i] - base[i]) as f64;
            let want = base[i] as f64 + lambda * d / div;
            prop_assert!((out[i] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "{} vs {want}", out[i]);
        }
    }

    #[test]
    fn passthrough_copies_and_scales(x in vec_of(10), scale in -2.0f64..2.0) {
        let p = ParamMap::new();
        let out = run("passthrough", None, std::slice::from_ref(&x), &[ParamMap::new().with("scale", 1.0)], None, &p, DType::F32).unwrap();
        prop_assert_eq!(&out, &x);
        let out = run("passthrough", None, std::slice::from_ref(&x), &[ParamMap::new().with("scale", scale)], None, &p, DType::F32).unwrap();
        for (o, x) in out.iter().zip(&x) {
            prop_assert_eq!(*o, (*x as f64 * scale as f32 as f64) as f32);
        }
    }
}

#[test]
fn linear_uses_the_listed_base_model_as_an_input() {
    // base_model listed among models: mergekit weights it like any other input.
    let base = vec![1.0f32, 2.0];
    let ft = vec![3.0f32, 6.0];
    let p = ParamMap::new().with("normalize", true);
    let out = run(
        "linear",
        Some(&base),
        &[base.clone(), ft],
        &weights(&[1.0, 3.0]),
        Some(0),
        &p,
        DType::F32,
    )
    .unwrap();
    assert_eq!(out, vec![2.5, 5.0]);
    // base_model not among models: refused with a message saying what the planner must do.
    let e = run(
        "linear",
        Some(&base),
        &[vec![3.0, 6.0]],
        &weights(&[1.0]),
        None,
        &p,
        DType::F32,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message().contains("base_index"), "{e}");
}

#[test]
fn linear_rounds_like_torch_in_bf16() {
    // Inputs cast to bf16 first (1.00390625 -> 1.0), mixed in f32, result rounded to bf16.
    let models = [vec![1.0f32 + 1.0 / 256.0], vec![2.0f32]];
    let p = ParamMap::new().with("normalize", true);
    let out = run(
        "linear",
        None,
        &models,
        &weights(&[1.0, 2.0]),
        None,
        &p,
        DType::BF16,
    )
    .unwrap();
    // (1 + 4) / 3 = 1.6666 -> bf16 1.6640625
    assert_eq!(out, vec![1.664_062_5]);
}

#[test]
fn wrong_inputs_are_errors_not_panics() {
    let shape = [4u64];
    let other = [5u64];
    let a = vec![0f32; 4];
    let b = vec![0f32; 5];
    let refs = [
        TensorRef::from_f32(&shape, &a).unwrap(),
        TensorRef::from_f32(&other, &b).unwrap(),
    ];
    let mp = weights(&[1.0, 1.0]);
    let params = ta_params(false, 1.0).with("normalize", true);
    for name in ["linear", "task_arithmetic", "passthrough"] {
        let base = TensorRef::from_f32(&shape, &a).unwrap();
        let call = MergeCall {
            tensor_name: RStr::from_str("w"),
            base: Some(base).into(),
            models: RSlice::from_slice(&refs),
            base_index: None.into(),
            model_params: RSlice::from_slice(&mp),
            params: &params,
            compute_dtype: DType::F32.into(),
            seed: RngSeed::from_u64(0),
        };
        let mut out = vec![0f32; 4];
        let e = method(name)
            .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
            .into_result()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{name}: {e}");
        assert!(e.message().contains("`w`"), "{name}: {e}");
    }
    // Zero weights with normalize: an error naming `weight`, not a tensor of NaNs.
    let z = run(
        "linear",
        None,
        &[vec![1.0], vec![2.0]],
        &weights(&[1.0, -1.0]),
        None,
        &ParamMap::new().with("normalize", true),
        DType::F32,
    )
    .unwrap_err();
    assert!(z.message().contains("`weight`"), "{z}");
    // Passthrough with two inputs is refused.
    let e = run(
        "passthrough",
        None,
        &[vec![1.0], vec![2.0]],
        &[
            ParamMap::new().with("scale", 1.0),
            ParamMap::new().with("scale", 1.0),
        ],
        None,
        &ParamMap::new(),
        DType::F32,
    )
    .unwrap_err();
    assert!(e.message().contains("exactly one"), "{e}");
    // task_arithmetic without a base is refused.
    let e = run(
        "task_arithmetic",
        None,
        &[vec![1.0]],
        &weights(&[1.0]),
        None,
        &ta_params(false, 1.0),
        DType::F32,
    )
    .unwrap_err();
    assert!(e.message().contains("base"), "{e}");
}

#[test]
fn descriptors_declare_mergekit_parameters() {
    let m = mosaic_plugin_merge_basic::plugin_module();
    let info = (m.info())().into_result().unwrap();
    let names: Vec<&str> = info.algorithms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["linear", "passthrough", "task_arithmetic"]);
    for a in info.algorithms.iter() {
        a.validate().unwrap();
    }
    let ta = &info.algorithms[2];
    assert!(ta.has_tag("requires_base"));
    let p: Vec<&str> = ta.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        p,
        [
            "int8_mask",
            "normalize",
            "rescale",
            "lambda",
            "weight",
            "density"
        ]
    );
    // Unknown parameters are refused at construction, naming the key.
    let Err(e) =
        (m.new_merge())("linear".into(), &ParamMap::new().with("normalise", true)).into_result()
    else {
        panic!("an unknown parameter was accepted")
    };
    assert!(e.message().contains("`normalise`"), "{e}");
}

/// The whole-tensor computation these methods did before they streamed in chunks, element by
/// element: `linear` (`ta == false`) or `task_arithmetic` on `xs` (`xs[0]` is the base for
/// task arithmetic).
fn whole_tensor_reference(
    ta: bool,
    xs: &[Vec<f32>],
    ws: &[f64],
    normalize: bool,
    lambda: f64,
    dtype: DType,
) -> Vec<f32> {
    use mosaic_tensor::convert::{accumulator, round_to};
    let acc = accumulator(dtype);
    let r = |x: f32| round_to(dtype, x as f64);
    (0..xs[0].len())
        .map(|e| {
            let v = if ta {
                let b = r(xs[0][e]);
                let (mut m, mut wsum) = (0f64, 0f64);
                for (x, &w) in xs[1..].iter().zip(ws) {
                    let w = round_to(dtype, w);
                    wsum = round_to(acc, wsum + w);
                    let d = round_to(dtype, r(x[e]) - b);
                    m = round_to(acc, m + round_to(dtype, d * w));
                }
                let mut m = round_to(dtype, m);
                let div = match round_to(dtype, wsum) {
                    d if d.abs() < 1e-8 => 1.0,
                    d => d,
                };
                if normalize {
                    m = round_to(dtype, m / div);
                }
                let lambda = round_to(acc, lambda);
                if lambda != 1.0 {
                    m = round_to(dtype, m * lambda);
                }
                round_to(dtype, b + m)
            } else {
                let (mut s, mut d) = (0f64, 0f64);
                for (x, &w) in xs.iter().zip(ws) {
                    let w = round_to(acc, w);
                    d = round_to(acc, d + w);
                    s = round_to(acc, s + round_to(acc, r(x[e]) * w));
                }
                if normalize {
                    s = round_to(acc, s / d);
                }
                round_to(dtype, s)
            };
            v as f32
        })
        .collect()
}

/// Tensors of several chunks merge element for element as the whole-tensor computation did
/// (the chunk offsets are right, and no chunk sees another's values).
#[test]
fn chunked_merges_equal_the_whole_tensor_computation() {
    let n = 3 * mosaic_abi::CHUNK_ELEMENTS + 17;
    let xs: Vec<Vec<f32>> = (0..4)
        .map(|k| {
            (0..n)
                .map(|i| ((i * (k + 3)) as f32 * 0.013).sin() * (1.0 + k as f32))
                .collect()
        })
        .collect();
    let ws = [0.4, 0.35, 0.3, 0.2];
    for dtype in [DType::F32, DType::BF16, DType::F16, DType::F64] {
        for normalize in [false, true] {
            let p = ParamMap::new().with("normalize", normalize);
            let got = run("linear", None, &xs, &weights(&ws), None, &p, dtype).unwrap();
            let want = whole_tensor_reference(false, &xs, &ws, normalize, 1.0, dtype);
            assert_eq!(got, want, "linear {dtype:?} normalize {normalize}");
            for lambda in [1.0, 0.7] {
                let p = ta_params(normalize, lambda);
                let got = run(
                    "task_arithmetic",
                    Some(&xs[0]),
                    &xs[1..],
                    &weights(&ws[..3]),
                    None,
                    &p,
                    dtype,
                )
                .unwrap();
                let want = whole_tensor_reference(true, &xs, &ws, normalize, lambda, dtype);
                assert_eq!(got, want, "task_arithmetic {dtype:?} {normalize} {lambda}");
            }
        }
        let scale = [ParamMap::new().with("scale", 0.3)];
        let got = run(
            "passthrough",
            None,
            &xs[..1],
            &scale,
            None,
            &ParamMap::new(),
            dtype,
        );
        let s = mosaic_tensor::convert::round_to(
            if dtype == DType::F64 {
                dtype
            } else {
                DType::F32
            },
            0.3,
        );
        let want: Vec<f32> = xs[0]
            .iter()
            .map(|&x| {
                let x = mosaic_tensor::convert::round_to(dtype, x as f64);
                mosaic_tensor::convert::round_to(dtype, x * s) as f32
            })
            .collect();
        assert_eq!(got.unwrap(), want, "passthrough {dtype:?}");
    }
}
