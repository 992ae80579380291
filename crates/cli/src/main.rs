//! `mosaic`: the command-line front end of Mosaic.
//!
//! Every algorithm lives in a plugin library; the CLI finds plugins in `--plugin-dir`
//! folders, in `MOSAIC_PLUGIN_PATH`, and in the `plugins` folder next to this executable.
//!
//! Conventions every command follows (docs/cli.md): `run(args) -> anyhow::Result<()>`,
//! stdout written through [`output`] (a closed pipe ends quietly), failures reported once by
//! [`error::finish`] with an exit status per [`error::Kind`], and with `--json` the error as
//! one JSON document on stdout.
// A closed stdout must be an error `main` can end quietly, never a panic.
#![deny(clippy::print_stdout)]

mod demo;
mod dp;
mod error;
mod ldp;
mod lora;
mod merge;
mod nas;
mod optim;
mod output;
mod plugins;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mosaic_host::{Discovery, Registry};

/// Mosaic: merge models, account for privacy, search architectures — every algorithm a plugin.
#[derive(Parser, Debug)]
#[command(name = "mosaic", version, long_about = None, after_help = error::EXIT_STATUS_HELP)]
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
    /// Optimizers: run them on built-in problems (minimize, compare).
    #[command(subcommand)]
    Optim(optim::OptimCommand),
    /// Differential privacy: mechanisms (`mosaic dp release`), accounting and calibration
    /// (`mosaic dp epsilon`, ...).
    #[command(subcommand)]
    Dp(dp::DpCommand),
    /// Local differential privacy: simulate, perturb, aggregate, estimate, merge states.
    #[command(subcommand)]
    Ldp(ldp::LdpCommand),
    /// Neural architecture search on a tabular benchmark: `nas search`, `nas compare`.
    Nas(nas::NasArgs),
    /// Run the first algorithm of each family on generated data and print one line each.
    Demo {
        #[command(flatten)]
        plugins: PluginArgs,
    },
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return error::clap_exit(e, argv.iter().any(|a| a == "--json")),
    };
    // Each arm says whether the command runs in JSON mode (its error is then JSON too).
    let (json, result) = match cli.command {
        Command::Plugins {
            plugins,
            json,
            verbose,
        } => (
            json,
            plugins
                .registry()
                .and_then(|reg| plugins::list(&reg, json, verbose)),
        ),
        Command::Merge(args) => (args.json, merge::run(args)),
        Command::ExtractLora(args) => (args.json, lora::run(args)),
        Command::Optim(cmd) => (cmd.json(), optim::run(cmd)),
        Command::Dp(cmd) => (cmd.json(), dp::run(cmd)),
        Command::Ldp(cmd) => (cmd.json(), ldp::run(cmd)),
        Command::Nas(args) => (args.json(), nas::run(args)),
        Command::Demo { plugins } => (false, plugins.registry().and_then(|reg| demo::run(&reg))),
    };
    error::finish(result, json)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
