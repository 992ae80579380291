//! Built-in test problems for optimizers (`mosaic optim minimize --problem ...`, the peer
//! fixtures and the convergence tests), defined exactly as `tests/fixtures/optim/problems.py`
//! defines them for PyTorch.
//!
//! - `rosenbrock`: `(1 − x)² + 100 (y − x²)²`, start `(−1.5, 2)`, minimum 0 at `(1, 1)`.
//! - `quadratic:D`: `½ Σᵢ i·xᵢ²` for `i = 1..D`, start all ones, minimum 0 at 0.
//! - `lsq:MxN`: `½‖H W − T‖²_F` over `W ∈ ℝ^{M×N}` (row-major), `H` the `M×M` Hilbert matrix
//!   `Hᵢⱼ = 1/(i+j+1)`, `Tᵢⱼ = cos(i·N + j)` (0-based), start `W = 0`, minimum 0 at `H⁻¹T`.
//! - `logistic`: the mean logistic loss of a linear classifier with bias plus
//!   `½·0.01·‖w‖²` on a generated data set (200 points in 5 dimensions from SplitMix64), start 0.
//!
//! Gradients are computed in `f64` from the `f32` iterate and rounded to `f32` once, in a
//! fixed order; the Python definitions do the same, so both sides feed their optimizers the
//! same gradient bits and only the optimizers' own `f32` arithmetic is compared.

use std::fmt;

use mosaic_abi::{RError, RngSeed, TensorRef};

use crate::{Driver, LrSchedule, OptimError, OptimizerBox, Param, Schedule};

/// Number of points of the `logistic` data set.
pub const LOGISTIC_POINTS: usize = 200;
/// Dimensions of the `logistic` data set.
pub const LOGISTIC_DIM: usize = 5;
/// L2 weight of the `logistic` loss (on the weights, not the bias).
pub const LOGISTIC_L2: f64 = 0.01;

/// A built-in problem.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// The Rosenbrock function in two dimensions.
    Rosenbrock,
    /// `½ Σᵢ i·xᵢ²` in `D` dimensions.
    Quadratic(usize),
    /// Least squares with a Hilbert matrix over an `M×N` matrix.
    Lsq {
        /// Rows of `W` (and size of `H`).
        m: usize,
        /// Columns of `W`.
        n: usize,
    },
    /// Regularised logistic regression on generated data.
    Logistic {
        /// Features, `LOGISTIC_POINTS × LOGISTIC_DIM`, row-major.
        features: Vec<f64>,
        /// Labels in {−1, +1}.
        labels: Vec<f64>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Rosenbrock => f.write_str("rosenbrock"),
            Problem::Quadratic(d) => write!(f, "quadratic:{d}"),
            Problem::Lsq { m, n } => write!(f, "lsq:{m}x{n}"),
            Problem::Logistic { .. } => f.write_str("logistic"),
        }
    }
}

fn bad(spec: &str, why: &str) -> OptimError {
    OptimError::InvalidParameter {
        name: "problem",
        reason: format!("{spec:?}: {why} (problems: rosenbrock, quadratic:D, lsq:MxN, logistic)"),
    }
}

/// SplitMix64, the generator of the `logistic` data set (the same in `problems.py`).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [−1, 1) with 53 bits.
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

impl Problem {
    /// Parse `rosenbrock`, `quadratic:D`, `lsq:MxN` or `logistic`.
    pub fn parse(spec: &str) -> Result<Problem, OptimError> {
        let dim = |s: &str| -> Result<usize, OptimError> {
            match s.parse::<usize>() {
                Ok(d) if (1..=1 << 20).contains(&d) => Ok(d),
                _ => Err(bad(spec, &format!("{s:?} is not a size in 1..=1048576"))),
            }
        };
        match spec.split_once(':') {
            None if spec == "rosenbrock" => Ok(Problem::Rosenbrock),
            None if spec == "logistic" => Ok(Problem::logistic()),
            Some(("quadratic", d)) => Ok(Problem::Quadratic(dim(d)?)),
            Some(("lsq", mn)) => {
                let (m, n) = mn
                    .split_once('x')
                    .ok_or_else(|| bad(spec, "expected lsq:MxN, e.g. lsq:4x3"))?;
                let (m, n) = (dim(m)?, dim(n)?);
                if m > 64 {
                    return Err(bad(spec, "M must be at most 64"));
                }
                Ok(Problem::Lsq { m, n })
            }
            _ => Err(bad(spec, "unknown problem")),
        }
    }

    /// The `logistic` problem: points `x ~ U[−1, 1)^5`, labels `sign(w*·x + 0.5·u)` with
    /// `w* = (1, −2, 0.5, 0, 1.5)`, `u ~ U[−1, 1)`, from SplitMix64 seeded with 42.
    pub fn logistic() -> Problem {
        let planted = [1.0, -2.0, 0.5, 0.0, 1.5];
        let mut rng = SplitMix64(42);
        let mut features = Vec::with_capacity(LOGISTIC_POINTS * LOGISTIC_DIM);
        let mut labels = Vec::with_capacity(LOGISTIC_POINTS);
        for _ in 0..LOGISTIC_POINTS {
            let mut z = 0.0;
            for w in planted {
                let x = rng.uniform();
                features.push(x);
                z += w * x;
            }
            z += 0.5 * rng.uniform();
            labels.push(if z >= 0.0 { 1.0 } else { -1.0 });
        }
        Problem::Logistic { features, labels }
    }

    /// The parameter shape (`[M, N]` for `lsq`: a matrix).
    pub fn shape(&self) -> Vec<u64> {
        match self {
            Problem::Rosenbrock => vec![2],
            Problem::Quadratic(d) => vec![*d as u64],
            Problem::Lsq { m, n } => vec![*m as u64, *n as u64],
            Problem::Logistic { .. } => vec![LOGISTIC_DIM as u64 + 1],
        }
    }

    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.shape().iter().product::<u64>() as usize
    }

    /// The default start.
    pub fn start(&self) -> Vec<f32> {
        match self {
            Problem::Rosenbrock => vec![-1.5, 2.0],
            Problem::Quadratic(d) => vec![1.0; *d],
            _ => vec![0.0; self.dim()],
        }
    }

    fn hilbert(i: usize, j: usize) -> f64 {
        1.0 / (i + j + 1) as f64
    }

    fn target(n: usize, i: usize, j: usize) -> f64 {
        ((i * n + j) as f64).cos()
    }

    /// `H W − T` for `lsq`, row-major (sums over `k` in increasing order).
    fn lsq_residual(m: usize, n: usize, w: &[f32]) -> Vec<f64> {
        let mut r = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for k in 0..m {
                    s += Problem::hilbert(i, k) * f64::from(w[k * n + j]);
                }
                r[i * n + j] = s - Problem::target(n, i, j);
            }
        }
        r
    }

    /// Logistic margins `yᵢ (w·xᵢ + b)`.
    fn margins(features: &[f64], labels: &[f64], x: &[f32]) -> Vec<f64> {
        let d = LOGISTIC_DIM;
        labels
            .iter()
            .enumerate()
            .map(|(i, y)| {
                let mut z = f64::from(x[d]);
                for k in 0..d {
                    z += f64::from(x[k]) * features[i * d + k];
                }
                y * z
            })
            .collect()
    }

    /// The loss at `x`, in `f64`.
    pub fn loss(&self, x: &[f32]) -> f64 {
        let v = |i: usize| f64::from(x[i]);
        match self {
            Problem::Rosenbrock => {
                let (a, b) = (v(0), v(1));
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            }
            Problem::Quadratic(d) => (0..*d).map(|i| 0.5 * (i + 1) as f64 * v(i) * v(i)).sum(),
            Problem::Lsq { m, n } => {
                0.5 * Problem::lsq_residual(*m, *n, x)
                    .iter()
                    .map(|r| r * r)
                    .sum::<f64>()
            }
            Problem::Logistic { features, labels } => {
                let margins = Problem::margins(features, labels, x);
                let data: f64 =
                    margins.iter().map(|z| (-z).exp().ln_1p()).sum::<f64>() / labels.len() as f64;
                let reg: f64 = (0..LOGISTIC_DIM).map(|k| v(k) * v(k)).sum::<f64>();
                data + 0.5 * LOGISTIC_L2 * reg
            }
        }
    }

    /// The gradient at `x`, computed in `f64` and rounded to `f32` into `g`.
    pub fn grad(&self, x: &[f32], g: &mut [f32]) {
        let v = |i: usize| f64::from(x[i]);
        match self {
            Problem::Rosenbrock => {
                let (a, b) = (v(0), v(1));
                let inner = b - a * a;
                g[0] = (-2.0 * (1.0 - a) - 400.0 * a * inner) as f32;
                g[1] = (200.0 * inner) as f32;
            }
            Problem::Quadratic(d) => {
                for (i, gi) in g.iter_mut().enumerate().take(*d) {
                    *gi = ((i + 1) as f64 * v(i)) as f32;
                }
            }
            Problem::Lsq { m, n } => {
                let (m, n) = (*m, *n);
                let r = Problem::lsq_residual(m, n, x);
                for i in 0..m {
                    for j in 0..n {
                        let mut s = 0.0;
                        for k in 0..m {
                            s += Problem::hilbert(k, i) * r[k * n + j];
                        }
                        g[i * n + j] = s as f32;
                    }
                }
            }
            Problem::Logistic { features, labels } => {
                let d = LOGISTIC_DIM;
                let margins = Problem::margins(features, labels, x);
                let mut acc = vec![0.0f64; d + 1];
                for (i, (z, y)) in margins.iter().zip(labels).enumerate() {
                    // d/dz log(1 + e^{-z}) = −1 / (1 + e^{z})
                    let c = -y / (1.0 + z.exp());
                    for k in 0..d {
                        acc[k] += c * features[i * d + k];
                    }
                    acc[d] += c;
                }
                let n = labels.len() as f64;
                for k in 0..d {
                    g[k] = (acc[k] / n + LOGISTIC_L2 * v(k)) as f32;
                }
                g[d] = (acc[d] / n) as f32;
            }
        }
    }

    /// The minimizer in closed form, where there is one: `(1, 1)`, `0`, `H⁻¹T`
    /// (Cholesky in `f64`).
    pub fn minimizer(&self) -> Option<Vec<f64>> {
        match self {
            Problem::Rosenbrock => Some(vec![1.0, 1.0]),
            Problem::Quadratic(d) => Some(vec![0.0; *d]),
            Problem::Lsq { m, n } => {
                let (m, n) = (*m, *n);
                // Cholesky H = L Lᵀ.
                let mut l = vec![0.0f64; m * m];
                for i in 0..m {
                    for j in 0..=i {
                        let mut s = Problem::hilbert(i, j);
                        for k in 0..j {
                            s -= l[i * m + k] * l[j * m + k];
                        }
                        l[i * m + j] = if i == j { s.sqrt() } else { s / l[j * m + j] };
                    }
                }
                let mut w = vec![0.0f64; m * n];
                for j in 0..n {
                    let mut y = vec![0.0f64; m];
                    for i in 0..m {
                        let mut s = Problem::target(n, i, j);
                        for k in 0..i {
                            s -= l[i * m + k] * y[k];
                        }
                        y[i] = s / l[i * m + i];
                    }
                    for i in (0..m).rev() {
                        let mut s = y[i];
                        for k in i + 1..m {
                            s -= l[k * m + i] * w[k * n + j];
                        }
                        w[i * n + j] = s / l[i * m + i];
                    }
                }
                Some(w)
            }
            Problem::Logistic { .. } => None,
        }
    }
}

/// How [`minimize`] runs.
#[derive(Clone, Copy, Debug)]
pub struct MinimizeOptions {
    /// Steps to take.
    pub steps: u64,
    /// The base learning rate.
    pub lr: f64,
    /// The schedule.
    pub schedule: Schedule,
    /// The seed of randomized optimizers.
    pub seed: RngSeed,
    /// The optimizer evaluates the loss itself (descriptor tag `zeroth_order`): it gets the
    /// problem's loss as its oracle and no gradients.
    pub zeroth_order: bool,
    /// Keep the iterate every this many steps (and the last); 0 keeps none.
    pub record_every: u64,
}

impl MinimizeOptions {
    /// `steps` steps at a constant `lr`, seed 0, first order, nothing recorded.
    pub fn new(steps: u64, lr: f64) -> MinimizeOptions {
        MinimizeOptions {
            steps,
            lr,
            schedule: LrSchedule::Constant.into(),
            seed: RngSeed::from_u64(0),
            zeroth_order: false,
            record_every: 0,
        }
    }
}

/// What [`minimize`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimized {
    /// The final point: the evaluation point of averaging optimizers (Schedule-Free's `x`,
    /// what PyTorch's `optimizer.eval()` gives), else the last iterate. Row-major.
    pub x: Vec<f32>,
    /// The loss at `x`.
    pub loss: f64,
    /// The loss at the start and after each step (at the evaluation point).
    pub losses: Vec<f64>,
    /// `(step, iterate)` every `record_every` steps and at the last step (training iterates,
    /// as PyTorch's `param` holds them).
    pub iterates: Vec<(u64, Vec<f32>)>,
}

/// Minimize `problem` from `start` with `optimizer` (one tensor of the problem's shape,
/// named `x`).
pub fn minimize(
    optimizer: OptimizerBox,
    problem: &Problem,
    start: &[f32],
    options: &MinimizeOptions,
) -> Result<Minimized, OptimError> {
    let n = problem.dim();
    if start.len() != n {
        return Err(OptimError::Length {
            what: format!("the start of problem `{problem}`"),
            expected: n,
            got: start.len(),
        });
    }
    let shape = problem.shape();
    let mut driver = Driver::new(optimizer, &[("x", &shape)], options.lr, options.schedule)?
        .with_seed(options.seed);
    let mut x = start.to_vec();
    let mut g = vec![0f32; n];
    let mut eval = vec![0f32; n];
    let mut at_eval = |driver: &mut Driver, x: &[f32]| -> Result<f64, OptimError> {
        eval.copy_from_slice(x);
        driver.evaluation_point(&mut [&mut eval])?;
        Ok(problem.loss(&eval))
    };
    let mut losses = vec![at_eval(&mut driver, &x)?];
    let mut iterates = Vec::new();
    let oracle = |p: &[TensorRef<'_>]| -> Result<f64, RError> {
        let v = p
            .first()
            .and_then(|t| t.as_f32())
            .ok_or_else(|| RError::input("the loss oracle expects one aligned F32 tensor"))?;
        Ok(problem.loss(v))
    };
    for t in 1..=options.steps {
        if options.zeroth_order {
            let mut params = [Param {
                values: &mut x,
                grads: None,
            }];
            driver.step_with_oracle(&mut params, &oracle)?;
        } else {
            problem.grad(&x, &mut g);
            driver.step(&mut [Param::new(&mut x, &g)])?;
        }
        losses.push(at_eval(&mut driver, &x)?);
        let every = options.record_every;
        if every > 0 && (t % every == 0 || t == options.steps) {
            iterates.push((t, x.clone()));
        }
    }
    let mut out = x.clone();
    driver.evaluation_point(&mut [&mut out])?;
    let loss = problem.loss(&out);
    Ok(Minimized {
        x: out,
        loss,
        losses,
        iterates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_grad(p: &Problem, x: &[f32]) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                let h = 1e-3f32;
                let (mut a, mut b) = (x.to_vec(), x.to_vec());
                a[i] += h;
                b[i] -= h;
                (p.loss(&a) - p.loss(&b)) / f64::from(a[i] - b[i])
            })
            .collect()
    }

    #[test]
    fn gradients_match_finite_differences() {
        for spec in ["rosenbrock", "quadratic:4", "lsq:3x2", "logistic"] {
            let p = Problem::parse(spec).unwrap();
            assert_eq!(p.to_string(), spec);
            let x: Vec<f32> = (0..p.dim()).map(|i| 0.3 - 0.17 * i as f32).collect();
            let mut g = vec![0f32; p.dim()];
            p.grad(&x, &mut g);
            for (a, b) in g.iter().zip(numeric_grad(&p, &x)) {
                assert!(
                    (f64::from(*a) - b).abs() < 1e-3 * (1.0 + b.abs()),
                    "{spec}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn closed_form_minimizers_are_minima() {
        for spec in ["rosenbrock", "quadratic:5", "lsq:4x3"] {
            let p = Problem::parse(spec).unwrap();
            let w = p.minimizer().unwrap();
            let x: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            assert!(p.loss(&x) < 1e-6, "{spec}: {}", p.loss(&x));
        }
        assert_eq!(Problem::parse("lsq:2x3").unwrap().shape(), [2, 3]);
        assert_eq!(Problem::Rosenbrock.start(), [-1.5, 2.0]);
    }

    #[test]
    fn bad_specs_are_named() {
        for spec in ["rosen", "quadratic:0", "quadratic:x", "lsq:3", "lsq:100x2"] {
            let e = Problem::parse(spec).unwrap_err();
            assert!(e.to_string().contains("`problem`"), "{e}");
        }
    }

    #[test]
    fn logistic_data_is_fixed() {
        let Problem::Logistic { features, labels } = Problem::logistic() else {
            unreachable!()
        };
        assert_eq!(features.len(), LOGISTIC_POINTS * LOGISTIC_DIM);
        let positives = labels.iter().filter(|&&y| y > 0.0).count();
        assert!((60..140).contains(&positives), "{positives}");
        // SplitMix64(42)'s first output, as every implementation gives it.
        assert_eq!(SplitMix64(42).next(), 0xBDD7_3226_2FEB_6E95);
    }
}
