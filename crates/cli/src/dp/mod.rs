//! `mosaic dp`: differential privacy from the command line.
//!
//! - `release`: release numbers through a DP mechanism plugin and state the guarantee spent
//!   ([`release`]).
//! - `epsilon`, `noise-multiplier`, `max-steps`: what a DP-SGD run costs and how to calibrate
//!   it, with any loaded accountant plugin ([`accounting`]).
//! - `synth`: DP synthetic data by Private Evolution on a generated mixture, the Fréchet
//!   distance per ε ([`synth`]).
//! - `train`: DP-SGD on the digits data set, per epoch the loss, accuracy and ε ([`train`]).

mod accounting;
pub mod release;
mod synth;
mod train;

pub use train::demo_row as train_demo_row;

use clap::Subcommand;
use mosaic_dp::DpError;

use crate::error::{Classify, Details, Kind};

/// The `mosaic dp` subcommands.
#[derive(Subcommand, Debug)]
pub enum DpCommand {
    /// Release numbers (one per line, or a CSV column) through a DP mechanism and state the
    /// guarantee spent.
    Release(release::ReleaseArgs),
    /// ε of a DP-SGD run: `steps` Gaussian steps on Poisson samples of rate q.
    Epsilon(accounting::EpsilonArgs),
    /// The smallest noise multiplier whose DP-SGD run meets a target (ε, δ).
    NoiseMultiplier(accounting::NoiseMultiplierArgs),
    /// The largest number of DP-SGD steps a noise multiplier affords within (ε, δ).
    MaxSteps(accounting::MaxStepsArgs),
    /// DP synthetic data: Private Evolution on a generated Gaussian mixture, for each ε the
    /// Fréchet distance between the synthetic and private sets.
    Synth(synth::SynthArgs),
    /// Train a model with DP-SGD (Poisson sampling, per-example clipping, exact Gaussian
    /// noise) on a built-in data set; per epoch the loss, accuracy and ε spent.
    Train(train::TrainArgs),
}

impl DpCommand {
    /// Whether the command prints JSON (so its errors are JSON too).
    pub fn json(&self) -> bool {
        match self {
            DpCommand::Release(a) => a.json,
            DpCommand::Epsilon(a) => a.common.json,
            DpCommand::NoiseMultiplier(a) => a.common.json,
            DpCommand::MaxSteps(a) => a.common.json,
            DpCommand::Synth(a) => a.json,
            DpCommand::Train(a) => a.json,
        }
    }
}

/// Run a `mosaic dp` subcommand.
pub fn run(cmd: DpCommand) -> anyhow::Result<()> {
    match cmd {
        DpCommand::Release(a) => release::run(a),
        DpCommand::Epsilon(a) => accounting::epsilon(a),
        DpCommand::NoiseMultiplier(a) => accounting::noise_multiplier(a),
        DpCommand::MaxSteps(a) => accounting::max_steps(a),
        DpCommand::Synth(a) => synth::run(a),
        DpCommand::Train(a) => train::run(a),
    }
}

impl Classify for DpError {
    fn kind(&self) -> Option<Kind> {
        match self {
            DpError::InvalidParameter { .. } | DpError::InvalidInput { .. } => Some(Kind::Input),
            // A plugin's failure: its RError (the source) decides.
            _ => None,
        }
    }
    fn details(&self) -> Details {
        match self {
            DpError::InvalidParameter { name, .. } => Details {
                parameter: Some(name.clone()),
                ..Details::default()
            },
            _ => Details::default(),
        }
    }
}
