//! The paper optimizers (`optim-research`) and the distributed ones (`optim-distributed`)
//! loaded from their built `.so` give the same bits as the same plugins linked statically.
//!
//! Needs the plugins built first: `cargo xtask test` does it (or `cargo xtask build-plugins`).

use mosaic_abi::{ParamMap, RError, RngSeed, TensorRef};
use mosaic_host::Registry;
use mosaic_optim::problems::Problem;
use mosaic_optim::{Driver, LrSchedule, Param};

fn run(reg: &Registry, name: &str) -> Vec<u32> {
    let problem = Problem::parse("lsq:4x3").unwrap();
    let opt = reg.optimizer(name, &ParamMap::new()).unwrap();
    let mut driver = Driver::new(opt, &[("w", &[4, 3])], 0.01, LrSchedule::Constant)
        .unwrap()
        .with_seed(RngSeed::from_u64(3));
    let mut x = problem.start();
    let mut g = vec![0.0; 12];
    let oracle =
        |t: &[TensorRef<'_>]| -> Result<f64, RError> { Ok(problem.loss(&t[0].to_f32_vec())) };
    for _ in 0..25 {
        if name == "spsa" {
            driver
                .step_with_oracle(
                    &mut [Param {
                        values: &mut x,
                        grads: None,
                    }],
                    &oracle,
                )
                .unwrap();
        } else {
            problem.grad(&x, &mut g);
            driver.step(&mut [Param::new(&mut x, &g)]).unwrap();
        }
    }
    let mut eval = x.clone();
    driver.evaluation_point(&mut [&mut eval]).unwrap();
    x.iter().chain(&eval).map(|v| v.to_bits()).collect()
}

#[test]
fn paper_and_distributed_optimizers_dynamic_equals_static() {
    let mut dynamic = Registry::new();
    dynamic
        .load_dir(&mosaic_testkit::built_plugin_dir())
        .unwrap();
    let mut statik = Registry::new();
    statik
        .add_static(mosaic_plugin_optim_research::plugin_module())
        .unwrap();
    statik
        .add_static(mosaic_plugin_optim_distributed::plugin_module())
        .unwrap();
    for name in [
        "adamp",
        "sgdp",
        "soap",
        "muon",
        "schedulefree_adamw",
        "adam4bit",
        "frugal",
        "spsa",
        "ef21",
        "diloco",
    ] {
        assert_eq!(run(&dynamic, name), run(&statik, name), "{name}");
    }
}
