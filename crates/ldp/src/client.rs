use crate::{Oracle, ParamMap, PluginModRef, ReportBatch, Result, RngSeed};

/// The client half of a frequency oracle: perturbs values into report batches.
pub struct LdpClient {
    oracle: Oracle,
}

impl LdpClient {
    /// A client for a loaded oracle.
    pub fn new(oracle: Oracle) -> LdpClient {
        LdpClient { oracle }
    }

    /// Construct oracle `name` from a plugin's root module, with `params` resolved against
    /// its descriptor.
    pub fn from_module(module: PluginModRef, name: &str, params: &ParamMap) -> Result<LdpClient> {
        Ok(LdpClient::new(Oracle::from_module(module, name, params)?))
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

    /// The domain size: values are `0..domain_size`.
    pub fn domain_size(&self) -> u64 {
        self.oracle.domain_size()
    }

    /// Perturb each value into one report, stamped with the oracle's name and parameters.
    /// The same seed and values give the same batch on any thread count; in production use
    /// [`RngSeed::from_os`].
    pub fn perturb(&self, values: &[u64], seed: RngSeed) -> Result<ReportBatch> {
        let reports = self.oracle.perturb(values, seed)?;
        Ok(ReportBatch::new(reports, &self.oracle.layout()))
    }
}
