//! The reference trajectories of `tests/fixtures/optim/papers.json` replayed through the
//! plugin ABI (constructor with parameter validation and defaults, host-owned state, the
//! adapter's checks): what `mosaic optim minimize` runs.

use mosaic_abi::{ParamMap, ParamValue};
use mosaic_optim::problems::Problem;
use mosaic_optim::{Driver, LrSchedule, OptimizerBox, Param};
use serde_json::Value;

fn optimizer(name: &str, hyper: &Value) -> (OptimizerBox, f64) {
    let mut params = ParamMap::new();
    let mut lr = None;
    for (k, v) in hyper.as_object().unwrap() {
        let value = match v {
            Value::Bool(b) => ParamValue::Bool(*b),
            Value::Number(n) if n.is_i64() => ParamValue::I64(n.as_i64().unwrap()),
            Value::Number(n) => ParamValue::F64(n.as_f64().unwrap()),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect::<Vec<f64>>()
                .into(),
            other => panic!("unexpected hyper-parameter {k} = {other}"),
        };
        if k == "lr" {
            lr = value.as_f64();
        } else {
            params.insert(k, value);
        }
    }
    let module = mosaic_plugin_optim_research::plugin_module();
    let opt = (module.new_optimizer())(name.into(), &params)
        .into_result()
        .unwrap();
    (opt, lr.expect("every case sets lr"))
}

fn rel(got: &[f32], want: &[f64]) -> f64 {
    let top = want.iter().fold(0.0f64, |a, w| a.max(w.abs()));
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (f64::from(g) - w).abs() / w.abs().max(1e-2 * top))
        .fold(0.0, f64::max)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn reference_trajectories_through_the_abi() {
    let all: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/optim/papers.json")).unwrap();
    for case in all["cases"].as_array().unwrap() {
        let name = case["optimizer"].as_str().unwrap();
        let spec = case["problem"].as_str().unwrap();
        let problem = Problem::parse(spec).unwrap();
        let (opt, lr) = optimizer(name, &case["hyper"]);
        let shape = problem.shape();
        let mut driver = Driver::new(opt, &[("w", &shape)], lr, LrSchedule::Constant).unwrap();
        let mut x = problem.start();
        let mut g = vec![0.0f32; x.len()];
        let (mut dx, mut dl, mut de) = (0.0f64, 0.0f64, 0.0f64);
        let snaps = case["snapshots"].as_array().unwrap();
        let last = snaps.last().unwrap()["step"].as_u64().unwrap();
        let mut next = snaps.iter().peekable();
        for t in 1..=last {
            problem.grad(&x, &mut g);
            driver.step(&mut [Param::new(&mut x, &g)]).unwrap();
            if next.peek().is_some_and(|s| s["step"].as_u64() == Some(t)) {
                let s = next.next().unwrap();
                dx = dx.max(rel(&x, &floats(&s["x"])));
                let want = s["loss"].as_f64().unwrap();
                dl = dl.max((problem.loss(&x) - want).abs() / want.abs());
                let mut eval = x.clone();
                let averaged = driver.evaluation_point(&mut [&mut eval]).unwrap();
                assert_eq!(averaged, name == "schedulefree_adamw", "{name}");
                if averaged {
                    de = de.max(rel(&eval, &floats(&s["eval"])));
                } else {
                    assert_eq!(eval, x);
                }
            }
        }
        eprintln!("{name} on {spec}: iterates {dx:.1e}, losses {dl:.1e}, eval {de:.1e}");
        match name {
            "soap" | "muon" => assert!(dl < 1e-2, "{name} on {spec}: loss {dl:e}"),
            _ => assert!(
                dx < 1e-4 && dl < 1e-4 && de < 1e-4,
                "{name} on {spec}: {dx:e} {dl:e} {de:e}"
            ),
        }
    }
}
