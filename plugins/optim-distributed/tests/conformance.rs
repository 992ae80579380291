//! The generic plugin conformance suite (descriptors, construction, malformed input is an
//! error, same seed → same bits) on every optimizer of this plugin.

#[test]
fn conformance() {
    let report =
        mosaic_testkit::check_plugin(mosaic_plugin_optim_distributed::plugin_module()).unwrap();
    assert!(report.checked.len() >= 3, "{report:?}");
}
