//! The classic optimizers against PyTorch: `tests/fixtures/optim/classic.json` (recorded by
//! `classic.py` with torch 2.x and pytorch-optimizer 4.x) replayed through the plugin ABI and
//! the host driver (schedules included), and the optimizer property suite of
//! mosaic-testkit on every algorithm of the plugin.

use mosaic_testkit::optim::{check_optimizer, replay_trajectories, OptimProperties};

#[test]
fn trajectories_match_pytorch_within_1e_4() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/optim/classic.json")).unwrap();
    let module = mosaic_plugin_optim_basic::plugin_module();
    let deviations = replay_trajectories(&fixture, module).unwrap();
    assert_eq!(deviations.len(), 33);
    let mut worst = (0.0f64, 0.0f64);
    for d in &deviations {
        eprintln!(
            "{:8} {:12} iterates {:.1e} losses {:.1e}",
            d.optimizer, d.problem, d.iterates, d.losses
        );
        worst = (worst.0.max(d.iterates), worst.1.max(d.losses));
        assert!(
            d.iterates < 1e-4 && d.losses < 1e-4,
            "{} on {}: iterates {:e}, losses {:e}",
            d.optimizer,
            d.problem,
            d.iterates,
            d.losses
        );
    }
    eprintln!("worst: iterates {:.1e}, losses {:.1e}", worst.0, worst.1);
}

#[test]
fn every_optimizer_passes_the_property_suite() {
    let module = mosaic_plugin_optim_basic::plugin_module();
    for name in ["sgd", "adam", "adamw", "rmsprop", "adagrad", "lion"] {
        let mut props = OptimProperties::new(name);
        if name == "sgd" {
            // Plain gradient descent crawls along Rosenbrock's valley; momentum crosses it.
            props.params = mosaic_abi::ParamMap::new().with("momentum", 0.9);
        }
        let report = check_optimizer(module, &props).unwrap();
        for (problem, lr, d) in report.convergence {
            eprintln!("{name:8} {problem:12} lr {lr:<6} distance {d:.1e}");
        }
    }
}
