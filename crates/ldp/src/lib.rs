//! Mosaic local differential privacy family: frequency oracles with a client half and a
//! server half.
//!
//! A frequency oracle (an [`FrequencyOracleBox`], built by a plugin such as
//! `mosaic-plugin-ldp-basic`'s `grr`) has two halves that usually live in different programs:
//!
//! - [`LdpClient`] perturbs each user's value into a report and returns a [`ReportBatch`], an
//!   owned batch that serializes to JSON with the oracle's name and parameters;
//! - [`LdpServer`] owns the aggregation state, [ingests](LdpServer::ingest) batches (refusing
//!   one produced by a client with another oracle or other parameters) and
//!   [estimates](LdpServer::estimate) the count of every item with its variance.
//!
//! ```
//! use mosaic_ldp::{LdpClient, LdpServer, ParamMap, ReportBatch, RngSeed};
//!
//! let module = mosaic_plugin_ldp_basic::plugin_module();
//! let params = ParamMap::new().with("epsilon", 2.0).with("domain_size", 4i64);
//! let client = LdpClient::from_module(module, "grr", &params)?;
//! let json = client.perturb(&[0, 1, 1, 3], RngSeed::from_u64(7))?.to_json();
//!
//! let mut server = LdpServer::from_module(module, "grr", &params)?;
//! server.ingest(&ReportBatch::from_json(&json)?)?;
//! let estimate = server.estimate()?;
//! assert_eq!(estimate.counts.len(), 4);
//! # Ok::<(), mosaic_ldp::LdpError>(())
//! ```
#![deny(missing_docs)]

mod batch;
mod client;
mod error;
mod server;

pub use batch::{ParamJson, ReportBatch};
pub use client::LdpClient;
pub use error::{LdpError, Result};
pub use mosaic_abi::family::ldp::*;
pub use mosaic_abi::{ParamMap, ParamValue, PluginModRef, RError, RngSeed};
pub use server::LdpServer;

use mosaic_abi::{Family, ParamScope};

/// Construct oracle `name` from a plugin's root module, and return it with its parameters
/// resolved against the descriptor (defaults filled in), so that a client and a server built
/// from equivalent parameters agree on them.
fn construct(
    module: PluginModRef,
    name: &str,
    params: &ParamMap,
) -> Result<(FrequencyOracleBox, ParamMap)> {
    let oracle_err = |source: RError| LdpError::Oracle {
        oracle: name.to_string(),
        call: "construct",
        source,
    };
    let info = (module.info())().into_result().map_err(oracle_err)?;
    let descriptor = info
        .algorithms
        .iter()
        .find(|d| d.family == Family::LdpOracle && d.name.as_str() == name)
        .ok_or_else(|| LdpError::UnknownOracle {
            oracle: name.to_string(),
            plugin: info.name.to_string(),
        })?;
    let resolved = params
        .resolve(&descriptor.params, ParamScope::Global)
        .map_err(oracle_err)?;
    let oracle = (module.new_ldp_oracle())(name.into(), &resolved)
        .into_result()
        .map_err(oracle_err)?;
    Ok((oracle, resolved))
}
