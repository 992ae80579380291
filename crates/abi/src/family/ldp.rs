//! The local DP family: clients perturb a batch of values into reports; the server aggregates
//! reports into a host-owned state and estimates counts. Oracles are stateless, so the two
//! halves can live in different programs (reports and state serialize trivially).

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RSlice, RSliceMut, RVec},
    StableAbi,
};

use crate::{guard, RError, RngSeed};

/// A batch of reports: `len()` reports of `report_len` 64-bit words each, concatenated.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Reports {
    /// Words per report (1 for GRR: the reported item).
    pub report_len: u32,
    /// The words, report after report.
    pub data: RVec<u64>,
}

impl Reports {
    /// Number of reports.
    pub fn len(&self) -> usize {
        if self.report_len == 0 {
            0
        } else {
            self.data.len() / self.report_len as usize
        }
    }

    /// Whether there are no reports.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The reports, one slice each.
    pub fn iter(&self) -> impl Iterator<Item = &[u64]> {
        self.data.chunks(self.report_len.max(1) as usize)
    }
}

/// The server's estimate: estimated counts per domain item and the variance of each count.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Unbiased estimated count of each item `0..domain_size` (may be negative).
    pub counts: RVec<f64>,
    /// Variance of each count estimate (the oracle's analytic variance).
    pub variance: f64,
}

/// The frequency-oracle interface as it crosses the ABI.
#[sabi_trait]
pub trait FrequencyOracleFfi: Send + Sync {
    /// Size of the domain: values are `0..domain_size`.
    fn domain_size(&self) -> u64;
    /// Length of the aggregation state the server must allocate (zero-initialised).
    fn state_len(&self) -> u64;
    /// Client half: perturb each value into a report.
    fn perturb(&self, values: RSlice<'_, u64>, seed: RngSeed) -> RResult<Reports, RError>;
    /// Server half: add reports into `state`.
    fn aggregate(&self, reports: &Reports, state: RSliceMut<'_, f64>) -> RResult<(), RError>;
    /// Server half: estimate counts from `state` after `n` reports.
    #[sabi(last_prefix_field)]
    fn estimate(&self, state: RSlice<'_, f64>, n: u64) -> RResult<Estimate, RError>;
}

/// A loaded frequency oracle.
pub type FrequencyOracleBox = FrequencyOracleFfi_TO<'static, RBox<()>>;

/// What a frequency-oracle plugin implements.
pub trait FrequencyOracle: Send + Sync + 'static {
    /// Domain size.
    fn domain_size(&self) -> u64;
    /// Aggregation state length.
    fn state_len(&self) -> u64;
    /// Client half.
    fn perturb(&self, values: &[u64], seed: RngSeed) -> Result<Reports, RError>;
    /// Server half: aggregate.
    fn aggregate(&self, reports: &Reports, state: &mut [f64]) -> Result<(), RError>;
    /// Server half: estimate.
    fn estimate(&self, state: &[f64], n: u64) -> Result<Estimate, RError>;
}

struct OracleAdapter(Box<dyn FrequencyOracle>);

impl FrequencyOracleFfi for OracleAdapter {
    fn domain_size(&self) -> u64 {
        // Plain accessors are implemented without panicking paths by contract; still guarded.
        guard("domain_size", || Ok(self.0.domain_size())).unwrap_or(0)
    }
    fn state_len(&self) -> u64 {
        guard("state_len", || Ok(self.0.state_len())).unwrap_or(0)
    }
    fn perturb(&self, values: RSlice<'_, u64>, seed: RngSeed) -> RResult<Reports, RError> {
        guard("perturb", || self.0.perturb(values.as_slice(), seed))
    }
    fn aggregate(&self, reports: &Reports, mut state: RSliceMut<'_, f64>) -> RResult<(), RError> {
        guard("aggregate", || {
            self.0.aggregate(reports, state.as_mut_slice())
        })
    }
    fn estimate(&self, state: RSlice<'_, f64>, n: u64) -> RResult<Estimate, RError> {
        guard("estimate", || self.0.estimate(state.as_slice(), n))
    }
}

/// Wrap an oracle into its ABI object.
pub fn into_ffi(o: Box<dyn FrequencyOracle>) -> FrequencyOracleBox {
    FrequencyOracleFfi_TO::from_value(OracleAdapter(o), abi_stable::sabi_trait::TD_Opaque)
}
