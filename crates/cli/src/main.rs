//! `mosaic`: the command-line front end of Mosaic.
//!
//! Every algorithm lives in a plugin library; the CLI finds plugins in `--plugin-dir`
//! folders, in `MOSAIC_PLUGIN_PATH`, and in the `plugins` folder next to this executable.

mod demo;
mod lora;
mod merge;
mod nas;
mod plugins;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mosaic_host::{Discovery, Registry};

/// Mosaic: merge models, account for privacy, search architectures — every algorithm a plugin.
#[derive(Parser, Debug)]
#[command(name = "mosaic", version, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every subcommand that loads plugins.
#[derive(Args, Debug, Clone)]
struct PluginArgs {
    /// Folder with plugin libraries (repeatable). Searched before MOSAIC_PLUGIN_PATH and the
    /// `plugins` folder next to the `mosaic` executable.
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    plugin_dir: Vec<PathBuf>,
}

impl PluginArgs {
    fn registry(&self) -> anyhow::Result<Registry> {
        Ok(Registry::discover(&Discovery::new(
            self.plugin_dir.clone(),
        ))?)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every loaded algorithm: family, name, plugin version and library path.
    Plugins {
        #[command(flatten)]
        plugins: PluginArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also print each algorithm's parameters.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Merge checkpoints as mergekit does: `mosaic merge config.yaml out/`.
    Merge(merge::MergeArgs),
    /// Extract a PEFT LoRA adapter from a fine-tune: truncated SVD of each weight delta.
    ExtractLora(lora::LoraArgs),
    /// Neural architecture search on a tabular benchmark: `nas search`, `nas compare`.
    Nas(nas::NasArgs),
    /// Run the first algorithm of each family on generated data and print one line each.
    Demo {
        #[command(flatten)]
        plugins: PluginArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plugins {
            plugins,
            json,
            verbose,
        } => plugins
            .registry()
            .and_then(|reg| plugins::list(&reg, json, verbose)),
        Command::Merge(args) => merge::run(args),
        Command::ExtractLora(args) => lora::run(args),
        Command::Nas(args) => nas::run(args),
        Command::Demo { plugins } => plugins.registry().and_then(|reg| demo::run(&reg)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether stderr is a terminal (progress bars only then).
pub(crate) fn console_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
