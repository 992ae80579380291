//! Test support: the built-in problems in `f32` (the formulas of
//! `tests/fixtures/optim/problems.py`, in the same operation order) and the reference
//! trajectories of `tests/fixtures/optim/papers.json`.

use serde_json::Value;

use crate::shared::matrix::{gemm, Op};

/// A built-in problem: `rosenbrock`, `quadratic:D` or `lsq:MxN`.
#[derive(Clone, Debug)]
pub enum Problem {
    /// (1 - x)² + 100 (y - x²)².
    Rosenbrock,
    /// ½ Σ i xᵢ².
    Quadratic(usize),
    /// ½ ‖H W - T‖²_F with the Hilbert matrix H (M × M) and Tᵢⱼ = cos(i N + j).
    Lsq {
        /// Rows of W.
        m: usize,
        /// Columns of W.
        n: usize,
        /// H, row-major.
        h: Vec<f32>,
        /// T, row-major.
        t: Vec<f32>,
    },
}

impl Problem {
    /// Parse a problem name.
    pub fn parse(spec: &str) -> Problem {
        if spec == "rosenbrock" {
            return Problem::Rosenbrock;
        }
        let (kind, arg) = spec.split_once(':').expect("problem:arg");
        match kind {
            "quadratic" => Problem::Quadratic(arg.parse().unwrap()),
            "lsq" => {
                let (m, n) = arg.split_once('x').unwrap();
                let (m, n): (usize, usize) = (m.parse().unwrap(), n.parse().unwrap());
                let h = (0..m * m)
                    .map(|k| (1.0 / ((k / m + k % m + 1) as f64)) as f32)
                    .collect();
                let t = (0..m * n)
                    .map(|k| (((k / n) * n + k % n) as f64).cos() as f32)
                    .collect();
                Problem::Lsq { m, n, h, t }
            }
            _ => panic!("unknown problem {spec}"),
        }
    }

    /// The parameter shape.
    pub fn shape(&self) -> Vec<u64> {
        match self {
            Problem::Rosenbrock => vec![2],
            Problem::Quadratic(d) => vec![*d as u64],
            Problem::Lsq { m, n, .. } => vec![*m as u64, *n as u64],
        }
    }

    /// The default start.
    pub fn start(&self) -> Vec<f32> {
        match self {
            Problem::Rosenbrock => vec![-1.5, 2.0],
            Problem::Quadratic(d) => vec![1.0; *d],
            Problem::Lsq { m, n, .. } => vec![0.0; m * n],
        }
    }

    fn residual(&self, w: &[f32]) -> Vec<f32> {
        let Problem::Lsq { m, n, h, t } = self else {
            unreachable!()
        };
        let mut r = t.clone();
        gemm(&mut r, 1.0, h, (*m, *m, Op::N), w, (*m, *n, Op::N), -1.0);
        r
    }

    /// The loss.
    pub fn loss(&self, x: &[f32]) -> f32 {
        match self {
            Problem::Rosenbrock => {
                let (a, b) = (1.0 - x[0], x[1] - x[0] * x[0]);
                a * a + 100.0 * (b * b)
            }
            Problem::Quadratic(_) => {
                0.5 * x
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i + 1) as f32 * v * v)
                    .sum::<f32>()
            }
            Problem::Lsq { .. } => 0.5 * self.residual(x).iter().map(|r| r * r).sum::<f32>(),
        }
    }

    /// The gradient, written into `g`.
    pub fn grad(&self, x: &[f32], g: &mut [f32]) {
        match self {
            Problem::Rosenbrock => {
                let r = x[1] - x[0] * x[0];
                g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * r;
                g[1] = 200.0 * r;
            }
            Problem::Quadratic(_) => {
                for (i, (gi, xi)) in g.iter_mut().zip(x).enumerate() {
                    *gi = (i + 1) as f32 * xi;
                }
            }
            Problem::Lsq { m, n, h, .. } => {
                let r = self.residual(x);
                gemm(g, 1.0, h, (*m, *m, Op::T), &r, (*m, *n, Op::N), 0.0);
            }
        }
    }
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
    let problem = Problem::parse(&case.problem);
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
            let got = f64::from(problem.loss(&x));
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
