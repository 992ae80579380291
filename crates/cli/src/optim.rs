//! `mosaic optim minimize` and `mosaic optim compare`: run optimizer plugins in `f32` on the
//! built-in problems (`mosaic_optim::problems`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use mosaic_abi::{AlgorithmDescriptor, Family, ParamKind, ParamMap, ParamValue, RngSeed};
use mosaic_host::Registry;
use mosaic_optim::problems::{minimize, MinimizeOptions, Minimized, Problem};
use mosaic_optim::OptimError;
use serde_json::json;

use crate::error::{bad_option, Classify, Details, Kind, ResultExt};

/// The JSON of `mosaic optim minimize` (`f32` values print in their shortest form).
#[derive(serde::Serialize)]
struct MinimizeJson<'a> {
    optimizer: &'a str,
    problem: String,
    steps: u64,
    lr: f64,
    x: &'a [f32],
    loss: f64,
}

/// One optimizer's row in the JSON of `mosaic optim compare`.
#[derive(serde::Serialize)]
struct CompareRow<'a> {
    optimizer: &'a str,
    lr: f64,
    loss: f64,
    best_loss: f64,
    x: &'a [f32],
    losses: &'a [f64],
}
use crate::output;

/// `mosaic optim ...`.
#[derive(Subcommand, Debug)]
pub enum OptimCommand {
    /// Run one optimizer on a built-in problem and print the final point and loss.
    Minimize(MinimizeArgs),
    /// Run several optimizers (their default hyperparameters) on one problem: a table of
    /// final losses, and with --plot the loss curves.
    Compare(CompareArgs),
}

impl OptimCommand {
    /// Whether the command prints JSON.
    pub fn json(&self) -> bool {
        match self {
            OptimCommand::Minimize(a) => a.json,
            OptimCommand::Compare(a) => a.json,
        }
    }
}

/// Arguments of `mosaic optim minimize`.
#[derive(Args, Debug)]
pub struct MinimizeArgs {
    /// The optimizer (a loaded plugin algorithm: sgd, adam, adamw, ...).
    #[arg(long)]
    optimizer: String,
    /// rosenbrock, quadratic:D, lsq:MxN or logistic.
    #[arg(long)]
    problem: String,
    /// The start, comma-separated, row-major (default: the problem's).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    start: Option<Vec<f32>>,
    /// Steps to take.
    #[arg(long)]
    steps: u64,
    /// Learning rate (default: the optimizer's `lr` default, PyTorch's).
    #[arg(long, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// A hyperparameter by its PyTorch name: `--set betas=0.9,0.99 --set weight_decay=0.01`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Seed of randomized optimizers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON: optimizer, problem, steps, x, loss.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    plugins: crate::PluginArgs,
}

/// Arguments of `mosaic optim compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// rosenbrock, quadratic:D, lsq:MxN or logistic.
    #[arg(long)]
    problem: String,
    /// The optimizers, comma-separated (each at its default hyperparameters and `lr`).
    #[arg(long, value_delimiter = ',', required = true)]
    optimizers: Vec<String>,
    /// Steps to take.
    #[arg(long)]
    steps: u64,
    /// The start, comma-separated, row-major (default: the problem's).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    start: Option<Vec<f32>>,
    /// Seed of randomized optimizers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One learning rate for every optimizer (default: each optimizer's own `lr` default).
    #[arg(long, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Write the loss curves (log scale) to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Print JSON: problem, steps, and per optimizer its lr, final loss, x and losses.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    plugins: crate::PluginArgs,
}

impl Classify for OptimError {
    fn kind(&self) -> Option<Kind> {
        match self {
            // The plugin's error decides (an invalid parameter is input, a panic plugin).
            OptimError::Plugin { .. } => None,
            _ => Some(Kind::Input),
        }
    }

    fn details(&self) -> Details {
        let mut d = Details::default();
        match self {
            OptimError::InvalidParameter { name, .. } => d.parameter = Some(name.to_string()),
            OptimError::Checkpoint { path, .. } => d.file = Some(path.clone()),
            _ => {}
        }
        d
    }
}

/// Run `mosaic optim ...`.
pub fn run(cmd: OptimCommand) -> anyhow::Result<()> {
    match cmd {
        OptimCommand::Minimize(a) => run_minimize(a),
        OptimCommand::Compare(a) => run_compare(a),
    }
}

fn problem_and_start(spec: &str, start: Option<Vec<f32>>) -> anyhow::Result<(Problem, Vec<f32>)> {
    let problem = Problem::parse(spec).map_err(|e| match e {
        OptimError::InvalidParameter { reason, .. } => bad_option("--problem", reason),
        other => other.into(),
    })?;
    let start = match start {
        Some(s) => {
            if s.len() != problem.dim() {
                return Err(bad_option(
                    "--start",
                    format!(
                        "problem `{problem}` has {} parameters (shape {:?}), got {} values",
                        problem.dim(),
                        problem.shape(),
                        s.len()
                    ),
                ));
            }
            if let Some(v) = s.iter().find(|v| !v.is_finite()) {
                return Err(bad_option("--start", format!("{v} is not finite")));
            }
            s
        }
        None => problem.start(),
    };
    Ok((problem, start))
}

/// Parse `key=value` with the kind the descriptor declares for `key` (a list is
/// comma-separated).
fn parse_set(descriptor: &AlgorithmDescriptor, item: &str) -> anyhow::Result<(String, ParamValue)> {
    let (key, text) = item
        .split_once('=')
        .ok_or_else(|| bad_option("--set", format!("expected KEY=VALUE, got {item:?}")))?;
    let spec = descriptor
        .params
        .iter()
        .find(|p| p.name.as_str() == key)
        .ok_or_else(|| {
            let known: Vec<&str> = descriptor.params.iter().map(|p| p.name.as_str()).collect();
            bad_option(
                "--set",
                format!(
                    "`{}` has no parameter `{key}` (known: {})",
                    descriptor.name,
                    known.join(", ")
                ),
            )
        })?;
    let bad = |what: &str| bad_option("--set", format!("{key}={text}: expected {what}"));
    let value = match spec.kind {
        ParamKind::F64 => ParamValue::F64(text.trim().parse().map_err(|_| bad("a number"))?),
        ParamKind::I64 => ParamValue::I64(text.trim().parse().map_err(|_| bad("an integer"))?),
        ParamKind::Bool => ParamValue::Bool(text.trim().parse().map_err(|_| bad("true or false"))?),
        ParamKind::Str => ParamValue::Str(text.into()),
        ParamKind::F64List => ParamValue::F64List(
            text.split(',')
                .map(|v| v.trim().parse::<f64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| bad("comma-separated numbers"))?
                .into(),
        ),
    };
    Ok((key.to_string(), value))
}

/// The descriptor's default `lr`, if it declares one.
fn default_lr(descriptor: &AlgorithmDescriptor) -> Option<f64> {
    descriptor
        .params
        .iter()
        .find(|p| p.name.as_str() == "lr")
        .and_then(|p| p.default.as_ref().into_option())
        .and_then(ParamValue::as_f64)
}

/// One problem run: the problem, its start, steps and seed.
struct Task<'a> {
    problem: &'a Problem,
    start: &'a [f32],
    steps: u64,
    seed: u64,
}

/// Build `name` with `params`, pick the learning rate and run it.
fn run_one(
    reg: &Registry,
    name: &str,
    params: ParamMap,
    lr: Option<f64>,
    task: &Task<'_>,
) -> anyhow::Result<(f64, Minimized)> {
    let Task {
        problem,
        start,
        steps,
        seed,
    } = *task;
    let descriptor = reg.descriptor(Family::Optim, name)?.clone();
    let lr = match lr.or_else(|| params.get("lr").and_then(ParamValue::as_f64)) {
        Some(lr) => lr,
        None => default_lr(&descriptor).ok_or_else(|| {
            bad_option(
                "--lr",
                format!("`{name}` declares no default learning rate: give --lr"),
            )
        })?,
    };
    if !lr.is_finite() || lr < 0.0 {
        return Err(bad_option(
            "--lr",
            format!("must be finite and >= 0, got {lr}"),
        ));
    }
    let optimizer = reg.optimizer(name, &params)?;
    let options = MinimizeOptions {
        seed: RngSeed::from_u64(seed),
        zeroth_order: descriptor.has_tag("zeroth_order"),
        ..MinimizeOptions::new(steps, lr)
    };
    let found = minimize(optimizer, problem, start, &options)
        .with_context(|| format!("optimizer `{name}` on problem `{problem}`"))?;
    Ok((lr, found))
}

fn run_minimize(a: MinimizeArgs) -> anyhow::Result<()> {
    let (problem, start) = problem_and_start(&a.problem, a.start)?;
    let reg = a.plugins.registry()?;
    let descriptor = reg.descriptor(Family::Optim, &a.optimizer)?.clone();
    let mut params = ParamMap::new();
    for item in &a.set {
        let (k, v) = parse_set(&descriptor, item)?;
        params.insert(&k, v);
    }
    if a.lr.is_some() && params.contains("lr") {
        return Err(bad_option("--lr", "given twice (--lr and --set lr=...)"));
    }
    let task = Task {
        problem: &problem,
        start: &start,
        steps: a.steps,
        seed: a.seed,
    };
    let (lr, found) = run_one(&reg, &a.optimizer, params, a.lr, &task)?;
    let mut out = output::stdout();
    if a.json {
        output::json(
            &mut out,
            &MinimizeJson {
                optimizer: &a.optimizer,
                problem: problem.to_string(),
                steps: a.steps,
                lr,
                x: &found.x,
                loss: found.loss,
            },
        )?;
    } else {
        writeln!(
            out,
            "{} on {problem}: {} steps at lr {lr}",
            a.optimizer, a.steps
        )?;
        writeln!(out, "loss {:.6e}", found.loss)?;
        writeln!(out, "x    {:?}", found.x)?;
    }
    Ok(())
}

fn run_compare(a: CompareArgs) -> anyhow::Result<()> {
    let (problem, start) = problem_and_start(&a.problem, a.start)?;
    if let Some(p) = &a.plot {
        if p.extension().and_then(|e| e.to_str()) != Some("svg") {
            return Err(bad_option(
                "--plot",
                format!("{} must end in .svg", p.display()),
            ));
        }
    }
    let reg = a.plugins.registry()?;
    let task = Task {
        problem: &problem,
        start: &start,
        steps: a.steps,
        seed: a.seed,
    };
    let mut rows = Vec::new();
    for name in &a.optimizers {
        let (lr, found) = run_one(&reg, name, ParamMap::new(), a.lr, &task)?;
        rows.push((name.clone(), lr, found));
    }
    if let Some(path) = &a.plot {
        let title = format!("{problem}, {} steps", a.steps);
        let curves: Vec<(&str, &[f64])> = rows
            .iter()
            .map(|(n, _, f)| (n.as_str(), f.losses.as_slice()))
            .collect();
        plot(path, &title, &curves).file(path)?;
    }
    let mut out = output::stdout();
    if a.json {
        let results: Vec<CompareRow<'_>> = rows
            .iter()
            .map(|(n, lr, f)| CompareRow {
                optimizer: n,
                lr: *lr,
                loss: f.loss,
                best_loss: f.losses.iter().copied().fold(f64::INFINITY, f64::min),
                x: &f.x,
                losses: &f.losses,
            })
            .collect();
        output::json(
            &mut out,
            &json!({
                "problem": problem.to_string(),
                "steps": a.steps,
                "results": results,
                "plot": a.plot.as_ref().map(|p| p.display().to_string()),
            }),
        )?;
    } else {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(9).max(9);
        writeln!(out, "{problem}, {} steps from {:?}", a.steps, start)?;
        writeln!(
            out,
            "{:width$}  {:>10}  {:>12}  {:>12}",
            "optimizer", "lr", "final loss", "best loss"
        )?;
        for (n, lr, f) in &rows {
            let best = f.losses.iter().copied().fold(f64::INFINITY, f64::min);
            writeln!(
                out,
                "{n:width$}  {lr:>10.3e}  {:>12.4e}  {best:>12.4e}",
                f.loss
            )?;
        }
        if let Some(p) = &a.plot {
            writeln!(out, "loss curves: {}", p.display())?;
        }
    }
    Ok(())
}

/// Draw loss curves (log scale) to `path`, written under a temporary name and renamed.
fn plot(path: &Path, title: &str, curves: &[(&str, &[f64])]) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let positive = |v: f64| {
        if v.is_finite() && v > 0.0 {
            Some(v)
        } else {
            None
        }
    };
    let all = curves
        .iter()
        .flat_map(|(_, c)| c.iter().copied().filter_map(positive));
    let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo.max(hi * 1e-30), hi)
    } else {
        (1e-12, 1.0)
    };
    let steps = curves
        .iter()
        .map(|(_, c)| c.len())
        .max()
        .unwrap_or(1)
        .max(2)
        - 1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0usize..steps, (lo * 0.5..hi * 2.0).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
        for (i, (name, c)) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points = c
                .iter()
                .enumerate()
                .filter_map(|(t, &v)| positive(v).map(|v| (t, v.max(lo))));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    let tmp = path.with_extension(format!("svg.tmp-{}", std::process::id()));
    std::fs::write(&tmp, svg)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
    Ok(())
}

/// `cargo xtask demo`'s optimizer section: every loaded optimizer on Rosenbrock (1,000 steps)
/// and on the matrix problem `lsq:4x3` (300 steps), at lr 0.02, or a tenth of it (twice at
/// most) where a run fails (plain SGD on Rosenbrock overflows at 0.02), as `(algorithm,
/// result)` rows. An optimizer that still fails shows its error in its row.
pub fn demo_rows(reg: &Registry) -> anyhow::Result<Vec<(String, String)>> {
    let mut rows = Vec::new();
    let names: Vec<String> = reg
        .family(Family::Optim)
        .map(|e| e.descriptor.name.to_string())
        .collect();
    for name in names {
        let mut parts = Vec::new();
        for (spec, steps) in [("rosenbrock", 1000), ("lsq:4x3", 300)] {
            let problem = Problem::parse(spec)?;
            let start = problem.start();
            let task = Task {
                problem: &problem,
                start: &start,
                steps,
                seed: 0,
            };
            let mut result = Err(anyhow::anyhow!("not run"));
            for lr in [0.02, 0.002, 0.0002] {
                result = run_one(reg, &name, ParamMap::new(), Some(lr), &task);
                if result.is_ok() {
                    break;
                }
            }
            parts.push(match result {
                Ok((lr, f)) => format!("{spec} {:.3} -> {:.2e} (lr {lr})", f.losses[0], f.loss),
                Err(e) => format!("{spec}: {}", e.root_cause()),
            });
        }
        rows.push((name, parts.join(", ")));
    }
    Ok(rows)
}
