//! The accuracy claim at full size: for every oracle, at d = 1 024, n = 100 000 Zipf(1.1)
//! users and ε ∈ {0.5, 1, 2, 4}, the MSE over 40 seeded runs is within 5 % of the theoretical
//! variance and no item's mean error is significant.
//!
//! Heavy (minutes in release): `cargo xtask bench ldp-accuracy`, or
//! `cargo test --release -p mosaic-ldp --test accuracy -- --ignored --nocapture`.
//! The tolerance cannot flake: `Accuracy::check` first requires 6 standard errors of the MSE
//! ratio (estimated from the runs' own spread) to fit in the 5 %.

use mosaic_ldp::{Oracle, ParamMap, PluginModRef, Population, RngSeed};
use mosaic_testkit::ldp::{accuracy, accuracy_over};

const D: i64 = 1024;
const N: u64 = 100_000;
const RUNS: u32 = 40;

fn run(name: &str, module: PluginModRef, extra: ParamMap, per_run_hashes: bool) {
    let values = Population::Zipf(1.1)
        .sample(D as u64, N, RngSeed::from_u64(2024))
        .unwrap();
    for eps in [0.5, 1.0, 2.0, 4.0] {
        let mut p = extra.clone();
        p.insert("epsilon", eps);
        p.insert("domain_size", D);
        let seed = RngSeed::from_u64(7);
        let acc = if per_run_hashes {
            accuracy_over(
                |r| {
                    let mut q = p.clone();
                    q.insert("hash_seed", r as i64);
                    Oracle::from_module(module, name, &q).unwrap()
                },
                &values,
                RUNS,
                seed,
            )
        } else {
            accuracy(
                &Oracle::from_module(module, name, &p).unwrap(),
                &values,
                RUNS,
                seed,
            )
        }
        .unwrap();
        println!(
            "{name:<7} ε = {eps:<4} mse/variance = {:.4} ± {:.4}   max |bias z| = {:.2}   Σz² = {:.0} (d = {D})",
            1.0 + acc.excess,
            acc.excess_se,
            acc.max_bias_z,
            acc.bias_chi2
        );
        acc.check(0.05)
            .unwrap_or_else(|e| panic!("{name} ε = {eps}: {e}"));
    }
}

fn basic() -> PluginModRef {
    mosaic_plugin_ldp_basic::plugin_module()
}

fn freq() -> PluginModRef {
    mosaic_plugin_ldp_freq::plugin_module()
}

#[test]
#[ignore = "heavy: cargo xtask bench ldp-accuracy"]
fn grr() {
    run("grr", basic(), ParamMap::new(), false);
}

#[test]
#[ignore = "heavy: cargo xtask bench ldp-accuracy"]
fn unary_encodings() {
    run("sue", freq(), ParamMap::new(), false);
    run("oue", freq(), ParamMap::new(), false);
}

#[test]
#[ignore = "heavy: cargo xtask bench ldp-accuracy"]
fn local_hashing() {
    run("olh", freq(), ParamMap::new(), false);
    run("blh", freq(), ParamMap::new(), false);
}

#[test]
#[ignore = "heavy: cargo xtask bench ldp-accuracy"]
fn hadamard_response() {
    run("hr", freq(), ParamMap::new(), false);
}

#[test]
#[ignore = "heavy: cargo xtask bench ldp-accuracy"]
fn sketches() {
    run("cms", freq(), ParamMap::new(), true);
    run("hcms", freq(), ParamMap::new(), true);
}

#[test]
#[ignore = "heavy: cargo xtask bench ldp-accuracy"]
fn rappor() {
    run(
        "rappor",
        mosaic_plugin_ldp_rappor::plugin_module(),
        ParamMap::new(),
        false,
    );
}
