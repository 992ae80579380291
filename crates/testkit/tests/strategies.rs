//! The strategies generate what they promise.

use mosaic_abi::{ParamScope, ParamSpec};
use mosaic_tensor::DType;
use mosaic_testkit::strategies::{float_tensor, param_map, same_shape_tensors};
use proptest::prelude::*;

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::f64("density", Some(1.0), "d").range(0.0, 1.0),
        ParamSpec::f64("scale", None, "s").min(0.5),
        ParamSpec::i64("domain_size", None, "k").range(2.0, 64.0),
        ParamSpec::bool("normalize", Some(true), "n"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_parameter_maps_validate(m in param_map(specs())) {
        let r = m.resolve(&specs(), ParamScope::Global);
        prop_assert!(r.is_ok(), "{:?} -> {:?}", m, r);
        let r = r.unwrap();
        prop_assert!(r.f64("scale").unwrap() >= 0.5);
        let k = r.i64("domain_size").unwrap();
        prop_assert!((2..=64).contains(&k));
    }

    #[test]
    fn float_tensors_are_finite_and_consistent(t in float_tensor(3, 6)) {
        prop_assert!(matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16));
        prop_assert_eq!(t.numel(), t.shape().numel());
        prop_assert!(t.to_f32_vec().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn same_shape_tensors_share_a_shape(ts in same_shape_tensors(3, DType::BF16, 2, 5)) {
        prop_assert_eq!(ts.len(), 3);
        prop_assert!(ts.iter().all(|t| t.shape() == ts[0].shape() && t.dtype() == DType::BF16));
    }
}
