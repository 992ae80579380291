//! `mosaic extract-lora BASE FINETUNED OUT --rank r`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::ProgressBar;
use mosaic_merge::lora::{extract_lora, ExtractOptions};
use mosaic_tensor::DType;

use crate::error::usage;
use crate::output;

/// Arguments of `mosaic extract-lora`.
#[derive(Args, Debug)]
pub struct LoraArgs {
    /// The base model folder (Hugging Face layout, safetensors).
    base: PathBuf,
    /// The fine-tuned model folder.
    finetuned: PathBuf,
    /// Output folder for the PEFT adapter (adapter_model.safetensors, adapter_config.json).
    out: PathBuf,
    /// LoRA rank (clamped per tensor to min(out, in)).
    #[arg(long, default_value_t = 32)]
    rank: usize,
    /// Also factor embeddings (PEFT lora_embedding_A/B).
    #[arg(long)]
    include_embeddings: bool,
    /// Also factor lm_head.
    #[arg(long)]
    include_lm_head: bool,
    /// Skip tensors whose delta has a Frobenius norm at most this.
    #[arg(long, default_value_t = 0.0)]
    min_delta_norm: f64,
    /// Put all singular values in lora_B instead of splitting √Σ between A and B.
    #[arg(long)]
    no_distribute_scale: bool,
    /// dtype of the factors (default: each fine-tuned tensor's dtype).
    #[arg(long)]
    dtype: Option<String>,
    /// Replace OUT if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Print the per-tensor report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `mosaic extract-lora`.
pub fn run(args: LoraArgs) -> Result<()> {
    let dtype = match &args.dtype {
        None => None,
        Some(s) => Some(
            DType::parse(s).ok_or_else(|| usage(format!("option --dtype: unknown dtype {s:?}")))?,
        ),
    };
    let opts = ExtractOptions {
        rank: args.rank,
        include_embeddings: args.include_embeddings,
        include_lm_head: args.include_lm_head,
        min_delta_norm: args.min_delta_norm,
        distribute_scale: !args.no_distribute_scale,
        dtype,
        overwrite: args.overwrite,
        ..ExtractOptions::default()
    };
    let bar = output::show_progress(args.json).then(|| ProgressBar::new(0));
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let report = extract_lora(
        &args.base,
        &args.finetuned,
        &args.out,
        &opts,
        Some(&progress),
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut out = output::stdout();
    if args.json {
        output::json(&mut out, &report)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<60} {:>12} {:>5} {:>10} {:>8}",
        "TENSOR", "SHAPE", "RANK", "REL.ERROR", "ENERGY"
    )?;
    for t in &report.tensors {
        writeln!(
            out,
            "{:<60} {:>12} {:>5} {:>10.3e} {:>8.4}",
            t.name,
            format!("{:?}", t.shape),
            t.rank,
            t.rel_error,
            t.energy_kept
        )?;
    }
    writeln!(
        out,
        "{} tensors factored ({} skipped) into {}",
        report.tensors.len(),
        report.skipped.len(),
        report.out_dir.display()
    )?;
    Ok(())
}
