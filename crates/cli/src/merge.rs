//! `mosaic merge CONFIG OUT_DIR`: mergekit-compatible merges through merge plugins.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mosaic_abi::Family;
use mosaic_merge::{execute, ExecuteOptions, MergeConfig, Plan, PlanOptions};
use serde_json::json;

use crate::error::ResultExt;
use crate::{output, PluginArgs};

/// Arguments of `mosaic merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The merge configuration, in mergekit's YAML schema. Model paths in it are resolved
    /// relative to the current directory, as mergekit does.
    config: PathBuf,
    /// The output folder: merged safetensors (sharded with an index above the shard limit),
    /// config.json, tokenizer files and the config used. Written to a temporary folder and
    /// renamed on success.
    out_dir: PathBuf,
    #[command(flatten)]
    plugins: PluginArgs,
    /// Worker threads (tensors merged at once); 0 = one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Largest output shard ("5GB" = 5·10⁹ bytes, "2GiB" = 2·2³⁰ bytes).
    #[arg(long, default_value = "5GB")]
    max_shard_size: String,
    /// Seed for randomized methods (DARE, DELLA). The default is fixed, so runs repeat.
    #[arg(long)]
    seed: Option<u64>,
    /// Print the plan (every tensor: method, inputs, resolved parameters) and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replace OUT_DIR if it exists (only after the merge succeeded).
    #[arg(long)]
    overwrite: bool,
    /// Machine-readable output on stdout, no progress bar.
    #[arg(long)]
    pub json: bool,
}

/// Run `mosaic merge`.
pub fn run(args: MergeArgs) -> Result<()> {
    let cfg = MergeConfig::from_file(&args.config)?;
    let reg = args.plugins.registry()?;
    let descriptor = reg.descriptor(Family::Merge, &cfg.merge_method)?.clone();
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let plan = Plan::build(&cfg, &cwd, &descriptor, &PlanOptions { seed: args.seed })?;
    let mut out = output::stdout();
    if args.dry_run {
        if args.json {
            writeln!(out, "{}", plan.to_json())?;
        } else {
            write!(out, "{plan}")?;
        }
        return Ok(());
    }
    let method = reg.merge_method(&cfg.merge_method)?;
    let max_shard_size =
        mosaic_merge::io::parse_size(&args.max_shard_size).option("--max-shard-size")?;
    let show_progress = output::show_progress(args.json);
    let bar = if show_progress {
        let bar = ProgressBar::new(plan.tensors.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} tensors {msg}",
            )
            .expect("valid template"),
        );
        Some(bar)
    } else {
        None
    };
    let started = Instant::now();
    let progress = bar.clone().map(|bar| {
        let f: mosaic_merge::ProgressFn = Arc::new(move |done, _total, bytes| {
            bar.set_position(done as u64);
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{:.1} MB/s", bytes as f64 / secs / 1e6));
        });
        f
    });
    let report = execute(
        &plan,
        &method,
        &args.out_dir,
        &ExecuteOptions {
            threads: args.threads,
            max_shard_size,
            overwrite: args.overwrite,
            progress,
        },
    )?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let doc = json!({
            "method": cfg.merge_method,
            "out_dir": report.out_dir,
            "files": report.files,
            "tensors": report.tensors,
            "bytes": report.bytes,
            "seconds": secs,
            "notes": plan.notes,
        });
        output::json(&mut out, &doc)?;
    } else {
        for note in &plan.notes {
            eprintln!("note: {note}");
        }
        writeln!(
            out,
            "merged {} tensors ({:.1} MB) with `{}` into {} in {:.2}s",
            report.tensors,
            report.bytes as f64 / 1e6,
            cfg.merge_method,
            report.out_dir.display(),
            secs
        )?;
    }
    Ok(())
}
