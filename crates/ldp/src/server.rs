use crate::batch::OracleLabel;
use crate::{
    construct, Estimate, FrequencyOracleBox, LdpError, ParamMap, PluginModRef, ReportBatch, Result,
};

/// The server half of a frequency oracle: owns the aggregation state and the report count.
pub struct LdpServer {
    oracle: FrequencyOracleBox,
    name: String,
    params: ParamMap,
    state: Vec<f64>,
    reports: u64,
}

impl LdpServer {
    /// A server for an oracle already constructed as `name` with `params`; batches must carry
    /// the same name and parameters. Allocates the oracle's zeroed state.
    pub fn new(name: &str, params: ParamMap, oracle: FrequencyOracleBox) -> Result<LdpServer> {
        let len = usize::try_from(oracle.state_len()).map_err(|_| LdpError::Oracle {
            oracle: name.to_string(),
            call: "state_len",
            source: mosaic_abi::RError::other("state does not fit in memory"),
        })?;
        Ok(LdpServer {
            oracle,
            name: name.to_string(),
            params,
            state: vec![0.0; len],
            reports: 0,
        })
    }

    /// Construct oracle `name` from a plugin's root module, with `params` resolved against
    /// its descriptor.
    pub fn from_module(module: PluginModRef, name: &str, params: &ParamMap) -> Result<LdpServer> {
        let (oracle, params) = construct(module, name, params)?;
        LdpServer::new(name, params, oracle)
    }

    /// The oracle's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The oracle's parameters.
    pub fn params(&self) -> &ParamMap {
        &self.params
    }

    /// The aggregation state.
    pub fn state(&self) -> &[f64] {
        &self.state
    }

    /// Number of reports ingested.
    pub fn report_count(&self) -> u64 {
        self.reports
    }

    /// Add a batch into the state. The batch must come from the same oracle with the same
    /// parameters; a batch that fails leaves the server unchanged.
    pub fn ingest(&mut self, batch: &ReportBatch) -> Result<()> {
        let batch_params = batch.param_map();
        if batch.oracle != self.name || batch_params != self.params {
            return Err(LdpError::Mismatch {
                batch: OracleLabel(&batch.oracle, &batch_params).to_string(),
                server: OracleLabel(&self.name, &self.params).to_string(),
            });
        }
        batch.validate()?;
        // Aggregate into a copy so that an error half way leaves the state as it was.
        let mut next = self.state.clone();
        self.oracle
            .aggregate(&batch.to_reports(), next.as_mut_slice().into())
            .into_result()
            .map_err(|source| LdpError::Oracle {
                oracle: self.name.clone(),
                call: "aggregate",
                source,
            })?;
        self.state = next;
        self.reports += batch.len() as u64;
        Ok(())
    }

    /// Estimated count of every item, with the oracle's variance.
    pub fn estimate(&self) -> Result<Estimate> {
        self.oracle
            .estimate(self.state.as_slice().into(), self.reports)
            .into_result()
            .map_err(|source| LdpError::Oracle {
                oracle: self.name.clone(),
                call: "estimate",
                source,
            })
    }
}
