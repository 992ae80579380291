//! `mosaic ldp aggregate`, `estimate` and `merge-state`: the server half as its own programs.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use mosaic_abi::{ParamMap, ParamValue};
use mosaic_ldp::{LdpServer, PostProcess, ServerState};
use serde_json::{json, Map, Value};

use super::io::{binary_format, inputs, label, read_all, read_items, write_output, Item};
use super::OracleArgs;
use crate::error::{bad_option, input, ResultExt};
use crate::output;

fn state_bytes(state: &ServerState, binary: bool) -> Vec<u8> {
    if binary {
        state.to_binary()
    } else {
        let mut s = state.to_json();
        s.push('\n');
        s.into_bytes()
    }
}

/// Feed every batch and state of the inputs to `server`; errors name the input.
fn ingest(server: &mut LdpServer, paths: &[PathBuf]) -> Result<()> {
    for (path, mut r) in inputs(paths)? {
        let what = label(path.as_deref());
        for item in read_items(path.as_deref(), &mut *r)? {
            match item {
                Item::Batch(b) => server.ingest(&b).file(&what)?,
                Item::State(s) => server.merge_saved(s).file(&what)?,
            }
        }
    }
    Ok(())
}

/// Arguments of `mosaic ldp aggregate`.
#[derive(Args, Debug)]
pub struct AggregateArgs {
    #[command(flatten)]
    oracle: OracleArgs,
    /// Read batches (and states to add to) from these files instead of stdin (repeatable).
    #[arg(long = "input", value_name = "FILE")]
    input: Vec<PathBuf>,
    /// Write the state here (temporary name, renamed on success) instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// `binary` or `json`.
    #[arg(long, default_value = "binary")]
    format: String,
}

/// Run `mosaic ldp aggregate`.
pub fn aggregate(args: AggregateArgs) -> Result<()> {
    let binary = binary_format(&args.format)?;
    let mut server = LdpServer::new(args.oracle.oracle()?);
    ingest(&mut server, &args.input)?;
    write_output(args.output.as_deref(), &state_bytes(&server.save(), binary))
}

/// Arguments of `mosaic ldp estimate`.
#[derive(Args, Debug)]
pub struct EstimateArgs {
    #[command(flatten)]
    oracle: OracleArgs,
    /// Read report batches and saved states from these files instead of stdin (repeatable).
    #[arg(long = "input", value_name = "FILE")]
    input: Vec<PathBuf>,
    /// Estimate these items only (comma-separated): for large domains.
    #[arg(long, value_name = "ITEMS", conflicts_with = "candidates_file")]
    candidates: Option<String>,
    /// Estimate the items listed in this file only (whitespace-separated).
    #[arg(long, value_name = "FILE")]
    candidates_file: Option<PathBuf>,
    /// Post-processing: none, clip, norm-sub, base-cut or base-cut:ALPHA.
    #[arg(long, default_value = "none")]
    postprocess: String,
    /// Text output: the TOP items by estimate (0: all).
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Also save the merged server state here.
    #[arg(long, value_name = "FILE")]
    save_state: Option<PathBuf>,
    /// Print JSON: oracle, parameters, reports, and per item the count, the unbiased
    /// estimate and its variance.
    #[arg(long)]
    pub json: bool,
}

fn param_json(p: &ParamMap) -> Value {
    let mut m = Map::new();
    for (k, v) in p.iter() {
        m.insert(
            k.to_string(),
            match v {
                ParamValue::F64(x) => json!(x),
                ParamValue::I64(x) => json!(x),
                ParamValue::Bool(x) => json!(x),
                ParamValue::Str(s) => json!(s.as_str()),
                ParamValue::F64List(x) => json!(x.to_vec()),
            },
        );
    }
    Value::Object(m)
}

fn candidates(args: &EstimateArgs) -> Result<Option<Vec<u64>>> {
    let parse = |tok: &str| -> Result<u64> {
        tok.trim()
            .parse()
            .map_err(|_| input(format!("candidate `{tok}` is not a non-negative integer")))
    };
    if let Some(list) = &args.candidates {
        return list
            .split(',')
            .map(parse)
            .collect::<Result<Vec<_>>>()
            .option("--candidates")
            .map(Some);
    }
    if let Some(path) = &args.candidates_file {
        let text = read_all(
            Some(path),
            &mut std::io::BufReader::new(std::fs::File::open(path).file(path)?),
        )?;
        let text = String::from_utf8_lossy(&text);
        return text
            .split_whitespace()
            .map(parse)
            .collect::<Result<Vec<_>>>()
            .file(path)
            .map(Some);
    }
    Ok(None)
}

/// Run `mosaic ldp estimate`.
pub fn estimate(args: EstimateArgs) -> Result<()> {
    let post = PostProcess::parse(&args.postprocess).map_err(|e| bad_option("--postprocess", e))?;
    let items = candidates(&args)?;
    let mut server = LdpServer::new(args.oracle.oracle()?);
    ingest(&mut server, &args.input)?;
    if let Some(p) = &args.save_state {
        write_output(Some(p), &state_bytes(&server.save(), true))?;
    }
    let est = match &items {
        Some(c) => server.estimate_items(c)?,
        None => server.estimate()?,
    };
    let n = server.report_count() as f64;
    let counts = post.apply(&est.counts, &est.variance, n);
    let mut out = output::stdout();
    if args.json {
        let mut doc = json!({
            "oracle": server.name(),
            "params": param_json(server.params()),
            "reports": server.report_count(),
            "postprocess": args.postprocess,
            "counts": counts,
            "unbiased": est.counts.to_vec(),
            "variance": est.variance.to_vec(),
        });
        if items.is_some() {
            doc["items"] = json!(est.items.to_vec());
        }
        output::json(&mut out, &doc)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: {} reports",
        server.oracle().id(),
        server.report_count()
    )?;
    if post != PostProcess::None {
        writeln!(out, "post-processing: {}", args.postprocess)?;
    }
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[b].total_cmp(&counts[a]).then(a.cmp(&b)));
    let shown = if args.top == 0 {
        order.len()
    } else {
        args.top.min(order.len())
    };
    writeln!(out, "{:>12}  {:>14}  {:>12}", "ITEM", "ESTIMATE", "SD")?;
    for &i in &order[..shown] {
        writeln!(
            out,
            "{:>12}  {:>14.1}  {:>12.1}",
            est.item(i),
            counts[i],
            est.variance[i].sqrt()
        )?;
    }
    Ok(())
}

/// Arguments of `mosaic ldp merge-state`.
#[derive(Args, Debug)]
pub struct MergeStateArgs {
    /// Saved states (binary or JSON) of one oracle with the same parameters; stdin if none.
    files: Vec<PathBuf>,
    /// Write the merged state here (temporary name, renamed on success) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// `binary` or `json`.
    #[arg(long, default_value = "binary")]
    format: String,
}

/// Run `mosaic ldp merge-state`: no plugin is needed, states merge by their own structure.
pub fn merge_state(args: MergeStateArgs) -> Result<()> {
    let binary = binary_format(&args.format)?;
    let mut merged: Option<(mosaic_abi::State, String)> = None;
    for (path, mut r) in inputs(&args.files)? {
        let what = label(path.as_deref());
        for item in read_items(path.as_deref(), &mut *r)? {
            let Item::State(s) = item else {
                return Err(input(
                    "a report batch is not a server state (aggregate it first)",
                ))
                .file(&what);
            };
            let s = s.into_state().file(&what)?;
            match &mut merged {
                None => merged = Some((s, what.clone())),
                Some((m, first)) => m
                    .merge(&s)
                    .map_err(|e| input(format!("{e} (the first state came from {first})")))
                    .file(&what)?,
            }
        }
    }
    let (state, _) = merged.ok_or_else(|| input("no server state to merge"))?;
    write_output(
        args.output.as_deref().map(Path::new),
        &state_bytes(&ServerState::new(state), binary),
    )
}
