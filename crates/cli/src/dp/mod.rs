//! `mosaic dp`: central differential privacy from the command line.
//!
//! - `mosaic dp release`: release numbers through a DP mechanism plugin and state the
//!   guarantee spent ([`release`]).

pub mod release;

use clap::Subcommand;

/// The `mosaic dp` subcommands.
#[derive(Subcommand, Debug)]
pub enum DpCommand {
    /// Release numbers (one per line, or a CSV column) through a DP mechanism and state the
    /// guarantee spent.
    Release(release::ReleaseArgs),
}

impl DpCommand {
    /// Whether the command prints JSON (so its errors are JSON too).
    pub fn json(&self) -> bool {
        match self {
            DpCommand::Release(a) => a.json,
        }
    }
}

/// Run a `mosaic dp` subcommand.
pub fn run(command: DpCommand) -> anyhow::Result<()> {
    match command {
        DpCommand::Release(args) => release::run(args),
    }
}
