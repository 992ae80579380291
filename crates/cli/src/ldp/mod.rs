//! `mosaic ldp`: local differential privacy from the command line.
//!
//! - `simulate`: a seeded population through an oracle end to end, error against theory;
//! - `perturb`: the client half, values (stdin) → reports (stdout, packed binary or JSON);
//! - `aggregate`: reports → a saved server state;
//! - `estimate`: reports and/or saved states → estimated counts with their variance;
//! - `merge-state`: saved states of several servers → one;
//! - `heavy-hitters`: PEM, TreeHist, TAP on a seeded Zipf population, precision and recall;
//! - `mean`: mean estimation of bounded numbers (Duchi, Piecewise, Hybrid) on a seeded
//!   population, error against theory.
//!
//! Every oracle command takes `--oracle NAME --epsilon E --domain D` and `--param NAME=VALUE`
//! for the oracle's other parameters ([`OracleArgs`]); later commands of the family
//! (`heavy-hitters`, `mean`) add their variants to [`LdpCommand`] and their own files here.

mod client;
mod heavy_hitters;
mod io;
mod mean;
mod server;
mod simulate;

use anyhow::Result;
use clap::{Args, Subcommand};
use mosaic_abi::{Family, ParamKind, ParamMap, ParamValue};
use mosaic_ldp::{LdpError, Oracle};

use crate::error::{bad_option, Classify, Details, Kind};
use crate::PluginArgs;

/// The `mosaic ldp` commands.
#[derive(Subcommand, Debug)]
pub enum LdpCommand {
    /// Draw N values (Zipf or uniform), perturb, aggregate and estimate them; compare the
    /// error with the oracle's theoretical variance and time it.
    Simulate(simulate::SimulateArgs),
    /// Client half: perturb values (integers, whitespace-separated, from stdin or --input)
    /// into a batch of reports (stdout or --output).
    Perturb(client::PerturbArgs),
    /// Server half: aggregate report batches (stdin or --input) into a server state.
    Aggregate(server::AggregateArgs),
    /// Server half: estimate every item's count (or candidates') from report batches and
    /// saved states (stdin or --input), with the variance of each.
    Estimate(server::EstimateArgs),
    /// Merge saved server states of one oracle (files, or stdin) into one state.
    MergeState(server::MergeStateArgs),
    /// Heavy hitters of a seeded Zipf population of B-bit values: PEM, TreeHist or the
    /// federated TAP over several parties; precision and recall of the top K.
    HeavyHitters(heavy_hitters::HeavyHittersArgs),
    /// Mean of bounded numbers: a seeded population of vectors in [-1, 1] through a mean
    /// mechanism (duchi, piecewise, hybrid); error against its theoretical variance.
    Mean(mean::MeanArgs),
}

impl LdpCommand {
    /// Whether the command prints JSON (its error is then JSON too).
    pub fn json(&self) -> bool {
        match self {
            LdpCommand::Simulate(a) => a.json,
            LdpCommand::Perturb(_) | LdpCommand::Aggregate(_) | LdpCommand::MergeState(_) => false,
            LdpCommand::Estimate(a) => a.json,
            LdpCommand::Mean(a) => a.json,
            LdpCommand::HeavyHitters(a) => a.json,
        }
    }
}

/// Run a `mosaic ldp` command.
pub fn run(cmd: LdpCommand) -> Result<()> {
    match cmd {
        LdpCommand::Simulate(a) => simulate::run(a),
        LdpCommand::Perturb(a) => client::run(a),
        LdpCommand::Aggregate(a) => server::aggregate(a),
        LdpCommand::Estimate(a) => server::estimate(a),
        LdpCommand::MergeState(a) => server::merge_state(a),
        LdpCommand::Mean(a) => mean::run(a),
        LdpCommand::HeavyHitters(a) => heavy_hitters::run(a),
    }
}

/// Which oracle, with which parameters: shared by every oracle command of the family.
#[derive(Args, Debug, Clone)]
pub struct OracleArgs {
    /// The frequency oracle, a loaded plugin algorithm (grr, sue, oue, olh, blh, hr, cms,
    /// hcms, rappor).
    #[arg(long)]
    pub oracle: String,
    /// Privacy budget ε of each report (RAPPOR: of its permanent randomized response).
    #[arg(long)]
    pub epsilon: f64,
    /// Domain size D: values are 0..D.
    #[arg(long)]
    pub domain: u64,
    /// Another parameter of the oracle, NAME=VALUE (repeatable): `--param g=8`,
    /// `--param hashes=512`, `--param decode=lasso`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

impl OracleArgs {
    /// The oracle's parameters, typed by its descriptor.
    pub fn param_map(&self, reg: &mosaic_host::Registry) -> Result<ParamMap> {
        let desc = reg.descriptor(Family::LdpOracle, &self.oracle)?;
        let domain = i64::try_from(self.domain)
            .map_err(|_| bad_option("--domain", format!("{} is too large", self.domain)))?;
        let mut p = ParamMap::new()
            .with("epsilon", self.epsilon)
            .with("domain_size", domain);
        for kv in &self.params {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad_option("--param", format!("`{kv}` is not NAME=VALUE")))?;
            let spec = desc
                .params
                .iter()
                .find(|s| s.name.as_str() == k)
                .ok_or_else(|| {
                    let names: Vec<&str> = desc.params.iter().map(|s| s.name.as_str()).collect();
                    bad_option(
                        "--param",
                        format!(
                            "oracle `{}` has no parameter `{k}` (it has {})",
                            self.oracle,
                            names.join(", ")
                        ),
                    )
                })?;
            let bad = |what: &str| bad_option("--param", format!("`{k}`: `{v}` is not {what}"));
            let value = match spec.kind {
                ParamKind::F64 => ParamValue::F64(v.parse().map_err(|_| bad("a number"))?),
                ParamKind::I64 => ParamValue::I64(v.parse().map_err(|_| bad("an integer"))?),
                ParamKind::Bool => ParamValue::Bool(v.parse().map_err(|_| bad("true or false"))?),
                ParamKind::Str => ParamValue::from(v),
                ParamKind::F64List => ParamValue::from(
                    v.split(',')
                        .map(|x| x.trim().parse::<f64>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| bad("a comma-separated list of numbers"))?,
                ),
            };
            p.insert(k, value);
        }
        Ok(p)
    }

    /// Load the plugins and construct the oracle.
    pub fn oracle(&self) -> Result<Oracle> {
        let reg = self.plugins.registry()?;
        let params = self.param_map(&reg)?;
        Ok(Oracle::new(reg.ldp_oracle(&self.oracle, &params)?)?)
    }
}

impl Classify for LdpError {
    fn kind(&self) -> Option<Kind> {
        match self {
            // The plugin's RError or the io::Error decides.
            LdpError::Oracle { .. } | LdpError::Io(_) => None,
            LdpError::UnknownOracle { .. }
            | LdpError::Mismatch { .. }
            | LdpError::Malformed { .. }
            | LdpError::Json(_)
            | LdpError::Invalid(_) => Some(Kind::Input),
        }
    }
    fn details(&self) -> Details {
        let mut d = Details::default();
        if let LdpError::Oracle { oracle, .. } | LdpError::UnknownOracle { oracle, .. } = self {
            d.algorithm = Some(oracle.clone());
        }
        d
    }
}
