//! Property suite for optimizers: what every optimizer plugin (ours or a third party's) must
//! satisfy, run through the ABI with host-owned state (`mosaic-optim`).
//!
//! [`check_optimizer`] checks one algorithm of a plugin:
//! - a learning rate of 0 leaves the parameters unchanged;
//! - a zero gradient, with `weight_decay` and `momentum` set to 0 where declared, leaves them
//!   unchanged (first-order optimizers);
//! - the same seed gives the same bits sequentially and in parallel on 1 and 3 threads, as the
//!   descriptor's tags allow the host to split the work (tensors, chunks);
//! - save → load → continue gives the bits of an uninterrupted run;
//! - a negative learning rate, gradients of the wrong shape and a NaN gradient are errors,
//!   and nothing (parameters, state, counters) changes;
//! - for first-order optimizers, without weight decay, with some learning rate of a small grid
//!   (constant or with a cosine decay to 0), the iterates reach the closed-form minimizer of strongly convex
//!   quadratics (`quadratic:5`, `lsq:2x3`) and of Rosenbrock.
//!
//! [`replay_trajectories`] replays reference trajectories recorded from a peer library (the
//! `tests/fixtures/optim/*.json` format) and reports how far the iterates are.

use std::sync::Arc;

use abi_stable::std_types::{ROption, RSliceMut, RStr};
use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, ParamKind, ParamMap, ParamValue, PluginModRef, RError,
    RngSeed, StateBuffer, TensorMut, TensorRef, TensorStep,
};
use mosaic_optim::problems::{minimize, MinimizeOptions, Problem};
use mosaic_optim::{
    Anneal, Driver, LossFn, LrSchedule, OneCycle, OptimizerBox, OptimizerState, Parallelism, Param,
    Schedule, StepOptions,
};
use serde_json::Value;

/// Which checks to run on one optimizer, and with which hyperparameters.
#[derive(Clone, Debug)]
pub struct OptimProperties {
    /// The algorithm name.
    pub name: String,
    /// Hyperparameters (defaults for the rest).
    pub params: ParamMap,
    /// Check convergence on the quadratics and Rosenbrock (first-order optimizers).
    pub convergence: bool,
    /// Learning rates tried for convergence; one must reach the minimizer on each problem.
    pub lr_grid: Vec<f64>,
    /// Steps of each convergence run on the quadratics (with a cosine decay to 0).
    pub convergence_steps: u64,
    /// Steps of each convergence run on Rosenbrock.
    pub rosenbrock_steps: u64,
    /// Distance to the minimizer (max norm, relative to 1 + its size) that counts as reached
    /// on the quadratics.
    pub quadratic_tolerance: f64,
    /// Distance that counts as reached on Rosenbrock.
    pub rosenbrock_tolerance: f64,
}

impl OptimProperties {
    /// All checks, defaults for every hyperparameter.
    pub fn new(name: &str) -> OptimProperties {
        OptimProperties {
            name: name.into(),
            params: ParamMap::new(),
            convergence: true,
            lr_grid: vec![1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3],
            convergence_steps: 4000,
            rosenbrock_steps: 20_000,
            quadratic_tolerance: 1e-3,
            rosenbrock_tolerance: 2e-2,
        }
    }
}

/// What [`check_optimizer`] found, for a report.
#[derive(Clone, Debug, Default)]
pub struct OptimReport {
    /// Per convergence problem: the learning rate that reached the minimizer and the
    /// distance left.
    pub convergence: Vec<(String, f64, f64)>,
}

fn fail(name: &str, what: impl std::fmt::Display) -> String {
    format!("optimizer `{name}`: {what}")
}

fn descriptor(module: PluginModRef, name: &str) -> Result<AlgorithmDescriptor, String> {
    let info = (module.info())()
        .into_result()
        .map_err(|e| format!("info() failed: {e}"))?;
    info.algorithms
        .iter()
        .find(|a| a.family == Family::Optim && a.name.as_str() == name)
        .cloned()
        .ok_or_else(|| fail(name, "not in this plugin"))
}

fn build(module: PluginModRef, name: &str, params: &ParamMap) -> Result<OptimizerBox, String> {
    (module.new_optimizer())(name.into(), params)
        .into_result()
        .map_err(|e| fail(name, format!("construction failed: {e}")))
}

fn values(n: usize, salt: u64) -> Vec<f32> {
    crate::conformance::values(n, salt as u32)
}

const SHAPES: [&[u64]; 3] = [&[4, 3], &[5], &[300]];

fn tensors() -> Vec<(String, Vec<u64>)> {
    SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("t{i}"), s.to_vec()))
        .collect()
}

/// The loss ½‖x‖² over all tensors, for zeroth-order optimizers.
fn half_sq(p: &[TensorRef<'_>]) -> Result<f64, RError> {
    Ok(p.iter()
        .flat_map(|t| t.to_f32_vec())
        .map(|x| 0.5 * f64::from(x) * f64::from(x))
        .sum())
}

/// A run of `steps` steps on the three tensors: gradients `grad(t, k, x)` (or the oracle
/// ½‖x‖² for zeroth-order optimizers).
struct Runner<'a> {
    zeroth: bool,
    grad: &'a GradFn,
}

/// Gradient of tensor `k` at step `t` and iterate `x`.
type GradFn = dyn Fn(u64, usize, &[f32]) -> Vec<f32>;

impl Runner<'_> {
    fn steps(
        &self,
        driver: &mut Driver,
        p: &mut [Vec<f32>],
        range: std::ops::Range<u64>,
    ) -> Result<(), String> {
        for t in range {
            let g: Vec<Vec<f32>> = p
                .iter()
                .enumerate()
                .map(|(k, v)| (self.grad)(t, k, v))
                .collect();
            let mut ps: Vec<Param<'_>> = p
                .iter_mut()
                .zip(&g)
                .map(|(v, g)| Param {
                    values: v,
                    grads: (!self.zeroth).then_some(g.as_slice()),
                })
                .collect();
            let r = if self.zeroth {
                driver.step_with_oracle(&mut ps, &half_sq)
            } else {
                driver.step(&mut ps)
            };
            r.map_err(|e| format!("step {t} failed: {e}"))?;
        }
        Ok(())
    }
}

fn start() -> Vec<Vec<f32>> {
    SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| values(s.iter().product::<u64>() as usize, 100 + i as u64))
        .collect()
}

fn bits(v: &[Vec<f32>]) -> Vec<u32> {
    v.iter().flatten().map(|x| x.to_bits()).collect()
}

fn driver(opt: OptimizerBox, lr: f64) -> Result<Driver, String> {
    let list = tensors();
    let refs: Vec<(&str, &[u64])> = list
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    Driver::new(opt, &refs, lr, LrSchedule::Constant)
        .map(|d| d.with_seed(RngSeed::from_u64(11)))
        .map_err(|e| format!("driver: {e}"))
}

fn random_grads(t: u64, k: usize, x: &[f32]) -> Vec<f32> {
    // A gradient that depends on the iterate (so state matters) and on the step.
    values(x.len(), t * 7 + k as u64)
        .iter()
        .zip(x)
        .map(|(r, x)| 0.5 * r + x)
        .collect()
}

/// Run every property of `props` on algorithm `props.name` of `module`.
pub fn check_optimizer(
    module: PluginModRef,
    props: &OptimProperties,
) -> Result<OptimReport, String> {
    let name = props.name.as_str();
    let d = descriptor(module, name)?;
    let zeroth = d.has_tag("zeroth_order");
    let make = |params: &ParamMap| build(module, name, params);
    let runner = Runner {
        zeroth,
        grad: &random_grads,
    };

    // lr = 0 leaves the parameters unchanged.
    let mut d0 = driver(make(&props.params)?, 0.0)?;
    let mut p = start();
    runner
        .steps(&mut d0, &mut p, 1..6)
        .map_err(|e| fail(name, e))?;
    if bits(&p) != bits(&start()) {
        return Err(fail(name, "a learning rate of 0 changed the parameters"));
    }

    // A zero gradient without decay or momentum leaves them unchanged.
    if !zeroth {
        let mut quiet = props.params.clone();
        for spec in d.params.iter() {
            if ["weight_decay", "momentum"].contains(&spec.name.as_str())
                && spec.kind == ParamKind::F64
            {
                quiet.insert(spec.name.as_str(), 0.0);
            }
        }
        let zero = Runner {
            zeroth,
            grad: &|_, _, x| vec![0.0; x.len()],
        };
        let mut dz = driver(make(&quiet)?, 0.1)?;
        let mut p = start();
        zero.steps(&mut dz, &mut p, 1..6)
            .map_err(|e| fail(name, e))?;
        if bits(&p) != bits(&start()) {
            return Err(fail(
                name,
                "a zero gradient (no weight decay, no momentum) changed the parameters",
            ));
        }
    }

    // Same seed, same bits: sequential, and in parallel on 1 and 3 threads.
    let par = Parallelism {
        chunk: 64,
        ..Parallelism::of(&d)
    };
    let mut runs = Vec::new();
    for threads in [0usize, 1, 3] {
        let mut dr = driver(make(&props.params)?, 0.01)?;
        if threads > 0 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| e.to_string())?;
            dr = dr.with_parallelism(par, Some(Arc::new(pool)));
        }
        let mut p = start();
        runner
            .steps(&mut dr, &mut p, 1..8)
            .map_err(|e| fail(name, e))?;
        runs.push((bits(&p), dr.state().clone()));
    }
    for (i, r) in runs.iter().enumerate().skip(1) {
        if r.0 != runs[0].0 || r.1 != runs[0].1 {
            return Err(fail(
                name,
                format!(
                    "a parallel step on {} thread(s) gave other bits than a sequential one",
                    [0, 1, 3][i]
                ),
            ));
        }
    }

    // Save, load, continue = uninterrupted.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("state.safetensors");
    let mut a = driver(make(&props.params)?, 0.01)?;
    let mut pa = start();
    runner
        .steps(&mut a, &mut pa, 1..5)
        .map_err(|e| fail(name, e))?;
    a.save(&path)
        .map_err(|e| fail(name, format!("save: {e}")))?;
    let mut b = driver(make(&props.params)?, 0.01)?;
    b.load(&path)
        .map_err(|e| fail(name, format!("load: {e}")))?;
    let mut pb = pa.clone();
    runner
        .steps(&mut a, &mut pa, 5..10)
        .map_err(|e| fail(name, e))?;
    runner
        .steps(&mut b, &mut pb, 5..10)
        .map_err(|e| fail(name, e))?;
    if bits(&pa) != bits(&pb) || a.state() != b.state() {
        return Err(fail(
            name,
            "save, load and continue differs from an uninterrupted run",
        ));
    }

    check_errors(module, &d, &props.params, zeroth)?;

    let mut report = OptimReport::default();
    if props.convergence && !zeroth {
        report.convergence = converge(module, name, props)?;
    }
    Ok(report)
}

/// Negative learning rate, wrong gradient shape, NaN gradient: errors, nothing changed.
fn check_errors(
    module: PluginModRef,
    d: &AlgorithmDescriptor,
    params: &ParamMap,
    zeroth: bool,
) -> Result<(), String> {
    let name = d.name.as_str();
    let opt = build(module, name, params)?;
    let shape: &[u64] = &[4, 3];
    let mut state = OptimizerState::new(&opt, &[("w", shape)]).map_err(|e| fail(name, e))?;
    let mut x = values(12, 1);
    let g = values(12, 2);
    // Warm the state up so that "unchanged" is about more than zeros.
    for _ in 0..2 {
        let mut ps = [Param {
            values: &mut x,
            grads: (!zeroth).then_some(g.as_slice()),
        }];
        let options = StepOptions {
            oracle: zeroth.then_some(&half_sq as &LossFn<'_>),
            ..StepOptions::lr(0.01)
        };
        state
            .step(&opt, &mut ps, &options)
            .map_err(|e| fail(name, format!("valid step failed: {e}")))?;
    }
    let (x0, s0) = (x.clone(), state.clone());
    let unchanged = |x: &[f32], s: &OptimizerState, what: &str| -> Result<(), String> {
        if x != x0.as_slice() || *s != s0 {
            return Err(fail(
                name,
                format!("{what} changed the parameters or the state"),
            ));
        }
        Ok(())
    };
    // Negative learning rate.
    let mut ps = [Param {
        values: &mut x,
        grads: (!zeroth).then_some(g.as_slice()),
    }];
    let options = StepOptions {
        oracle: zeroth.then_some(&half_sq as &LossFn<'_>),
        ..StepOptions::lr(-0.01)
    };
    match state.step(&opt, &mut ps, &options) {
        Ok(()) => return Err(fail(name, "accepted a negative learning rate")),
        Err(e) if !e.to_string().contains("`lr`") => {
            return Err(fail(
                name,
                format!("a negative lr gave an error not naming `lr`: {e}"),
            ))
        }
        Err(_) => {}
    }
    unchanged(&x, &state, "a step with a negative learning rate")?;
    if zeroth {
        return Ok(());
    }
    // A NaN gradient.
    let mut bad = g.clone();
    bad[7] = f32::NAN;
    let mut ps = [Param::new(&mut x, &bad)];
    match state.step(&opt, &mut ps, &StepOptions::lr(0.01)) {
        Ok(()) => return Err(fail(name, "accepted a NaN gradient")),
        Err(e) if !e.to_string().contains("element 7") => {
            return Err(fail(
                name,
                format!("a NaN gradient gave an error not naming it: {e}"),
            ))
        }
        Err(_) => {}
    }
    unchanged(&x, &state, "a step with a NaN gradient")?;
    // Gradients of another shape, through a raw call (the host would refuse them earlier).
    let t = &mut state.tensors_mut()[0];
    let spec = t.spec().clone();
    let mut store: Vec<mosaic_tensor::Tensor> = t.buffers().map(|(_, b)| b.clone()).collect();
    let mut scalars: Vec<mosaic_abi::Scalar> = t.scalars().map(|(_, v)| v).collect();
    let mut bufs: Vec<StateBuffer<'_>> = spec
        .buffers
        .iter()
        .zip(store.iter_mut())
        .map(|(b, t)| StateBuffer {
            name: RStr::from_str(b.name.as_str()),
            data: TensorMut::new(t.dtype(), b.shape.as_slice(), t.as_bytes_mut())
                .expect("sizes match"),
        })
        .collect();
    let wrong = values(12, 3);
    let mut xs = x.clone();
    let mut steps = [TensorStep {
        name: "w".into(),
        id: 0,
        offset: 0,
        params: TensorMut::from_f32(shape, &mut xs).expect("sizes match"),
        grads: ROption::RSome(TensorRef::from_f32(&[3, 4], &wrong).expect("sizes match")),
        buffers: RSliceMut::from_mut_slice(&mut bufs),
        scalars: RSliceMut::from_mut_slice(&mut scalars),
        step: 3,
        initialized: true,
    }];
    let call = OptimStep {
        tensors: RSliceMut::from_mut_slice(&mut steps),
        lr: 0.01,
        momentum: ROption::RNone,
        seed: RngSeed::from_u64(1),
        oracle: ROption::RNone,
    };
    if opt.step(call).into_result().is_ok() {
        return Err(fail(
            name,
            "accepted gradients of shape [3, 4] for parameters [4, 3]",
        ));
    }
    if xs != x0 {
        return Err(fail(name, "changed the parameters of a rejected call"));
    }
    Ok(())
}

fn distance(x: &[f32], want: &[f64]) -> f64 {
    let scale = 1.0 + want.iter().fold(0.0f64, |a, w| a.max(w.abs()));
    x.iter()
        .zip(want)
        .map(|(&a, &b)| (f64::from(a) - b).abs())
        .fold(0.0, f64::max)
        / scale
}

/// Convergence to the closed-form minimizers, for some learning rate of the grid.
fn converge(
    module: PluginModRef,
    name: &str,
    props: &OptimProperties,
) -> Result<Vec<(String, f64, f64)>, String> {
    let mut out = Vec::new();
    // Weight decay moves the minimizer: converge without it.
    let d = descriptor(module, name)?;
    let mut params = props.params.clone();
    if d.params
        .iter()
        .any(|p| p.name.as_str() == "weight_decay" && p.kind == ParamKind::F64)
    {
        params.insert("weight_decay", 0.0);
    }
    for (spec, tol, steps) in [
        (
            "quadratic:5",
            props.quadratic_tolerance,
            props.convergence_steps,
        ),
        (
            "lsq:2x3",
            props.quadratic_tolerance,
            props.convergence_steps,
        ),
        (
            "rosenbrock",
            props.rosenbrock_tolerance,
            props.rosenbrock_steps,
        ),
    ] {
        let problem = Problem::parse(spec).expect("built-in problem");
        let want = problem.minimizer().expect("closed form");
        let mut best = (f64::NAN, f64::INFINITY);
        'search: for &lr in &props.lr_grid {
            for schedule in [
                LrSchedule::Cosine {
                    t_max: steps,
                    eta_min: 0.0,
                },
                LrSchedule::Constant,
            ] {
                let options = MinimizeOptions {
                    schedule: schedule.into(),
                    ..MinimizeOptions::new(steps, lr)
                };
                let Ok(found) = minimize(
                    build(module, name, &params)?,
                    &problem,
                    &problem.start(),
                    &options,
                ) else {
                    continue;
                };
                let d = distance(&found.x, &want);
                if d < best.1 {
                    best = (lr, d);
                }
                if d <= tol {
                    break 'search;
                }
            }
        }
        if best.1.is_nan() || best.1 > tol {
            return Err(fail(
                name,
                format!(
                    "did not reach the minimizer of {spec} for any lr of {:?} in {steps} steps \
                     (closest: {:.2e} at lr {})",
                    props.lr_grid, best.1, best.0
                ),
            ));
        }
        out.push((spec.to_string(), best.0, best.1));
    }
    Ok(out)
}

/// How far one replayed reference trajectory is from the recording.
#[derive(Clone, Debug)]
pub struct Deviation {
    /// The optimizer.
    pub optimizer: String,
    /// The problem.
    pub problem: String,
    /// Largest relative difference of an iterate element (relative to the element, at least
    /// 1 % of the iterate's largest element).
    pub iterates: f64,
    /// Largest relative difference of a loss.
    pub losses: f64,
}

fn hyper_to_params(hyper: &Value) -> Result<(ParamMap, f64), String> {
    let mut params = ParamMap::new();
    let mut lr = None;
    for (k, v) in hyper.as_object().ok_or("hyper is not an object")? {
        let value = match v {
            Value::Bool(b) => ParamValue::Bool(*b),
            Value::Number(n) if n.is_i64() => ParamValue::I64(n.as_i64().unwrap_or(0)),
            Value::Number(n) => ParamValue::F64(n.as_f64().unwrap_or(f64::NAN)),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect::<Vec<f64>>()
                .into(),
            Value::String(s) => ParamValue::Str(s.as_str().into()),
            other => return Err(format!("unexpected hyper-parameter {k} = {other}")),
        };
        if k == "lr" {
            lr = value.as_f64();
        } else {
            params.insert(k, value);
        }
    }
    Ok((params, lr.ok_or("every case sets lr")?))
}

fn schedule_of(case: &Value) -> Result<Schedule, String> {
    let s = &case["schedule"];
    let num = |k: &str| s[k].as_f64().ok_or(format!("schedule.{k} missing"));
    let int = |k: &str| s[k].as_u64().ok_or(format!("schedule.{k} missing"));
    Ok(match s["kind"].as_str() {
        None => LrSchedule::Constant.into(),
        Some("one_cycle") => {
            let mut c = OneCycle::new(int("total_steps")?);
            if let Some(p) = s["pct_start"].as_f64() {
                c.pct_start = p;
            }
            if s["anneal"].as_str() == Some("linear") {
                c.anneal = Anneal::Linear;
            }
            LrSchedule::OneCycle(c).into()
        }
        Some("warmup_cosine") => Schedule::warmup(
            int("warmup")?,
            num("start_factor")?,
            LrSchedule::Cosine {
                t_max: int("t_max")?,
                eta_min: num("eta_min")?,
            },
        ),
        Some(other) => return Err(format!("unknown schedule kind {other:?}")),
    })
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn relative(got: &[f32], want: &[f64]) -> f64 {
    let top = want.iter().fold(0.0f64, |a, w| a.max(w.abs()));
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (f64::from(g) - w).abs() / w.abs().max(1e-2 * top).max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max)
}

/// Replay every case of a trajectory fixture (`{"cases": [{"optimizer", "problem", "hyper",
/// "schedule"?, "snapshots": [{"step", "x", "loss"}]}]}`) through `module`'s optimizers with
/// the host's driver, the problem's gradients (`mosaic_optim::problems`) and the recorded
/// hyperparameters, and return each case's deviation.
pub fn replay_trajectories(
    fixture: &Value,
    module: PluginModRef,
) -> Result<Vec<Deviation>, String> {
    let mut out = Vec::new();
    for case in fixture["cases"].as_array().ok_or("no cases")? {
        let name = case["optimizer"].as_str().ok_or("case without optimizer")?;
        let spec = case["problem"].as_str().ok_or("case without problem")?;
        let problem = Problem::parse(spec).map_err(|e| e.to_string())?;
        let (params, lr) = hyper_to_params(&case["hyper"])?;
        let opt = build(module, name, &params)?;
        let shape = problem.shape();
        let mut driver = Driver::new(opt, &[("x", &shape)], lr, schedule_of(case)?)
            .map_err(|e| fail(name, e))?;
        let start = floats(&case["start"]);
        let mut x: Vec<f32> = start.iter().map(|&v| v as f32).collect();
        if x != problem.start() {
            return Err(format!(
                "{name} on {spec}: the recorded start is not the problem's"
            ));
        }
        let mut g = vec![0f32; x.len()];
        let (mut dx, mut dl) = (0.0f64, 0.0f64);
        let snaps = case["snapshots"].as_array().ok_or("no snapshots")?;
        let mut next = snaps.iter().peekable();
        let last = snaps.last().and_then(|s| s["step"].as_u64()).unwrap_or(0);
        for t in 1..=last {
            problem.grad(&x, &mut g);
            driver
                .step(&mut [Param::new(&mut x, &g)])
                .map_err(|e| fail(name, format!("{spec} step {t}: {e}")))?;
            if next.peek().is_some_and(|s| s["step"].as_u64() == Some(t)) {
                let s = next.next().expect("peeked");
                dx = dx.max(relative(&x, &floats(&s["x"])));
                let want = s["loss"].as_f64().unwrap_or(f64::NAN);
                dl = dl.max((problem.loss(&x) - want).abs() / want.abs().max(1e-30));
            }
        }
        out.push(Deviation {
            optimizer: name.to_string(),
            problem: spec.to_string(),
            iterates: dx,
            losses: dl,
        });
    }
    Ok(out)
}
