//! Every DP mechanism, linked statically and loaded from its built `.so`: the mechanism suite
//! passes on the loaded library, and both give the same bits from the same seed.
//!
//! Needs the plugins built first: `cargo xtask test` does it (or `cargo xtask build-plugins`).

use mosaic_abi::{Family, PluginModRef};
use mosaic_host::Registry;
use mosaic_testkit::dp_mechanism::{
    check_mechanism, representative_params, same_bits, sample_input,
};

fn dynamic() -> Registry {
    let mut reg = Registry::new();
    reg.load_dir(&mosaic_testkit::built_plugin_dir()).unwrap();
    reg
}

fn statik() -> Vec<PluginModRef> {
    vec![
        mosaic_plugin_dp_basic::plugin_module(),
        mosaic_plugin_dp_mechanisms::plugin_module(),
    ]
}

#[test]
fn every_mechanism_gives_the_same_bits_statically_and_loaded() {
    let reg = dynamic();
    let mut checked = Vec::new();
    for module in statik() {
        let info = (module.info())().into_result().unwrap();
        for algo in info
            .algorithms
            .iter()
            .filter(|a| a.family == Family::DpMechanism)
        {
            let params = representative_params(algo);
            let name = algo.name.as_str();
            let local = (module.new_mechanism())(name.into(), &params)
                .into_result()
                .unwrap();
            let loaded = reg.mechanism(name, &params).unwrap();
            same_bits(
                &format!("{name}: static vs loaded"),
                &local,
                &loaded,
                &sample_input(algo, &params),
                1.0,
            )
            .unwrap();
            // The suite through the loaded library.
            let entry = reg.descriptor(Family::DpMechanism, name).unwrap().clone();
            let plugin = reg
                .plugins()
                .iter()
                .find(|p| p.name == info.name.as_str())
                .expect("the plugin is loaded");
            check_mechanism(plugin.module(), &entry, &params).unwrap();
            checked.push(name.to_string());
        }
    }
    assert_eq!(checked.len(), 10, "{checked:?}");
}
