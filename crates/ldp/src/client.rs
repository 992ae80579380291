use crate::{
    construct, FrequencyOracleBox, LdpError, ParamMap, PluginModRef, ReportBatch, Result, RngSeed,
};

/// The client half of a frequency oracle: perturbs values into reports.
pub struct LdpClient {
    oracle: FrequencyOracleBox,
    name: String,
    params: ParamMap,
}

impl LdpClient {
    /// A client for an oracle already constructed as `name` with `params`. The name and
    /// parameters are stamped on every batch; give them resolved (defaults filled in), or use
    /// [`LdpClient::from_module`], which does.
    pub fn new(name: &str, params: ParamMap, oracle: FrequencyOracleBox) -> LdpClient {
        LdpClient {
            oracle,
            name: name.to_string(),
            params,
        }
    }

    /// Construct oracle `name` from a plugin's root module, with `params` resolved against
    /// its descriptor.
    pub fn from_module(module: PluginModRef, name: &str, params: &ParamMap) -> Result<LdpClient> {
        let (oracle, params) = construct(module, name, params)?;
        Ok(LdpClient::new(name, params, oracle))
    }

    /// The oracle's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The oracle's parameters.
    pub fn params(&self) -> &ParamMap {
        &self.params
    }

    /// The domain size: values are `0..domain_size`.
    pub fn domain_size(&self) -> u64 {
        self.oracle.domain_size()
    }

    /// Perturb each value into one report. The same seed and values give the same batch; in
    /// production use [`RngSeed::from_os`].
    pub fn perturb(&self, values: &[u64], seed: RngSeed) -> Result<ReportBatch> {
        let reports = self
            .oracle
            .perturb(values.into(), seed)
            .into_result()
            .map_err(|source| LdpError::Oracle {
                oracle: self.name.clone(),
                call: "perturb",
                source,
            })?;
        Ok(ReportBatch::new(&self.name, &self.params, reports))
    }
}
