//! Every optimizer of the plugin, through the ABI and the host driver, converges to the
//! closed-form minimiser of a strongly convex quadratic (`quadratic:5`, minimiser 0) and of
//! Rosenbrock (`(1, 1)`), with a cosine learning-rate decay (constant for Schedule-Free,
//! which is evaluated at its average).

use mosaic_abi::{ParamMap, ParamValue};
use mosaic_optim::problems::Problem;
use mosaic_optim::{Driver, LrSchedule, Param};

fn minimise(
    name: &str,
    params: &[(&str, ParamValue)],
    spec: &str,
    lr: f64,
    steps: u64,
) -> (Vec<f32>, Vec<f64>) {
    let problem = Problem::parse(spec).unwrap();
    let p: ParamMap = params.iter().cloned().collect();
    let module = mosaic_plugin_optim_research::plugin_module();
    let opt = (module.new_optimizer())(name.into(), &p)
        .into_result()
        .unwrap();
    let schedule = if name == "schedulefree_adamw" {
        LrSchedule::Constant
    } else {
        LrSchedule::Cosine {
            t_max: steps,
            eta_min: 0.0,
        }
    };
    let shape = problem.shape();
    let mut driver = Driver::new(opt, &[("x", &shape)], lr, schedule).unwrap();
    let mut x = problem.start();
    let mut g = vec![0.0; x.len()];
    for _ in 0..steps {
        problem.grad(&x, &mut g);
        driver.step(&mut [Param::new(&mut x, &g)]).unwrap();
    }
    driver.evaluation_point(&mut [&mut x]).unwrap();
    (x, problem.minimizer().unwrap())
}

fn assert_near(name: &str, spec: &str, (x, min): (Vec<f32>, Vec<f64>), tol: f64) {
    let err = x
        .iter()
        .zip(&min)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(
        err < tol,
        "{name} on {spec}: {x:?}, minimiser {min:?}, error {err:e}"
    );
}

type Case = (&'static str, Vec<(&'static str, ParamValue)>, f64, u64);

fn cases(spec: &str) -> Vec<Case> {
    let rosen = spec == "rosenbrock";
    vec![
        ("adamp", vec![], 0.05, if rosen { 4000 } else { 1000 }),
        (
            "sgdp",
            vec![("momentum", 0.9.into())],
            if rosen { 5e-4 } else { 0.02 },
            if rosen { 20000 } else { 1000 },
        ),
        (
            "soap",
            vec![
                ("precondition_1d", true.into()),
                ("weight_decay", 0.0.into()),
            ],
            if rosen { 0.02 } else { 0.05 },
            if rosen { 4000 } else { 1000 },
        ),
        (
            "muon",
            vec![],
            if rosen { 0.02 } else { 0.05 },
            if rosen { 6000 } else { 2000 },
        ),
        (
            "schedulefree_adamw",
            vec![],
            if rosen { 0.005 } else { 0.05 },
            if rosen { 20000 } else { 2000 },
        ),
        ("adam4bit", vec![], 0.05, if rosen { 4000 } else { 1000 }),
        (
            "frugal",
            vec![
                ("block_size", 1i64.into()),
                ("density", 0.5.into()),
                ("update_gap", 10i64.into()),
                ("weight_decay", 0.0.into()),
            ],
            if rosen { 0.02 } else { 0.05 },
            if rosen { 20000 } else { 2000 },
        ),
    ]
}

#[test]
fn converges_on_a_strongly_convex_quadratic() {
    for (name, params, lr, steps) in cases("quadratic:5") {
        assert_near(
            name,
            "quadratic:5",
            minimise(name, &params, "quadratic:5", lr, steps),
            1e-3,
        );
    }
}

#[test]
fn converges_on_rosenbrock() {
    for (name, params, lr, steps) in cases("rosenbrock") {
        assert_near(
            name,
            "rosenbrock",
            minimise(name, &params, "rosenbrock", lr, steps),
            2e-2,
        );
    }
}
