use mosaic_abi::{Estimate, State};

use crate::{LdpError, Oracle, ParamMap, PluginModRef, ReportBatch, Result, ServerState};

/// The server half of a frequency oracle: owns the aggregation state.
pub struct LdpServer {
    oracle: Oracle,
    state: State,
}

impl LdpServer {
    /// A server for a loaded oracle, with the state of no report.
    pub fn new(oracle: Oracle) -> LdpServer {
        let state = oracle.empty_state();
        LdpServer { oracle, state }
    }

    /// Construct oracle `name` from a plugin's root module, with `params` resolved against
    /// its descriptor.
    pub fn from_module(module: PluginModRef, name: &str, params: &ParamMap) -> Result<LdpServer> {
        Ok(LdpServer::new(Oracle::from_module(module, name, params)?))
    }

    /// The oracle.
    pub fn oracle(&self) -> &Oracle {
        &self.oracle
    }

    /// The oracle's name.
    pub fn name(&self) -> &str {
        self.oracle.name()
    }

    /// The oracle's resolved parameters.
    pub fn params(&self) -> &ParamMap {
        self.oracle.params()
    }

    /// The aggregation state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state in its saved form (JSON or binary: [`ServerState`]).
    pub fn save(&self) -> ServerState {
        ServerState::new(self.state.clone())
    }

    /// Number of reports aggregated.
    pub fn report_count(&self) -> u64 {
        self.state.reports
    }

    /// Add a batch into the state. A batch from another oracle or other parameters is refused
    /// naming both; a batch that fails leaves the server unchanged.
    pub fn ingest(&mut self, batch: &ReportBatch) -> Result<()> {
        let theirs = batch.id();
        if theirs != *self.oracle.id() {
            return Err(LdpError::Mismatch {
                what: "report batch",
                theirs: theirs.to_string(),
                ours: self.oracle.id().to_string(),
            });
        }
        batch.validate()?;
        let part = self.oracle.aggregate(&batch.to_reports())?;
        self.merge(&part)
    }

    /// Merge another server's state (of the same oracle) into this one.
    pub fn merge(&mut self, other: &State) -> Result<()> {
        if other.oracle != *self.oracle.id() {
            return Err(LdpError::Mismatch {
                what: "server state",
                theirs: other.oracle.to_string(),
                ours: self.oracle.id().to_string(),
            });
        }
        let layout = self.oracle.layout();
        other
            .check(layout.state, self.oracle.state_len(), layout.report_len)
            .map_err(|e| LdpError::Malformed {
                what: "server state",
                reason: e.message().to_string(),
            })?;
        let mut next = self.state.clone();
        next.merge(other).map_err(|e| LdpError::Malformed {
            what: "server state",
            reason: e.message().to_string(),
        })?;
        self.state = next;
        Ok(())
    }

    /// Merge a saved state into this one.
    pub fn merge_saved(&mut self, saved: ServerState) -> Result<()> {
        let state = saved.into_state()?;
        self.merge(&state)
    }

    /// Estimated count of every item, with the variance of each.
    pub fn estimate(&self) -> Result<Estimate> {
        self.oracle.estimate(&self.state)
    }

    /// Estimated counts of the given candidates only.
    pub fn estimate_items(&self, items: &[u64]) -> Result<Estimate> {
        self.oracle.estimate_items(&self.state, items)
    }
}
