//! The host survives misbehaving plugins and names the file in every loading error.

use abi_stable::std_types::{ROption, RSlice, RStr};
use mosaic_abi::{ErrorKind, MergeCall, ParamMap, RngSeed, TensorMut, TensorRef};
use mosaic_host::{HostError, Registry};

fn faulty_lib() -> std::path::PathBuf {
    mosaic_testkit::built_test_plugin_dir().join(format!(
        "{}mosaic_plugin_test_faulty{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn merge_once(reg: &Registry, panic: bool) -> Result<Vec<f32>, mosaic_abi::RError> {
    let m = reg.merge_method("faulty").unwrap();
    let shape = [4u64];
    let x = [1.0f32, 2.0, 3.0, 4.0];
    let models = [TensorRef::from_f32(&shape, &x).unwrap()];
    let per_model = [ParamMap::new()];
    let global = ParamMap::new().with("panic", panic);
    let mut out = [0f32; 4];
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
    m.merge(call, TensorMut::from_f32(&shape, &mut out).unwrap())
        .into_result()
        .map(|()| out.to_vec())
}

#[test]
fn a_panic_in_a_plugin_is_an_error_and_the_host_goes_on() {
    let mut reg = Registry::new();
    reg.load_file(&faulty_lib()).unwrap();
    let err = merge_once(&reg, true).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Panic);
    assert!(err.message().contains("deliberate panic"), "{err}");
    // The same library keeps working after the caught panic, many times.
    for _ in 0..3 {
        assert_eq!(merge_once(&reg, false).unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert!(merge_once(&reg, true).is_err());
    }
}

#[test]
fn a_plugin_for_another_abi_version_is_refused_naming_the_file() {
    let path = mosaic_testkit::built_test_plugin_dir()
        .join("wrong-abi")
        .join(faulty_lib().file_name().unwrap());
    let err = Registry::new().load_file(&path).unwrap_err();
    assert!(matches!(err, HostError::AbiMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("wrong-abi"), "{msg}");
    assert!(msg.contains("ABI version"), "{msg}");
}

#[test]
fn a_library_that_is_not_a_plugin_is_refused_naming_the_file() {
    let path = mosaic_testkit::built_test_plugin_dir()
        .join("not-a-plugin")
        .join(faulty_lib().file_name().unwrap());
    let err = Registry::new().load_file(&path).unwrap_err();
    assert!(matches!(err, HostError::NotAPlugin { .. }), "{err}");
    assert!(err.to_string().contains("not-a-plugin"), "{err}");
}

#[test]
fn a_file_that_is_not_a_library_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libgarbage.so");
    std::fs::write(&path, b"this is not an ELF file").unwrap();
    let err = Registry::new().load_file(&path).unwrap_err();
    assert!(matches!(err, HostError::NotAPlugin { .. }), "{err}");
    assert!(err.to_string().contains("libgarbage.so"), "{err}");
    // Through a folder as well: load_dir stops at the bad file and names it.
    let err = Registry::new().load_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("libgarbage.so"), "{err}");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let err = Registry::new()
        .load_file(std::path::Path::new("/nonexistent/libnothing.so"))
        .unwrap_err();
    assert!(matches!(err, HostError::MissingFile { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/libnothing.so"),
        "{err}"
    );
}

#[test]
fn a_duplicate_algorithm_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libcopy_of_faulty.so");
    std::fs::copy(faulty_lib(), &copy).unwrap();
    let mut reg = Registry::new();
    reg.load_file(&faulty_lib()).unwrap();
    let err = reg.load_file(&copy).unwrap_err();
    assert!(matches!(err, HostError::Duplicate { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("faulty"), "{msg}");
    assert!(msg.contains("libcopy_of_faulty.so"), "{msg}");
    assert!(msg.contains("test-plugins"), "{msg}");
    // The registry is unchanged by the failed load.
    assert_eq!(reg.plugins().len(), 1);
}

#[test]
fn an_unknown_algorithm_is_a_clear_error() {
    let mut reg = Registry::new();
    reg.load_file(&faulty_lib()).unwrap();
    let err = reg.merge_method("nope").err().unwrap();
    assert!(
        err.to_string().contains("`nope`") && err.to_string().contains("faulty"),
        "{err}"
    );
    let err = reg.optimizer("sgd", &ParamMap::new()).err().unwrap();
    assert!(err.to_string().contains("none"), "{err}");
}

#[test]
fn the_template_plugin_built_out_of_tree_loads() {
    let mut reg = Registry::new();
    reg.load_dir(&mosaic_testkit::built_template_plugin_dir())
        .unwrap();
    let e = reg.get(mosaic_abi::Family::Merge, "median").unwrap();
    assert_eq!(reg.plugin_of(e).name, "template");
    mosaic_testkit::check_plugin(reg.plugins()[0].module()).unwrap();
}
