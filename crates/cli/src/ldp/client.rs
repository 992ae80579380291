//! `mosaic ldp perturb`: the client half as its own program.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mosaic_ldp::{ReportBatch, RngSeed};

use super::io::{binary_format, inputs, read_values, write_output};
use super::OracleArgs;

/// Arguments of `mosaic ldp perturb`.
#[derive(Args, Debug)]
pub struct PerturbArgs {
    #[command(flatten)]
    oracle: OracleArgs,
    /// Read the values from these files instead of stdin (repeatable; one batch in all).
    #[arg(long = "input", value_name = "FILE")]
    input: Vec<PathBuf>,
    /// Write the batch here (temporary name, renamed on success) instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// `binary` (packed, report_bits per report) or `json`.
    #[arg(long, default_value = "binary")]
    format: String,
    /// A fixed seed, for experiments and tests only: reports are then reproducible (and so
    /// is the noise). Without it the seed comes from the operating system.
    #[arg(long)]
    seed: Option<u64>,
}

/// Run `mosaic ldp perturb`.
pub fn run(args: PerturbArgs) -> Result<()> {
    let json = !binary_format(&args.format)?;
    let oracle = args.oracle.oracle()?;
    let mut values = Vec::new();
    for (path, mut r) in inputs(&args.input)? {
        values.extend(read_values(path.as_deref(), &mut *r, oracle.domain_size())?);
    }
    let seed = args.seed.map_or_else(RngSeed::from_os, RngSeed::from_u64);
    let batch = ReportBatch::new(oracle.perturb(&values, seed)?, &oracle.layout());
    let bytes = if json {
        let mut s = batch.to_json();
        s.push('\n');
        s.into_bytes()
    } else {
        batch.to_binary()
    };
    write_output(args.output.as_deref(), &bytes)
}
