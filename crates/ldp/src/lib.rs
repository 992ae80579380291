//! Mosaic local differential privacy family: frequency oracles with a client half and a
//! server half, mergeable server states, and the pieces oracle plugins share.
//!
//! A frequency oracle (a plugin: `mosaic-plugin-ldp-basic`'s `grr`, `mosaic-plugin-ldp-freq`'s
//! `sue`, `oue`, `olh`, `blh`, `hr`, `cms`, `hcms`, `mosaic-plugin-ldp-rappor`'s `rappor`)
//! has two halves that usually live in different programs:
//!
//! - the client perturbs each user's value into a compact report ([`Oracle::perturb`],
//!   [`LdpClient`]); a [`ReportBatch`] carries reports between programs as JSON or in a
//!   packed binary form, stamped with the oracle's name and parameters;
//! - the server aggregates reports into a [`State`] ([`Oracle::aggregate`], [`LdpServer`]),
//!   refusing reports of another oracle; states of several servers merge exactly
//!   ([`State::merge`]; [`ServerState`] is the saved form), and [`Oracle::estimate`] gives
//!   an unbiased count of every item with the variance of each, or of a candidate list only
//!   ([`Oracle::estimate_items`]).
//!
//! Mean estimation of bounded numbers (`mosaic-plugin-ldp-mean`'s `duchi`, `piecewise`,
//! `hybrid`) has the same two halves over vectors of reals in `[-1, 1]`: [`MeanEstimator`].
//!
//! [`heavy_hitters`] finds the most frequent values of large domains (PEM, TreeHist, the
//! federated target-aligning prefix tree) over any frequency oracle, host-side.
//!
//! [`postprocess`] makes estimates consistent (clip, Norm-Sub, Base-Cut); [`simulate`] runs a
//! seeded population end to end and compares the error with the theory.
//!
//! ```
//! use mosaic_ldp::{Oracle, ParamMap, RngSeed};
//!
//! let params = ParamMap::new().with("epsilon", 2.0).with("domain_size", 4i64);
//! let grr = Oracle::from_module(mosaic_plugin_ldp_basic::plugin_module(), "grr", &params)?;
//! let reports = grr.perturb(&[0, 1, 1, 3], RngSeed::from_u64(7))?; // clients (seeded: a test)
//! let state = grr.aggregate(&reports)?;                             // a server
//! let estimate = grr.estimate(&state)?;
//! assert_eq!(estimate.counts.len(), 4);
//! # Ok::<(), mosaic_ldp::LdpError>(())
//! ```
//!
//! For plugin authors: [`estimate`] (the pure-protocol estimator and its variance), [`rng`]
//! (the counter-based randomness contract and exact samplers), [`hash`] (the hash families)
//! and [`bits`] (report packing, per-position bit counting).
#![deny(missing_docs)]

pub mod bits;
mod client;
mod error;
pub mod estimate;
pub mod hash;
pub mod heavy_hitters;
pub mod mean;
mod oracle;
pub mod params;
pub mod postprocess;
pub mod rng;
mod server;
pub mod simulate;
pub mod sketch;
mod wire;

pub use client::LdpClient;
pub use error::{LdpError, Result};
pub use heavy_hitters::{HeavyHitters, PrefixTree};
pub use mean::{simulate_mean, MeanEstimator, MeanSimulation};
pub use mosaic_abi::family::ldp::*;
pub use mosaic_abi::{ParamMap, ParamValue, PluginModRef, RError, RngSeed};
pub use oracle::Oracle;
pub use postprocess::PostProcess;
pub use server::LdpServer;
pub use simulate::{simulate, Population, SimulationReport};
pub use wire::{ParamJson, ReportBatch, ServerState};

/// Domains up to this size keep one counter per item ([`StateKind::Counts`]); oracles over
/// larger domains (32-bit prefixes, hashed strings) keep the multiset of reports
/// ([`StateKind::Reports`]) and are asked for candidates.
pub const DENSE_DOMAIN_LIMIT: u64 = 1 << 20;

/// Whole-domain estimates and simulations allocate one value per item: at most this many.
pub const WHOLE_DOMAIN_LIMIT: u64 = 1 << 26;
