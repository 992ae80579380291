//! `mosaic ldp simulate`: a seeded population through an oracle, end to end.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use mosaic_ldp::{simulate, Population, RngSeed};
use serde_json::json;

use super::OracleArgs;
use crate::error::{bad_option, ResultExt};
use crate::output;

/// Arguments of `mosaic ldp simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    oracle: OracleArgs,
    /// Users N (one value and one report each).
    #[arg(long)]
    users: u64,
    /// How the users' values are distributed: `zipf:S` (S > 0) or `uniform`.
    #[arg(long, default_value = "zipf:1.1")]
    distribution: String,
    /// Seed of the population and of the perturbation (a simulation is an experiment: it is
    /// reproducible).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Repeat the collection this many times (new perturbation seeds, same population); the
    /// MSE is averaged over the runs.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// Print JSON: oracle, mse, variance, reports_per_second and more.
    #[arg(long)]
    pub json: bool,
}

/// Run `mosaic ldp simulate`.
pub fn run(args: SimulateArgs) -> Result<()> {
    let population = Population::parse(&args.distribution).option("--distribution")?;
    if args.users == 0 {
        return Err(bad_option("--users", "must be at least 1"));
    }
    if args.runs == 0 {
        return Err(bad_option("--runs", "must be at least 1"));
    }
    let oracle = args.oracle.oracle()?;
    let seed = RngSeed::from_u64(args.seed);
    let values = population
        .sample(oracle.domain_size(), args.users, seed.derive(u64::MAX))
        .option("--domain")?;
    let r = simulate(&oracle, &values, args.runs, seed)?;
    let mut out = output::stdout();
    if args.json {
        let mut doc = serde_json::to_value(&r)?;
        doc["epsilon"] = json!(args.oracle.epsilon);
        doc["distribution"] = json!(args.distribution);
        doc["seed"] = json!(args.seed);
        output::json(&mut out, &doc)?;
        return Ok(());
    }
    writeln!(out, "{}", r.oracle_params)?;
    writeln!(
        out,
        "{} users ({}), {} run(s), seed {}",
        r.users, args.distribution, r.runs, args.seed
    )?;
    writeln!(
        out,
        "mse {:.4e}   theoretical variance {:.4e}   ratio {:.4}",
        r.mse, r.variance, r.mse_over_variance
    )?;
    writeln!(
        out,
        "{:.0} reports/s end to end (perturb {:.1} ms, aggregate {:.1} ms, estimate {:.1} ms)",
        r.reports_per_second,
        r.seconds.perturb * 1e3,
        r.seconds.aggregate * 1e3,
        r.seconds.estimate * 1e3
    )?;
    writeln!(
        out,
        "{:>10}  {:>10}  {:>12}  {:>10}",
        "ITEM", "TRUE", "ESTIMATE", "SD"
    )?;
    for t in &r.top {
        writeln!(
            out,
            "{:>10}  {:>10.0}  {:>12.1}  {:>10.1}",
            t.item, t.count, t.estimate, t.sd
        )?;
    }
    Ok(())
}
