//! `mosaic dp synth`: Private Evolution on a generated Gaussian mixture, once per ε, with the
//! Fréchet distance of each synthetic set to the private one.

use std::io::Write;

use clap::Args;
use mosaic_abi::{ParamMap, RngSeed};
use mosaic_dp::accounting::FnSource;
use mosaic_dp::noise::Noise;
use mosaic_dp::synth::{
    calibrate_noise_multiplier, frechet_distance, private_evolution, EvolutionConfig,
    GaussianGenerator, GaussianMixture,
};
use mosaic_dp::Accounting;
use serde_json::json;

use crate::error::bad_option;
use crate::output;

/// Arguments of `mosaic dp synth`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// The privacy budgets to run, comma-separated; `inf` runs without noise.
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.1,0.2,0.5,1,inf")]
    epsilon: Vec<f64>,
    /// δ of the (ε, δ) guarantee, in (0, 1).
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// Private points drawn from the mixture.
    #[arg(long, default_value_t = 4000)]
    private: usize,
    /// Dimension of the data.
    #[arg(long, default_value_t = 2)]
    dim: usize,
    /// Mixture components (equal weights), means uniform in [-spread, spread]^dim.
    #[arg(long, default_value_t = 4)]
    components: usize,
    /// Half-width of the box the component means are drawn from.
    #[arg(long, default_value_t = 4.0)]
    spread: f64,
    /// Standard deviation of each component, per coordinate.
    #[arg(long = "component-std", default_value_t = 0.5)]
    component_std: f64,
    /// Synthetic points per generation.
    #[arg(long, default_value_t = 300)]
    population: usize,
    /// Private Evolution iterations (each one Gaussian release, composed by the accountant).
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Variation degree of the first iteration (falls geometrically to --final-variation).
    #[arg(long, default_value_t = 1.0)]
    variation: f64,
    /// Variation degree of the last iteration.
    #[arg(long = "final-variation", default_value_t = 0.1)]
    final_variation: f64,
    /// Subtracted from every noisy vote count (counts below it dropped).
    #[arg(long, default_value_t = 0.0)]
    threshold: f64,
    /// Votes per private point (its nearest candidates); the histogram's sensitivity is √k.
    #[arg(long = "nearest-neighbors", default_value_t = 1)]
    nearest_neighbors: usize,
    /// Runs per ε (different noise, generator and resampling draws); the distance reported
    /// is their mean.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// The accountant that composes the iterations (a loaded accountant plugin).
    #[arg(long, default_value = "rdp")]
    accountant: String,
    /// Seed of the data, the generator and the resampling (public randomness).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// EXPERIMENTS ONLY: a fixed seed for the DP noise, so runs repeat; by default the noise
    /// is seeded from the operating system.
    #[arg(long = "noise-seed")]
    noise_seed: Option<u64>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    plugins: crate::PluginArgs,
}

fn check(args: &SynthArgs) -> anyhow::Result<()> {
    if args.epsilon.is_empty() {
        return Err(bad_option("--epsilon", "give at least one value"));
    }
    if let Some(e) = args.epsilon.iter().find(|e| e.is_nan() || **e <= 0.0) {
        return Err(bad_option(
            "--epsilon",
            format!("every value must be > 0 (or inf), got {e}"),
        ));
    }
    if !(args.delta > 0.0 && args.delta < 1.0) {
        return Err(bad_option(
            "--delta",
            format!("must be in (0, 1), got {}", args.delta),
        ));
    }
    for (name, v, min) in [
        ("--private", args.private, 2),
        ("--dim", args.dim, 1),
        ("--components", args.components, 1),
        ("--population", args.population, 2),
        ("--iterations", args.iterations, 1),
        ("--nearest-neighbors", args.nearest_neighbors, 1),
        ("--repeats", args.repeats, 1),
    ] {
        if v < min {
            return Err(bad_option(name, format!("must be at least {min}, got {v}")));
        }
    }
    if args.nearest_neighbors > args.population {
        return Err(bad_option(
            "--nearest-neighbors",
            format!(
                "must be at most --population ({}), got {}",
                args.population, args.nearest_neighbors
            ),
        ));
    }
    for (name, v) in [
        ("--spread", args.spread),
        ("--variation", args.variation),
        ("--final-variation", args.final_variation),
        ("--threshold", args.threshold),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad_option(
                name,
                format!("must be finite and >= 0, got {v}"),
            ));
        }
    }
    if !(args.component_std.is_finite() && args.component_std > 0.0) {
        return Err(bad_option(
            "--component-std",
            format!("must be finite and > 0, got {}", args.component_std),
        ));
    }
    Ok(())
}

/// One row of the result.
struct Row {
    epsilon: f64,
    noise_multiplier: Option<f64>,
    epsilon_spent: Option<f64>,
    distances: Vec<f64>,
}

impl Row {
    fn mean(&self) -> f64 {
        self.distances.iter().sum::<f64>() / self.distances.len() as f64
    }
}

/// Run `mosaic dp synth`.
pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    check(&args)?;
    let reg = args.plugins.registry()?;
    // An unknown accountant fails here, with the host's error.
    reg.accountant(&args.accountant, &ParamMap::new())?;
    let source = FnSource(|name: &str, p: &ParamMap| reg.accountant(name, p));
    let accounting = Accounting::new(&source).accountant(&args.accountant);

    let seed = RngSeed::from_u64(args.seed);
    let mixture = GaussianMixture::random(
        args.components,
        args.dim,
        args.spread,
        args.component_std,
        seed.derive(0),
    )?;
    let private = mixture.sample(args.private, seed.derive(1));
    // What a perfect generator would score: a fresh sample of the population's size.
    let baseline = frechet_distance(&private, &mixture.sample(args.population, seed.derive(2)))?;
    // The generator's prior: broad, centred on the box the means come from.
    let prior_scale = args.spread.max(args.component_std);

    let progress = output::show_progress(args.json).then(|| {
        let bar = indicatif::ProgressBar::new(args.epsilon.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} epsilon values {msg}")
                .expect("valid template"),
        );
        bar
    });
    let mut rows = Vec::with_capacity(args.epsilon.len());
    let mut initial = f64::NAN;
    for (i, &epsilon) in args.epsilon.iter().enumerate() {
        let calibration = if epsilon.is_infinite() {
            None
        } else {
            Some(calibrate_noise_multiplier(
                &accounting,
                epsilon,
                args.delta,
                args.iterations,
                args.nearest_neighbors,
            )?)
        };
        let mut distances = Vec::with_capacity(args.repeats);
        let mut spent = None;
        for r in 0..args.repeats {
            let run_noise = match (calibration, args.noise_seed) {
                (None, _) => Noise::Off,
                (Some(c), Some(s)) => Noise::gaussian_fixed_seed(
                    c.noise_multiplier,
                    s.wrapping_add((i * args.repeats + r) as u64),
                ),
                (Some(c), None) => Noise::gaussian(c.noise_multiplier),
            };
            let mut config = EvolutionConfig::new(
                args.population,
                args.iterations,
                args.variation,
                args.final_variation,
                run_noise,
            );
            config.threshold = args.threshold;
            config.nearest_neighbors = args.nearest_neighbors;
            config.resampling_seed = seed.derive(1000 + r as u64);
            let mut generator = GaussianGenerator::new(
                vec![0.0; args.dim],
                prior_scale,
                seed.derive(2000 + r as u64),
            )?;
            let evolution = private_evolution(&private, &mut generator, &config, &mut |t, s| {
                if t == 0 && initial.is_nan() {
                    initial = frechet_distance(&private, s).unwrap_or(f64::NAN);
                }
            })?;
            // The composed cost of one run, as the accountant reports it for the run that
            // happened (each run is a separate release of the same budget).
            if calibration.is_some() {
                spent = Some(accounting.epsilon(&evolution.events(), args.delta)?.epsilon);
            }
            distances.push(frechet_distance(&private, &evolution.synthetic)?);
        }
        rows.push(Row {
            epsilon,
            noise_multiplier: calibration.map(|c| c.noise_multiplier),
            epsilon_spent: spent,
            distances,
        });
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    if args.noise_seed.is_some() && !args.json {
        // Notes go to stderr; a failed write there is not the result's problem.
        let _ = writeln!(
            std::io::stderr(),
            "note: --noise-seed fixes the DP noise: an experiment, not a private release"
        );
    }
    let mut out = output::stdout();
    let noise_seed = if args.noise_seed.is_some() {
        "fixed"
    } else {
        "os"
    };
    if args.json {
        let runs: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    // JSON has no infinity: the non-private run has epsilon null.
                    "epsilon": r.epsilon.is_finite().then_some(r.epsilon),
                    "noise_multiplier": r.noise_multiplier,
                    "epsilon_spent": r.epsilon_spent,
                    "frechet_distance": r.mean(),
                    "frechet_distances": r.distances,
                })
            })
            .collect();
        output::json(
            &mut out,
            &json!({
                "runs": runs,
                "delta": args.delta,
                "accountant": args.accountant,
                "iterations": args.iterations,
                "population": args.population,
                "private": args.private,
                "dim": args.dim,
                "components": args.components,
                "initial_distance": initial,
                "baseline_distance": baseline,
                "repeats": args.repeats,
                "noise_seed": noise_seed,
            }),
        )?;
    } else {
        writeln!(
            out,
            "Private Evolution on a mixture of {} Gaussians in R^{}: {} private points, {} synthetic, {} iterations, delta = {} ({} accountant)",
            args.components, args.dim, args.private, args.population, args.iterations, args.delta, args.accountant
        )?;
        writeln!(
            out,
            "{:>10}  {:>16}  {:>16}",
            "epsilon", "noise_multiplier", "frechet_distance"
        )?;
        writeln!(out, "(mean over {} runs per epsilon)", args.repeats)?;
        for r in &rows {
            let z = r
                .noise_multiplier
                .map_or("-".to_string(), |z| format!("{z:.4}"));
            writeln!(out, "{:>10}  {:>16}  {:>16.5}", r.epsilon, z, r.mean())?;
        }
        writeln!(
            out,
            "random start: {initial:.5}; a fresh sample of {} from the mixture: {baseline:.5}",
            args.population
        )?;
    }
    Ok(())
}
