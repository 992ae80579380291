//! Test support: the built-in problems (`mosaic_optim::problems`, which
//! `tests/fixtures/optim/problems.py` mirrors bit for bit) and the reference trajectories of
//! `tests/fixtures/optim/papers.json`.

use serde_json::Value;

pub use mosaic_optim::problems::Problem;

/// A built-in problem by name (panics on a bad name: test input).
pub fn problem(spec: &str) -> Problem {
    Problem::parse(spec).expect("a valid problem name")
}

/// One case of `papers.json`.
pub struct Case {
    /// The problem name.
    pub problem: String,
    /// Hyper-parameters as written by the script.
    pub hyper: Value,
    /// Snapshots: (step, iterate, loss, extra fields).
    pub snapshots: Vec<Value>,
}

/// The cases of `papers.json` for one optimizer.
pub fn cases(optimizer: &str) -> Vec<Case> {
    let all: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/optim/papers.json")).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["optimizer"] == optimizer)
        .map(|c| Case {
            problem: c["problem"].as_str().unwrap().to_string(),
            hyper: c["hyper"].clone(),
            snapshots: c["snapshots"].as_array().unwrap().clone(),
        })
        .collect()
}

/// The floats of a JSON array.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The worst relative difference of `got` from `want`, each coordinate measured against
/// `max(|want_i|, 1e-2 · max_j |want_j|)` so coordinates near zero are not over-weighted.
pub fn rel_diff(got: &[f32], want: &[f32]) -> f64 {
    let top = want.iter().fold(0.0f64, |a, &w| a.max(f64::from(w).abs()));
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            let scale = f64::from(w).abs().max(1e-2 * top).max(f64::MIN_POSITIVE);
            (f64::from(g) - f64::from(w)).abs() / scale
        })
        .fold(0.0, f64::max)
}

/// Replay `case`: `step(params, grads, step_number)` performs one optimizer step. Returns
/// the worst relative difference of the iterates and of the losses over the snapshots.
pub fn replay(case: &Case, mut step: impl FnMut(&mut [f32], &[f32], u64)) -> (f64, f64) {
    let problem = problem(&case.problem);
    let mut x = problem.start();
    let mut g = vec![0.0; x.len()];
    let (mut worst_x, mut worst_loss) = (0.0f64, 0.0f64);
    let last = case.snapshots.last().unwrap()["step"].as_u64().unwrap();
    let mut snaps = case.snapshots.iter().peekable();
    for t in 1..=last {
        problem.grad(&x, &mut g);
        step(&mut x, &g, t);
        if snaps.peek().is_some_and(|s| s["step"].as_u64() == Some(t)) {
            let s = snaps.next().unwrap();
            let d = rel_diff(&x, &floats(&s["x"]));
            if std::env::var_os("MOSAIC_TRACE").is_some() {
                eprintln!("step {t}: {d:.2e} {x:?} {:?}", floats(&s["x"]));
            }
            worst_x = worst_x.max(d);
            let want = s["loss"].as_f64().unwrap();
            let got = problem.loss(&x);
            worst_loss = worst_loss.max((got - want).abs() / want.abs().max(1e-30));
        }
    }
    eprintln!(
        "{}: worst iterate difference {worst_x:.2e}, worst loss difference {worst_loss:.2e}",
        case.problem
    );
    (worst_x, worst_loss)
}

/// A hyper-parameter of a case as `f64`, or `default`.
pub fn hyper_f64(case: &Case, name: &str, default: f64) -> f64 {
    case.hyper
        .get(name)
        .and_then(Value::as_f64)
        .unwrap_or(default)
}

/// A boolean hyper-parameter of a case, or `default`.
pub fn hyper_bool(case: &Case, name: &str, default: bool) -> bool {
    case.hyper
        .get(name)
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

/// The `betas` of a case, or `default`.
pub fn hyper_betas(case: &Case, default: (f64, f64)) -> (f64, f64) {
    case.hyper.get("betas").map_or(default, |b| {
        (b[0].as_f64().unwrap(), b[1].as_f64().unwrap())
    })
}
