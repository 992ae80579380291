//! proptest strategies for tensors, shapes and parameter maps.

use abi_stable::std_types::ROption;
use mosaic_abi::{ParamKind, ParamMap, ParamSpec, ParamValue};
use mosaic_tensor::{DType, Shape, Tensor};
use proptest::prelude::*;

/// Shapes of rank `1..=max_rank` with dimensions `1..=max_dim`.
pub fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Shape> {
    prop::collection::vec(1..=max_dim, 1..=max_rank).prop_map(Shape::new)
}

/// Finite `f32` values of moderate magnitude (no NaN/inf), including exact zeros.
pub fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -100.0f32..100.0,
        1 => Just(0.0f32),
        1 => -1.0e-3f32..1.0e-3,
    ]
}

/// `len` finite `f32` values.
pub fn f32_vec(len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(finite_f32(), len)
}

/// A float tensor of `dtype` (F32, F16, BF16 or F64) and the given shape, with finite values.
pub fn tensor_of(dtype: DType, shape: Shape) -> impl Strategy<Value = Tensor> {
    let n = shape.numel();
    f32_vec(n).prop_map(move |v| {
        Tensor::from_f32(shape.clone(), v)
            .expect("length matches shape")
            .to_dtype(dtype)
    })
}

/// A float tensor of any of F32, F16, BF16 with a random shape.
pub fn float_tensor(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Tensor> {
    (
        prop_oneof![Just(DType::F32), Just(DType::F16), Just(DType::BF16)],
        shape(max_rank, max_dim),
    )
        .prop_flat_map(|(d, s)| tensor_of(d, s))
}

/// `count` float tensors of one shared random shape and dtype (inputs for a merge).
pub fn same_shape_tensors(
    count: usize,
    dtype: DType,
    max_rank: usize,
    max_dim: usize,
) -> impl Strategy<Value = Vec<Tensor>> {
    shape(max_rank, max_dim)
        .prop_flat_map(move |s| prop::collection::vec(tensor_of(dtype, s), count))
}

/// A value that satisfies `spec`: its default if it has one, else a representative value
/// inside its range (1.0 for unbounded reals, 4 for integers, `true`, `""`, `[1.0]`).
pub fn sample_value(spec: &ParamSpec) -> ParamValue {
    if let ROption::RSome(d) = &spec.default {
        return d.clone();
    }
    let lo = spec.min.into_option();
    let hi = spec.max.into_option();
    let real = match (lo, hi) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        (Some(a), None) => a.max(0.0) + 1.0,
        (None, Some(b)) => b.min(1.0),
        (None, None) => 1.0,
    };
    match spec.kind {
        ParamKind::F64 => ParamValue::F64(real),
        ParamKind::I64 => {
            let v = match (lo, hi) {
                (Some(a), Some(b)) => ((a + b) / 2.0).round(),
                (Some(a), None) => a.max(4.0),
                (None, Some(b)) => b.min(4.0),
                (None, None) => 4.0,
            };
            ParamValue::I64(v as i64)
        }
        ParamKind::Bool => ParamValue::Bool(true),
        ParamKind::Str => ParamValue::Str("".into()),
        ParamKind::F64List => ParamValue::F64List(vec![real].into()),
    }
}

/// A strategy for a valid value of `spec` (random within its range where it has one).
pub fn param_value(spec: &ParamSpec) -> BoxedStrategy<ParamValue> {
    let lo = spec.min.into_option();
    let hi = spec.max.into_option();
    match spec.kind {
        ParamKind::F64 => {
            let (a, b) = match (lo, hi) {
                (Some(a), Some(b)) => (a, b),
                (Some(a), None) => (a, a.max(0.0) + 10.0),
                (None, Some(b)) => (b - 10.0, b),
                (None, None) => (-10.0, 10.0),
            };
            if a == b {
                Just(ParamValue::F64(a)).boxed()
            } else {
                (a..=b).prop_map(ParamValue::F64).boxed()
            }
        }
        ParamKind::I64 => {
            let a = lo.unwrap_or(-10.0).ceil() as i64;
            let b = hi.unwrap_or(a as f64 + 20.0).floor() as i64;
            (a..=b.max(a)).prop_map(ParamValue::I64).boxed()
        }
        ParamKind::Bool => any::<bool>().prop_map(ParamValue::Bool).boxed(),
        _ => Just(sample_value(spec)).boxed(),
    }
}

/// A strategy for valid parameter maps of the given specs: every required parameter present,
/// each optional one present or absent.
pub fn param_map(specs: Vec<ParamSpec>) -> BoxedStrategy<ParamMap> {
    let parts: Vec<BoxedStrategy<Option<(String, ParamValue)>>> = specs
        .into_iter()
        .map(|s| {
            let name = s.name.to_string();
            let required = s.default.is_none();
            let v = param_value(&s);
            if required {
                v.prop_map(move |v| Some((name.clone(), v))).boxed()
            } else {
                prop::option::of(v)
                    .prop_map(move |o| o.map(|v| (name.clone(), v)))
                    .boxed()
            }
        })
        .collect();
    parts
        .prop_map(|entries| {
            let mut m = ParamMap::new();
            for (k, v) in entries.into_iter().flatten() {
                m.insert(&k, v);
            }
            m
        })
        .boxed()
}

/// Representative values for every spec (required ones filled with [`sample_value`]).
pub fn sample_params<'a>(specs: impl IntoIterator<Item = &'a ParamSpec>) -> ParamMap {
    let mut m = ParamMap::new();
    for s in specs {
        m.insert(&s.name, sample_value(s));
    }
    m
}
