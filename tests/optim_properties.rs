//! The mosaic-testkit optimizer suite on every optimizer of every optimizer plugin of the
//! workspace, linked statically (the same suite runs on the loaded `.so` files in
//! `plugins_dynamic_vs_static.rs`'s conformance check).

use mosaic_abi::{Family, PluginModRef};
use mosaic_testkit::optim::{check_optimizer, OptimProperties};

fn optimizers(module: PluginModRef) -> Vec<String> {
    let info = (module.info())().into_result().unwrap();
    info.algorithms
        .iter()
        .filter(|a| a.family == Family::Optim)
        .map(|a| a.name.to_string())
        .collect()
}

fn run(module: PluginModRef, adjust: impl Fn(&str, &mut OptimProperties)) {
    let mut failures = Vec::new();
    for name in optimizers(module) {
        let mut props = OptimProperties::new(&name);
        adjust(&name, &mut props);
        match check_optimizer(module, &props) {
            Ok(report) => {
                for (problem, lr, d) in report.convergence {
                    eprintln!("{name:20} {problem:12} lr {lr:<6} distance {d:.1e}");
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn optim_basic() {
    run(mosaic_plugin_optim_basic::plugin_module(), |name, p| {
        if name == "sgd" {
            // Plain gradient descent crawls along Rosenbrock's valley; momentum crosses it.
            p.params = mosaic_abi::ParamMap::new().with("momentum", 0.9);
        }
    });
}

#[test]
fn optim_research() {
    run(mosaic_plugin_optim_research::plugin_module(), |_, _| {});
}

#[test]
fn optim_distributed() {
    run(
        mosaic_plugin_optim_distributed::plugin_module(),
        |name, p| {
            if name == "diloco" {
                // The outer step every 500 inner steps (the paper's H) is rare in these runs.
                p.params = mosaic_abi::ParamMap::new().with("inner_steps", 10i64);
            }
            if name == "ef21" {
                // Top-1 of 6 coordinates per step: error feedback needs more steps than GD.
                p.convergence_steps = 20_000;
            }
        },
    );
}
