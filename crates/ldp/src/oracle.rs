//! [`Oracle`]: a loaded frequency oracle with the host's parallel batch splitting.

use abi_stable::std_types::{ROption, RSlice, RSliceMut};
use mosaic_abi::{
    Estimate, Family, FrequencyOracleBox, OracleId, OracleLayout, ParamMap, ParamScope,
    PluginModRef, RError, ReportDistribution, Reports, RngSeed, State, RNG_BLOCK,
};

use crate::{LdpError, Result};

/// Values per perturb call: a whole number of random streams, so the split never changes a
/// report.
const PERTURB_CHUNK: usize = 16 * RNG_BLOCK as usize;
/// Reports per aggregate call (merging is exact, so the split never changes a state).
const AGGREGATE_CHUNK: usize = 1 << 15;

/// A loaded frequency oracle, with its id and layout read once, and batch calls that the host
/// splits across its rayon pool (the `parallel` feature, on by default). Results do not
/// depend on the thread count: perturbation is split at multiples of [`RNG_BLOCK`] and
/// states merge exactly.
pub struct Oracle {
    inner: FrequencyOracleBox,
    id: OracleId,
    layout: OracleLayout,
    domain_size: u64,
    state_len: u64,
}

impl Oracle {
    /// Wrap a constructed oracle, reading its id, domain, state length and layout.
    pub fn new(inner: FrequencyOracleBox) -> Result<Oracle> {
        let id = inner.id();
        let err = |call: &'static str| {
            let name = id.name.to_string();
            move |source: RError| LdpError::Oracle {
                oracle: name,
                call,
                source,
            }
        };
        let domain_size = inner
            .domain_size()
            .into_result()
            .map_err(err("domain_size"))?;
        let state_len = inner.state_len().into_result().map_err(err("state_len"))?;
        let layout = inner.layout().into_result().map_err(err("layout"))?;
        if layout.report_len == 0 || layout.report_bits as u64 > 64 * layout.report_len as u64 {
            return Err(err("layout")(RError::other(format!(
                "{} reports {} bits in {} words",
                id, layout.report_bits, layout.report_len
            ))));
        }
        Ok(Oracle {
            inner,
            id,
            layout,
            domain_size,
            state_len,
        })
    }

    /// Construct oracle `name` from a plugin's root module, with `params` resolved against
    /// its descriptor (defaults filled in).
    pub fn from_module(module: PluginModRef, name: &str, params: &ParamMap) -> Result<Oracle> {
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
        Oracle::new(oracle)
    }

    fn err(&self, call: &'static str) -> impl Fn(RError) -> LdpError + '_ {
        move |source| LdpError::Oracle {
            oracle: self.id.name.to_string(),
            call,
            source,
        }
    }

    /// The oracle's name and resolved parameters.
    pub fn id(&self) -> &OracleId {
        &self.id
    }

    /// The oracle's name.
    pub fn name(&self) -> &str {
        self.id.name.as_str()
    }

    /// Its resolved parameters.
    pub fn params(&self) -> &ParamMap {
        &self.id.params
    }

    /// Words and bits per report, and the state kind.
    pub fn layout(&self) -> OracleLayout {
        self.layout
    }

    /// Values are `0..domain_size`.
    pub fn domain_size(&self) -> u64 {
        self.domain_size
    }

    /// Counters per state ([`mosaic_abi::StateKind::Counts`]), else 0.
    pub fn state_len(&self) -> u64 {
        self.state_len
    }

    /// The ABI object.
    pub fn raw(&self) -> &FrequencyOracleBox {
        &self.inner
    }

    /// The state of no report.
    pub fn empty_state(&self) -> State {
        State::empty(
            self.id.clone(),
            self.layout.state,
            self.state_len,
            self.layout.report_len,
        )
    }

    /// Client half: perturb every value into one report. The same seed and values give the
    /// same reports on any number of threads; in production use [`RngSeed::from_os`].
    pub fn perturb(&self, values: &[u64], seed: RngSeed) -> Result<Reports> {
        let l = self.layout.report_len as usize;
        let mut data = vec![0u64; values.len() * l];
        let call = |(c, (vals, out)): (usize, (&[u64], &mut [u64]))| {
            self.inner
                .perturb(
                    RSlice::from_slice(vals),
                    (c * PERTURB_CHUNK) as u64,
                    seed,
                    RSliceMut::from_mut_slice(out),
                )
                .into_result()
        };
        let pieces = values
            .chunks(PERTURB_CHUNK)
            .zip(data.chunks_mut(PERTURB_CHUNK * l));
        #[cfg(feature = "parallel")]
        let result: std::result::Result<(), RError> = {
            use rayon::prelude::*;
            let pieces: Vec<_> = pieces.enumerate().collect();
            pieces.into_par_iter().try_for_each(call)
        };
        #[cfg(not(feature = "parallel"))]
        let result: std::result::Result<(), RError> = pieces.enumerate().try_for_each(call);
        result.map_err(self.err("perturb"))?;
        Ok(Reports {
            oracle: self.id.clone(),
            report_len: self.layout.report_len,
            data: data.into(),
        })
    }

    /// Server half: the state of a batch of reports (refused, naming both oracles, if the
    /// batch belongs to another oracle).
    pub fn aggregate(&self, reports: &Reports) -> Result<State> {
        if reports.report_len != self.layout.report_len
            || !reports
                .data
                .len()
                .is_multiple_of(self.layout.report_len as usize)
        {
            // One call, so the plugin names what is wrong.
            return self
                .inner
                .aggregate(reports.as_slice())
                .into_result()
                .map_err(self.err("aggregate"));
        }
        let n = reports.len();
        let ranges: Vec<std::ops::Range<usize>> = (0..n.max(1))
            .step_by(AGGREGATE_CHUNK)
            .map(|s| s..(s + AGGREGATE_CHUNK).min(n))
            .collect();
        let one = |r: std::ops::Range<usize>| {
            self.inner
                .aggregate(reports.slice(r))
                .into_result()
                .map_err(self.err("aggregate"))
        };
        let merge = |mut a: State, b: State| -> Result<State> {
            a.merge(&b).map_err(self.err("merge"))?;
            Ok(a)
        };
        // Merging is exact (counter sums, sorted multisets), so the reduction order and the
        // thread count never change the state; a pairwise reduction keeps a few states alive.
        #[cfg(feature = "parallel")]
        let state = {
            use rayon::prelude::*;
            ranges
                .into_par_iter()
                .map(one)
                .try_reduce(|| self.empty_state(), merge)?
        };
        #[cfg(not(feature = "parallel"))]
        let state = ranges
            .into_iter()
            .map(one)
            .try_fold(self.empty_state(), |a, b| merge(a, b?))?;
        Ok(state)
    }

    /// Server half: estimate every item of the domain.
    pub fn estimate(&self, state: &State) -> Result<Estimate> {
        self.inner
            .estimate(state, ROption::RNone)
            .into_result()
            .map_err(self.err("estimate"))
    }

    /// Server half: estimate the given candidates only (for large domains: the state and the
    /// work are independent of the domain size).
    pub fn estimate_items(&self, state: &State, items: &[u64]) -> Result<Estimate> {
        self.inner
            .estimate(state, ROption::RSome(RSlice::from_slice(items)))
            .into_result()
            .map_err(self.err("estimate"))
    }

    /// Theoretical variance of each item's estimate at true counts `counts`.
    pub fn variance(&self, counts: &[f64]) -> Result<Vec<f64>> {
        self.inner
            .variance(RSlice::from_slice(counts))
            .into_result()
            .map(|v| v.into_vec())
            .map_err(self.err("variance"))
    }

    /// The exact output distribution of `value`.
    pub fn report_distribution(&self, value: u64) -> Result<ReportDistribution> {
        self.inner
            .report_distribution(value)
            .into_result()
            .map_err(self.err("report_distribution"))
    }
}
