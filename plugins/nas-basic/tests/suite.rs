//! The testkit's NAS suite on every strategy of this plugin.

#[test]
fn every_strategy_passes_the_nas_suite() {
    let module = mosaic_plugin_nas_basic::plugin_module();
    let reports = mosaic_testkit::nas::check_nas_plugin(module).unwrap();
    assert!(!reports.is_empty());
}

#[test]
fn every_strategy_passes_the_conformance_suite() {
    mosaic_testkit::check_plugin(mosaic_plugin_nas_basic::plugin_module()).unwrap();
}
