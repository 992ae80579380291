//! The first-order optimizers of the plugin (`ef21`, `diloco`), through the ABI and the host
//! driver, converge to the closed-form minimiser of a strongly convex quadratic
//! (`quadratic:5`, minimiser 0) and of Rosenbrock (`(1, 1)`).

use mosaic_abi::{ParamMap, ParamValue};
use mosaic_optim::problems::Problem;
use mosaic_optim::{Driver, LrSchedule, Param};

fn error(
    name: &str,
    params: &[(&str, ParamValue)],
    spec: &str,
    lr: f64,
    steps: u64,
    cosine: bool,
) -> f64 {
    let problem = Problem::parse(spec).unwrap();
    let p: ParamMap = params.iter().cloned().collect();
    let module = mosaic_plugin_optim_distributed::plugin_module();
    let opt = (module.new_optimizer())(name.into(), &p)
        .into_result()
        .unwrap();
    let schedule = if cosine {
        LrSchedule::Cosine {
            t_max: steps,
            eta_min: 0.0,
        }
    } else {
        LrSchedule::Constant
    };
    let mut driver = Driver::new(opt, &[("x", &problem.shape())], lr, schedule).unwrap();
    let mut x = problem.start();
    let mut g = vec![0.0; x.len()];
    for _ in 0..steps {
        problem.grad(&x, &mut g);
        driver.step(&mut [Param::new(&mut x, &g)]).unwrap();
    }
    let min = problem.minimizer().unwrap();
    x.iter()
        .zip(&min)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn ef21_converges() {
    let top2 = [
        ("compressor", ParamValue::from("top_k")),
        ("density", 0.4.into()),
    ];
    let e = error("ef21", &top2, "quadratic:5", 0.1, 2000, false);
    assert!(e < 1e-3, "quadratic: {e:e}");
    let e = error("ef21", &top2, "rosenbrock", 4e-4, 100_000, false);
    assert!(e < 2e-2, "rosenbrock: {e:e}");
}

#[test]
fn diloco_converges() {
    let p = [
        ("inner_steps", ParamValue::from(10i64)),
        ("weight_decay", 0.0.into()),
    ];
    let e = error("diloco", &p, "quadratic:5", 0.02, 2000, true);
    assert!(e < 1e-3, "quadratic: {e:e}");
    let e = error("diloco", &p, "rosenbrock", 0.01, 6000, true);
    assert!(e < 2e-2, "rosenbrock: {e:e}");
}
