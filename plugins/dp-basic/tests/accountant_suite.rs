//! The testkit's accountant suite on `basic`.

#[test]
fn basic_passes_the_accountant_suite() {
    let r = mosaic_testkit::dp_accountant::check(mosaic_plugin_dp_basic::plugin_module(), "basic")
        .unwrap();
    assert_eq!(r.composed, ["pure", "approximate", "laplace"], "{r:?}");
}
