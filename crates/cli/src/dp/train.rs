//! `mosaic dp train`: DP-SGD on a built-in data set (scikit-learn's digits) with a small MLP,
//! any loaded optimizer plugin and accountant; per epoch the loss, accuracy and ε spent.

use std::io::Write;

use anyhow::Context;
use clap::{Args, ValueEnum};
use dfdx::prelude::*;
use mosaic_abi::ParamMap;
use mosaic_dp::accounting::FnSource;
use mosaic_dp::train::{
    accuracy, calibrate_noise_multiplier, BatchSampling, DpSgd, DpSgdConfig, EpochReport, Ghost,
    PerExample,
};
use mosaic_dp::Accounting;
use mosaic_optim::dfdx::DfdxOptimizer;
use mosaic_optim::LrSchedule;
use serde_json::json;

use crate::error::{bad_option, Kind, ResultExt};
use crate::output;

/// The `mlp` model: 64 inputs (8×8 pixels), one hidden layer of 64 ReLU units, 10 classes.
type Mlp = (Linear<64, 64>, ReLU, Linear<64, 10>);
const INPUTS: usize = 64;
const CLASSES: usize = 10;

/// How batches are drawn.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Sampling {
    /// Each example joins a batch with probability batch / n (the accountant's assumption).
    Poisson,
    /// A shuffled pass per epoch in batches of --batch (accounted as Poisson, as Opacus does).
    Shuffle,
}

/// How per-example gradients are computed.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Engine {
    /// Ghost norms and ghost clipping (one batched pass).
    Ghost,
    /// One dfdx backward per example (the reference).
    PerExample,
}

/// Arguments of `mosaic dp train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The data set (built in): `digits`.
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// The model: `mlp` (64-64-10, ReLU).
    #[arg(long, default_value = "mlp")]
    model: String,
    /// Epochs (each ≈ n / batch steps).
    #[arg(long, default_value_t = 30)]
    epochs: u64,
    /// The target ε: σ is calibrated so that the run meets (ε, δ); `inf` trains without
    /// privacy (no clipping, no noise) as a baseline.
    #[arg(long)]
    epsilon: f64,
    /// δ of the (ε, δ) guarantee, in (0, 1).
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// Per-example gradient clipping bound C, > 0.
    #[arg(long = "max-grad-norm", default_value_t = 1.0)]
    max_grad_norm: f64,
    /// The (expected) batch size: the sampling rate is batch / n.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Use this noise multiplier instead of calibrating one, and stop training before the
    /// step that would exceed --epsilon.
    #[arg(long = "noise-multiplier")]
    noise_multiplier: Option<f64>,
    /// How batches are drawn.
    #[arg(long, value_enum, default_value = "poisson")]
    sampling: Sampling,
    /// The optimizer (a loaded optimizer plugin).
    #[arg(long, default_value = "sgd")]
    optimizer: String,
    /// The learning rate.
    #[arg(long, default_value_t = 0.25)]
    lr: f64,
    /// The accountant: `rdp` or `pld` (or any loaded accountant plugin).
    #[arg(long, default_value = "rdp")]
    accountant: String,
    /// How per-example gradients are computed.
    #[arg(long, value_enum, default_value = "ghost")]
    engine: Engine,
    /// Fraction of the data held out for the test accuracy.
    #[arg(long = "test-fraction", default_value_t = 0.25)]
    test_fraction: f64,
    /// Seed of the model's initialisation and the train/test split (public randomness; also
    /// of the batch sampling of a non-private run).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// EXPERIMENTS ONLY: a fixed seed for the DP noise and the batch sampling, so runs
    /// repeat; by default both are seeded from the operating system.
    #[arg(long = "noise-seed")]
    noise_seed: Option<u64>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    plugins: crate::PluginArgs,
}

fn check(args: &TrainArgs) -> anyhow::Result<()> {
    if args.model != "mlp" {
        return Err(crate::error::input(format!(
            "unknown model `{}`; available: mlp",
            args.model
        )))
        .option("--model")
        .kind(Kind::Input);
    }
    if args.epochs == 0 {
        return Err(bad_option("--epochs", "must be at least 1, got 0"));
    }
    if args.epsilon.is_nan() || args.epsilon <= 0.0 {
        return Err(bad_option(
            "--epsilon",
            format!("must be > 0 (or inf), got {}", args.epsilon),
        ));
    }
    if !(args.delta > 0.0 && args.delta < 1.0) {
        return Err(bad_option(
            "--delta",
            format!("must be in (0, 1), got {}", args.delta),
        ));
    }
    if args.max_grad_norm.is_nan() || args.max_grad_norm <= 0.0 {
        return Err(bad_option(
            "--max-grad-norm",
            format!("must be > 0, got {}", args.max_grad_norm),
        ));
    }
    if args.batch == 0 {
        return Err(bad_option("--batch", "must be at least 1, got 0"));
    }
    if let Some(s) = args.noise_multiplier {
        if !(s.is_finite() && s > 0.0) {
            return Err(bad_option(
                "--noise-multiplier",
                format!("must be finite and > 0, got {s}"),
            ));
        }
        if args.epsilon.is_infinite() {
            return Err(bad_option(
                "--noise-multiplier",
                "a noise multiplier needs a finite --epsilon (inf trains without noise)",
            ));
        }
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(bad_option(
            "--lr",
            format!("must be finite and > 0, got {}", args.lr),
        ));
    }
    if !(args.test_fraction > 0.0 && args.test_fraction < 1.0) {
        return Err(bad_option(
            "--test-fraction",
            format!("must be in (0, 1), got {}", args.test_fraction),
        ));
    }
    Ok(())
}

fn rows(d: &mosaic_data::Dataset) -> Vec<[f32; INPUTS]> {
    (0..d.len())
        .map(|i| std::array::from_fn(|j| d.row(i)[j]))
        .collect()
}

struct Epoch {
    report: EpochReport,
    test_accuracy: f64,
}

/// Run `mosaic dp train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    check(&args)?;
    let data = mosaic_data::by_name(&args.dataset)
        .kind(Kind::Input)
        .context("--dataset")?;
    if data.dim != INPUTS || data.classes != CLASSES {
        return Err(crate::error::input(format!(
            "data set `{}` has {} features and {} classes; the mlp takes {INPUTS} and {CLASSES}",
            args.dataset, data.dim, data.classes
        )));
    }
    let (train, test) = data
        .split(args.test_fraction, args.seed)
        .kind(Kind::Input)?;
    let (x, y) = (rows(&train), train.labels.clone());
    let (xt, yt) = (rows(&test), test.labels.clone());
    let n = x.len();
    if args.batch > n {
        return Err(bad_option(
            "--batch",
            format!(
                "must be at most the training set size {n}, got {}",
                args.batch
            ),
        ));
    }

    let reg = args.plugins.registry()?;
    reg.accountant(&args.accountant, &ParamMap::new())?;
    let source = FnSource(|name: &str, p: &ParamMap| reg.accountant(name, p));
    let accounting = || Accounting::new(&source).accountant(&args.accountant);
    let sampling = match args.sampling {
        Sampling::Poisson => BatchSampling::Poisson {
            sampling_rate: args.batch as f64 / n as f64,
        },
        Sampling::Shuffle => BatchSampling::Shuffle {
            batch_size: args.batch,
        },
    };
    let private = args.epsilon.is_finite();
    let (noise_multiplier, target) = match (private, args.noise_multiplier) {
        (false, _) => (0.0, None),
        (true, Some(s)) => (s, Some(args.epsilon)),
        (true, None) => {
            let cal = calibrate_noise_multiplier(
                &accounting(),
                args.epsilon,
                args.delta,
                sampling,
                n,
                args.epochs,
            )?;
            (cal.noise_multiplier, None)
        }
    };
    let mut config = DpSgdConfig::new(
        sampling,
        if private {
            args.max_grad_norm
        } else {
            f64::INFINITY
        },
        noise_multiplier,
        args.delta,
    );
    config.target_epsilon = target;
    config.noise_seed = args.noise_seed;
    // Batch sampling is part of the privacy argument: OS entropy unless the run is a labelled
    // experiment (--noise-seed fixes both); the non-private baseline follows --seed.
    config.sampling_seed = match (private, args.noise_seed) {
        (false, _) => Some(args.seed),
        (true, Some(s)) => Some(s.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ args.seed),
        (true, None) => None,
    };

    let dev = Cpu::seed_from_u64(args.seed);
    let mut model = dev.build_module::<Mlp, f32>();
    let optimizer = reg.optimizer(&args.optimizer, &ParamMap::new())?;
    let optimizer = DfdxOptimizer::new(&model, optimizer, args.lr, LrSchedule::Constant)?;
    let mut trainer = DpSgd::new(config, optimizer, accounting(), n)?;

    let progress = output::show_progress(args.json).then(|| {
        let bar = indicatif::ProgressBar::new(args.epochs);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} epochs {msg}")
                .expect("valid template"),
        );
        bar
    });
    let mut epochs = Vec::new();
    for _ in 0..args.epochs {
        if !trainer.can_step() {
            break;
        }
        let report = match args.engine {
            Engine::Ghost => trainer.epoch::<_, _, INPUTS, CLASSES>(&mut model, &Ghost, &x, &y)?,
            Engine::PerExample => {
                trainer.epoch::<_, _, INPUTS, CLASSES>(&mut model, &PerExample, &x, &y)?
            }
        };
        let test_accuracy = accuracy::<_, INPUTS, CLASSES>(&model, &xt, &yt);
        if let Some(bar) = &progress {
            bar.set_message(format!(
                "loss {:.3}, test accuracy {:.3}, epsilon {:.3}",
                report.loss, test_accuracy, report.epsilon
            ));
            bar.inc(1);
        }
        epochs.push(Epoch {
            report,
            test_accuracy,
        });
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let spent = trainer.epsilon()?;
    let test_accuracy = epochs.last().map_or_else(
        || accuracy::<_, INPUTS, CLASSES>(&model, &xt, &yt),
        |e| e.test_accuracy,
    );

    if args.noise_seed.is_some() && private && !args.json {
        // Notes go to stderr; a failed write there is not the result's problem.
        let _ = writeln!(
            std::io::stderr(),
            "note: --noise-seed fixes the DP noise: an experiment, not a private release"
        );
    }
    let finite = |v: f64| v.is_finite().then_some(v);
    let mut out = output::stdout();
    if args.json {
        let per_epoch: Vec<_> = epochs
            .iter()
            .enumerate()
            .map(|(i, e)| {
                json!({
                    "epoch": i + 1,
                    "steps": e.report.steps,
                    "examples": e.report.examples,
                    "loss": e.report.loss,
                    "train_accuracy": e.report.accuracy,
                    "test_accuracy": e.test_accuracy,
                    "clipped_fraction": e.report.clipped_fraction,
                    // JSON has no infinity: a non-private run has epsilon null.
                    "epsilon": finite(e.report.epsilon),
                })
            })
            .collect();
        output::json(
            &mut out,
            &json!({
                "epsilon": finite(spent),
                "target_epsilon": finite(args.epsilon),
                "delta": args.delta,
                "noise_multiplier": noise_multiplier,
                "max_grad_norm": finite(trainer.config().clipping.sensitivity()),
                "test_accuracy": test_accuracy,
                "epochs": epochs.len(),
                "steps": trainer.steps(),
                "sampling_rate": trainer.sampling_rate(),
                "batch": args.batch,
                "sampling": format!("{:?}", args.sampling).to_lowercase(),
                "dataset": args.dataset,
                "model": args.model,
                "train_examples": n,
                "test_examples": xt.len(),
                "optimizer": args.optimizer,
                "lr": args.lr,
                "accountant": args.accountant,
                "noise_seed": if args.noise_seed.is_some() { "fixed" } else { "os" },
                "per_epoch": per_epoch,
            }),
        )?;
    } else {
        if private {
            writeln!(
                out,
                "DP-SGD on {} ({n} train, {} test), {}: noise multiplier {noise_multiplier:.4}, C = {}, q = {:.5}, delta = {} ({} accountant), {} lr {}",
                args.dataset,
                xt.len(),
                args.model,
                args.max_grad_norm,
                trainer.sampling_rate(),
                args.delta,
                args.accountant,
                args.optimizer,
                args.lr
            )?;
        } else {
            writeln!(
                out,
                "non-private baseline on {} ({n} train, {} test), {}: no clipping, no noise, {} lr {}",
                args.dataset,
                xt.len(),
                args.model,
                args.optimizer,
                args.lr
            )?;
        }
        writeln!(
            out,
            "{:>5}  {:>8}  {:>9}  {:>8}  {:>8}",
            "epoch", "loss", "train_acc", "test_acc", "epsilon"
        )?;
        for (i, e) in epochs.iter().enumerate() {
            writeln!(
                out,
                "{:>5}  {:>8.4}  {:>9.4}  {:>8.4}  {:>8.4}",
                i + 1,
                e.report.loss,
                e.report.accuracy,
                e.test_accuracy,
                e.report.epsilon
            )?;
        }
        if target.is_some() && epochs.len() < args.epochs as usize {
            writeln!(
                out,
                "stopped after {} steps: one more would exceed epsilon {}",
                trainer.steps(),
                args.epsilon
            )?;
        }
        writeln!(
            out,
            "test accuracy {test_accuracy:.4}, epsilon {spent:.4} at delta {}",
            args.delta
        )?;
    }
    Ok(())
}

/// `mosaic demo`'s DP-SGD row: the MLP on digits for 5 epochs at (ε, δ) = (3, 1e-5), σ
/// calibrated, against the same run without privacy (fixed seeds: a reproducible demo, not a
/// private release).
pub fn demo_row(reg: &mosaic_host::Registry) -> anyhow::Result<crate::demo::Row> {
    let (train, test) = mosaic_data::digits().split(0.25, 0)?;
    let (x, y) = (rows(&train), train.labels.clone());
    let (xt, yt) = (rows(&test), test.labels.clone());
    let source = FnSource(|name: &str, p: &ParamMap| reg.accountant(name, p));
    let sampling = BatchSampling::Poisson {
        sampling_rate: 64.0 / x.len() as f64,
    };
    let epochs = 5;
    let sigma = calibrate_noise_multiplier(
        &Accounting::new(&source),
        3.0,
        1e-5,
        sampling,
        x.len(),
        epochs,
    )?
    .noise_multiplier;
    let mut results = Vec::new();
    for (c, s) in [(1.0, sigma), (f64::INFINITY, 0.0)] {
        let mut model = Cpu::seed_from_u64(0).build_module::<Mlp, f32>();
        let opt = reg.optimizer("sgd", &ParamMap::new())?;
        let opt = DfdxOptimizer::new(&model, opt, 0.25, LrSchedule::Constant)?;
        let mut config = DpSgdConfig::new(sampling, c, s, 1e-5);
        config.noise_seed = Some(1);
        config.sampling_seed = Some(0);
        let mut trainer = DpSgd::new(config, opt, Accounting::new(&source), x.len())?;
        for _ in 0..epochs {
            trainer.epoch::<_, _, INPUTS, CLASSES>(&mut model, &Ghost, &x, &y)?;
        }
        results.push((
            trainer.epsilon()?,
            accuracy::<_, INPUTS, CLASSES>(&model, &xt, &yt),
        ));
    }
    Ok(crate::demo::Row::new(
        "dp",
        "dp-sgd (ghost clipping)".into(),
        format!(
            "digits MLP, {epochs} epochs: test accuracy {:.3} at eps {:.2} (sigma {sigma:.3}, C 1, delta 1e-5) vs {:.3} without privacy (fixed noise seed: demo only)",
            results[0].1, results[0].0, results[1].1
        ),
    ))
}
