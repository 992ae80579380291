//! `mosaic ldp mean`: mean estimation of bounded numbers on a seeded population, end to end.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use mosaic_abi::ParamMap;
use mosaic_ldp::{simulate_mean, MeanEstimator, RngSeed};
use serde_json::json;

use crate::error::bad_option;
use crate::{output, PluginArgs};

/// Arguments of `mosaic ldp mean`.
#[derive(Args, Debug)]
pub struct MeanArgs {
    /// The mean mechanism, a loaded plugin algorithm: duchi, piecewise or hybrid.
    #[arg(long)]
    mechanism: String,
    /// Privacy budget ε of each user's whole report.
    #[arg(long)]
    epsilon: f64,
    /// Users N (one vector and one report each).
    #[arg(long)]
    users: u64,
    /// Attributes per user, each in [-1, 1].
    #[arg(long, default_value_t = 1)]
    dims: u32,
    /// Attributes each user reports (piecewise, hybrid; 0: the paper's max(1, min(d, ⌊ε/2.5⌋))).
    #[arg(long)]
    k: Option<u32>,
    /// Seed of the population and of the perturbation (a simulation is reproducible).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON: mechanism, mse, variance, reports_per_second, the means.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    plugins: PluginArgs,
}

/// Run `mosaic ldp mean`.
pub fn run(args: MeanArgs) -> Result<()> {
    if args.users == 0 {
        return Err(bad_option("--users", "must be at least 1"));
    }
    let reg = args.plugins.registry()?;
    let mut params = ParamMap::new()
        .with("epsilon", args.epsilon)
        .with("dims", args.dims as i64);
    if let Some(k) = args.k {
        if args.mechanism == "duchi" {
            return Err(bad_option(
                "--k",
                "duchi reports every attribute (its multidimensional form); --k is for piecewise and hybrid",
            ));
        }
        params.insert("k", k as i64);
    }
    let est = MeanEstimator::new(reg.ldp_mean(&args.mechanism, &params)?)?;
    let r = simulate_mean(&est, args.users, RngSeed::from_u64(args.seed))?;
    let mut out = output::stdout();
    if args.json {
        let mut doc = serde_json::to_value(&r)?;
        doc["params"] = serde_json::to_value(
            est.id()
                .params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>(),
        )?;
        doc["seed"] = json!(args.seed);
        output::json(&mut out, &doc)?;
        return Ok(());
    }
    writeln!(out, "{}", est.id())?;
    writeln!(
        out,
        "{} users, {} attribute(s), seed {}",
        r.users, r.dims, args.seed
    )?;
    writeln!(
        out,
        "mse {:.4e}   theoretical variance {:.4e}   ratio {:.4}   (worst case {:.4e})",
        r.mse, r.variance, r.mse_over_variance, r.worst_variance
    )?;
    writeln!(out, "{:.0} reports/s end to end", r.reports_per_second)?;
    writeln!(out, "{:>6}  {:>10}  {:>10}", "ATTR", "TRUE", "ESTIMATE")?;
    for (j, (t, m)) in r.true_means.iter().zip(&r.means).enumerate().take(20) {
        writeln!(out, "{j:>6}  {t:>10.5}  {m:>10.5}")?;
    }
    Ok(())
}
