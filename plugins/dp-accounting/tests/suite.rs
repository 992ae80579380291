//! The testkit's accountant suite and the generic conformance suite on every accountant of
//! this plugin, linked statically.

use mosaic_abi::ParamMap;

#[test]
fn every_accountant_passes_the_accountant_suite() {
    let module = mosaic_plugin_dp_accounting::plugin_module();
    let rdp = mosaic_testkit::dp_accountant::check(module, "rdp").unwrap();
    assert_eq!(rdp.refused, ["approximate", "laplace"], "{rdp:?}");
    // The PLD suite at a coarser grid keeps the test quick; the default is checked against
    // dp-accounting in tests/peers.rs.
    let coarse = ParamMap::new().with("value_discretization_interval", 1e-3);
    let pld = mosaic_testkit::dp_accountant::check_with(module, "pld", &coarse).unwrap();
    assert_eq!(pld.refused, ["zcdp", "rdp", "gaussian"], "{pld:?}");
    let zcdp = mosaic_testkit::dp_accountant::check(module, "zcdp").unwrap();
    assert!(zcdp.composed.contains(&"zcdp") && zcdp.refused.contains(&"approximate"));
}

#[test]
fn conforms() {
    mosaic_testkit::check_plugin(mosaic_plugin_dp_accounting::plugin_module()).unwrap();
}
