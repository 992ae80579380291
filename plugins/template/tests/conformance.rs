//! The plugin proves itself with Mosaic's conformance suite, linked statically.

use abi_stable::std_types::{ROption, RSlice, RStr};
use mosaic_abi::{MergeCall, ParamMap, RngSeed, TensorMut, TensorRef};

#[test]
fn passes_the_conformance_suite() {
    let report = mosaic_testkit::check_plugin(mosaic_plugin_template::plugin_module()).unwrap();
    assert_eq!(report.checked, ["merge/median"]);
}

#[test]
fn median_of_three_by_hand() {
    let m = mosaic_plugin_template::plugin_module();
    let median = (m.new_merge())(RStr::from_str("median"), &ParamMap::new())
        .into_result()
        .unwrap();
    let shape = [3u64];
    let (a, b, c) = ([1.0f32, 5.0, -2.0], [3.0f32, 4.0, 0.0], [2.0f32, 9.0, -1.0]);
    let models = [
        TensorRef::from_f32(&shape, &a).unwrap(),
        TensorRef::from_f32(&shape, &b).unwrap(),
        TensorRef::from_f32(&shape, &c).unwrap(),
    ];
    let per_model = [ParamMap::new(), ParamMap::new(), ParamMap::new()];
    let global = ParamMap::new();
    let mut out = [0f32; 3];
    let call = MergeCall {
        tensor_name: RStr::from_str("w"),
        base: ROption::RNone,
        models: RSlice::from_slice(&models),
        base_index: ROption::RNone,
        model_params: RSlice::from_slice(&per_model),
        params: &global,
        compute_dtype: mosaic_abi::AbiDType::F32,
        seed: RngSeed::from_u64(0),
    };
    median
        .merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
        .into_result()
        .unwrap();
    assert_eq!(out, [2.0, 5.0, -1.0]);
}
