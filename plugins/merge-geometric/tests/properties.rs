//! Property tests, all through the ABI (`plugin_module()` → `new_merge` → `merge`).

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{
    AbiDType, ErrorKind, MergeCall, MergeMethodBox, ParamMap, RError, RngSeed, TensorMut, TensorRef,
};
use proptest::prelude::*;

const ALL: [&str; 9] = [
    "slerp",
    "model_stock",
    "multislerp",
    "nearswap",
    "ram",
    "ramplus_tl",
    "nuslerp",
    "karcher",
    "arcee_fusion",
];

fn method(name: &str, params: &ParamMap) -> MergeMethodBox {
    let m = mosaic_plugin_merge_geometric::plugin_module();
    (m.new_merge())(RStr::from_str(name), params)
        .into_result()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Constructor parameters each method needs (its required globals).
fn ctor_params(name: &str, t: f64) -> ParamMap {
    match name {
        "slerp" | "nearswap" => ParamMap::new().with("t", t),
        _ => ParamMap::new(),
    }
}

/// Merge one tensor of `shape`: `base` (if any), `models` (each with weight 1).
fn merge(
    m: &MergeMethodBox,
    shape: &[u64],
    base: Option<(&[u64], &[f32])>,
    models: &[(&[u64], &[f32])],
) -> Result<Vec<f32>, RError> {
    let refs: Vec<TensorRef<'_>> = models
        .iter()
        .map(|(s, v)| TensorRef::from_f32(s, v).unwrap())
        .collect();
    let base = base.map(|(s, v)| TensorRef::from_f32(s, v).unwrap());
    let mp: Vec<ParamMap> = models
        .iter()
        .map(|_| ParamMap::new().with("weight", 1.0))
        .collect();
    let globals = ParamMap::new();
    let call = MergeCall {
        tensor_name: RStr::from_str("model.layers.0.mlp.up_proj.weight"),
        base: base.into(),
        models: RSlice::from_slice(&refs),
        base_index: None.into(),
        model_params: RSlice::from_slice(&mp),
        params: &globals,
        compute_dtype: AbiDType::F32,
        seed: RngSeed::from_u64(7),
    };
    let n = shape.iter().product::<u64>() as usize;
    let mut out = vec![0f32; n];
    m.merge(call, TensorMut::from_f32(shape, &mut out).unwrap())
        .into_result()?;
    Ok(out)
}

fn close(a: &[f32], b: &[f32], tol: f32) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        prop_assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "element {}: {} vs {}",
            i,
            x,
            y
        );
    }
    Ok(())
}

/// A (rows × cols) tensor's values and three more of the same shape.
fn tensors(k: usize) -> impl Strategy<Value = (Vec<u64>, Vec<Vec<f32>>)> {
    (1usize..5, 1usize..9).prop_flat_map(move |(r, c)| {
        (
            Just(vec![r as u64, c as u64]),
            prop::collection::vec(prop::collection::vec(-1.0f32..1.0, r * c), k),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn slerp_endpoints((shape, v) in tensors(2)) {
        for (t, want) in [(0.0, &v[0]), (1.0, &v[1])] {
            let m = method("slerp", &ctor_params("slerp", t));
            let got = merge(&m, &shape, Some((&shape, &v[0])), &[(&shape, &v[1])]).unwrap();
            close(&got, want, 1e-5)?;
        }
    }

    #[test]
    fn identical_models_return_the_model((shape, v) in tensors(2)) {
        let (x, b) = (&v[0], &v[1]);
        for name in ALL {
            let m = method(name, &ctor_params(name, 0.3));
            let got = match name {
                // Base-relative methods: a different base, every other model equal to x.
                "model_stock" | "ram" | "ramplus_tl" => {
                    merge(&m, &shape, Some((&shape, b)), &[(&shape, x), (&shape, x)])
                }
                "slerp" | "nearswap" | "arcee_fusion" => {
                    merge(&m, &shape, Some((&shape, x)), &[(&shape, x)])
                }
                _ => merge(&m, &shape, None, &[(&shape, x), (&shape, x)]),
            }
            .unwrap();
            close(&got, x, 1e-4).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        }
    }

    #[test]
    fn order_independent_methods((shape, v) in tensors(3)) {
        for name in ["multislerp", "karcher"] {
            let m = method(name, &ParamMap::new());
            let a = merge(&m, &shape, None, &[(&shape, &v[0]), (&shape, &v[1]), (&shape, &v[2])]);
            let b = merge(&m, &shape, None, &[(&shape, &v[2]), (&shape, &v[0]), (&shape, &v[1])]);
            match (a, b) {
                (Ok(a), Ok(b)) => close(&a, &b, 1e-4)
                    .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?,
                // A vanishing weighted mean is refused whatever the order.
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "{}: {:?} vs {:?}", name, a.is_ok(), b.is_ok()),
            }
        }
    }

    #[test]
    fn wrong_shape_is_an_error((shape, v) in tensors(3)) {
        let bad_shape = vec![shape[0] + 1, shape[1]];
        let bad = vec![0.5f32; v[0].len() + shape[1] as usize];
        for name in ALL {
            let m = method(name, &ctor_params(name, 0.5));
            let r = merge(&m, &shape, Some((&shape, &v[0])), &[(&shape, &v[1]), (&bad_shape, &bad)]);
            let e = r.expect_err(name);
            prop_assert!(e.kind == ErrorKind::InvalidInput, "{}: {}", name, e);
            prop_assert!(e.message().contains("shape"), "{}: {}", name, e);
        }
    }
}

#[test]
fn missing_base_and_wrong_counts_are_errors() {
    let s = [4u64];
    let x = [0.1f32, 0.2, 0.3, 0.4];
    for name in ["slerp", "model_stock", "nearswap", "ram", "arcee_fusion"] {
        let m = method(name, &ctor_params(name, 0.5));
        let e = merge(&m, &s, None, &[(&s, &x), (&s, &x)]).unwrap_err();
        assert!(e.message().contains("base"), "{name}: {e}");
    }
    let m = method("slerp", &ctor_params("slerp", 0.5));
    let e = merge(&m, &s, Some((&s, &x)), &[(&s, &x), (&s, &x)]).unwrap_err();
    assert!(e.message().contains("exactly 1"), "{e}");
    let m = method("nuslerp", &ParamMap::new());
    assert!(merge(&m, &s, None, &[(&s, &x)]).is_err());
}

#[test]
fn required_params_are_declared() {
    let m = mosaic_plugin_merge_geometric::plugin_module();
    // Merge parameters arrive per tensor: construction without `t` succeeds, and a call
    // whose parameters lack `t` is refused naming it.
    let slerp = (m.new_merge())(RStr::from_str("slerp"), &ParamMap::new())
        .into_result()
        .expect("constructors do not require per-tensor parameters");
    let s = [4u64];
    let x = [1.0f32, 2.0, 3.0, 4.0];
    let e = merge(&slerp, &s, Some((&s, &x)), &[(&s, &x)]).unwrap_err();
    assert!(e.message().contains("`t`"), "{e}");
    let info = (m.info())().into_result().unwrap();
    assert_eq!(info.algorithms.len(), ALL.len());
    for d in info.algorithms.iter() {
        d.validate().unwrap();
    }
}
