//! The local DP family: clients perturb a batch of values into compact reports; servers
//! aggregate reports into mergeable states and estimate counts with their variance.
//!
//! - [`types`]: what crosses — [`OracleId`], [`OracleLayout`], [`Reports`], [`State`],
//!   [`Estimate`], [`ReportDistribution`], and the counter-based randomness contract
//!   ([`RNG_BLOCK`]).
//! - [`state`]: building, checking and merging server states (canonical, so merging is exact
//!   whatever the order and split).
//! - [`mean`]: mean estimation of bounded numbers ([`MeanMechanismFfi`], [`MeanMechanism`]),
//!   on the same ids, report batches and states.
//! - This module: the ABI ([`FrequencyOracleFfi`]), the plain trait plugin authors implement
//!   ([`FrequencyOracle`]) and the adapter between them.
//!
//! Oracles are stateless: the server's aggregate lives in a [`State`] owned by the host, so
//! the two halves can live in different programs and states from several servers merge.
//! Every call is batched. The adapter does the checks every oracle needs, so that plugins
//! cannot get them wrong: it stamps the oracle's [`OracleId`] on every batch and state it
//! returns and refuses, naming both oracles, a batch or state stamped by another; it refuses
//! values and candidates outside the domain naming the value and its position, reports with
//! bits set above `report_bits`, and states of the wrong structure; it builds report-multiset
//! states itself.

pub mod mean;
pub mod state;
pub mod types;

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RSlice, RSliceMut, RVec},
};

pub use mean::{MeanEstimate, MeanLayout, MeanMechanism, MeanMechanismBox, MeanMechanismFfi};
pub use types::{
    Estimate, OracleId, OracleLayout, ReportDistribution, ReportSlice, Reports, State, StateKind,
    RNG_BLOCK,
};

use crate::{guard, RError, RngSeed};

/// The frequency-oracle interface as it crosses the ABI.
#[sabi_trait]
pub trait FrequencyOracleFfi: Send + Sync {
    /// The oracle's name and resolved parameters, as stamped on its reports and states.
    fn id(&self) -> OracleId;

    /// Size of the domain: values are `0..domain_size`.
    fn domain_size(&self) -> RResult<u64, RError>;

    /// [`StateKind::Counts`]: the number of counters of a state; [`StateKind::Reports`]: 0.
    fn state_len(&self) -> RResult<u64, RError>;

    /// Words and bits per report, and the kind of server state.
    fn layout(&self) -> RResult<OracleLayout, RError>;

    /// Client half: perturb each value into one report of `report_len` words, written to
    /// `out` (exactly `values.len() · report_len` words). `values[i]` has global index
    /// `first_index + i` (`first_index` a multiple of [`RNG_BLOCK`]) for the counter-based
    /// randomness; use [`RngSeed::from_os`] in production. Stamp the batch with [`Self::id`].
    fn perturb(
        &self,
        values: RSlice<'_, u64>,
        first_index: u64,
        seed: RngSeed,
        out: RSliceMut<'_, u64>,
    ) -> RResult<(), RError>;

    /// Server half: the state of a run of reports (merge it into a running state with
    /// [`State::merge`]). A malformed or foreign batch is an error naming the oracle.
    fn aggregate(&self, reports: ReportSlice<'_>) -> RResult<State, RError>;

    /// Server half: estimate the count of each item in `items` (the whole domain when none),
    /// with the variance of each estimate.
    fn estimate(&self, state: &State, items: ROption<RSlice<'_, u64>>)
        -> RResult<Estimate, RError>;

    /// The theoretical variance of each item's count estimate when the true counts over the
    /// whole domain are `counts` (their sum is the number of reports `n`).
    fn variance(&self, counts: RSlice<'_, f64>) -> RResult<RVec<f64>, RError>;

    /// The exact output distribution of `value`, for checking ε-LDP by enumeration on small
    /// domains (unsupported where the report space is too large to list).
    #[sabi(last_prefix_field)]
    fn report_distribution(&self, value: u64) -> RResult<ReportDistribution, RError>;
}

/// A loaded frequency oracle.
pub type FrequencyOracleBox = FrequencyOracleFfi_TO<'static, RBox<()>>;

/// What a plugin's `estimate` returns: one count and one variance per item asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemEstimates {
    /// Unbiased count estimates.
    pub counts: Vec<f64>,
    /// Their variances.
    pub variance: Vec<f64>,
}

/// What a frequency-oracle plugin implements. The adapter has checked, before each call,
/// everything the ABI documents (domain, ids, lengths, state structure, high report bits).
pub trait FrequencyOracle: Send + Sync + 'static {
    /// Domain size: values are `0..domain_size`.
    fn domain_size(&self) -> u64;

    /// [`StateKind::Counts`]: counters per state; [`StateKind::Reports`]: 0.
    fn state_len(&self) -> u64;

    /// Words and bits per report, and the state kind.
    fn layout(&self) -> OracleLayout;

    /// Write one report (`layout().report_len` words) per value into `out` (exactly that many
    /// words, zeroed). Every value is in the domain. The randomness of the value at global
    /// index `g = first_index + i` comes from ChaCha20 stream `g / RNG_BLOCK` of `seed`,
    /// consumed in index order (`mosaic_ldp::rng::for_each_block` walks the streams).
    fn perturb(
        &self,
        values: &[u64],
        first_index: u64,
        seed: RngSeed,
        out: &mut [u64],
    ) -> Result<(), RError>;

    /// Check that every report (whole reports of `report_len` words, high bits clear) is one
    /// this oracle can send; the error names the report's position and what is wrong.
    fn validate(&self, reports: &[u64]) -> Result<(), RError>;

    /// [`StateKind::Counts`] oracles: add validated reports into `counts` (`state_len` zeros
    /// on entry). Report-multiset oracles never receive this call.
    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError> {
        let _ = (reports, counts);
        Err(RError::unsupported(
            "this oracle keeps report multisets, not counters",
        ))
    }

    /// Estimate `items` (every one in the domain; `None`: the whole domain in order) from a
    /// state whose structure has been checked.
    fn estimate(&self, state: &State, items: Option<&[u64]>) -> Result<ItemEstimates, RError>;

    /// Theoretical variance of each item's estimate at true counts `counts` (`domain_size`
    /// of them).
    fn variance(&self, counts: &[f64]) -> Result<Vec<f64>, RError>;

    /// The exact output distribution of `value` (see [`ReportDistribution`]).
    fn report_distribution(&self, value: u64) -> Result<ReportDistribution, RError>;
}

struct OracleAdapter {
    id: OracleId,
    inner: Box<dyn FrequencyOracle>,
}

impl OracleAdapter {
    fn check_id(&self, what: &str, other: &OracleId) -> Result<(), RError> {
        if *other != self.id {
            return Err(RError::input(format!(
                "these {what} belong to {other}, not to {}",
                self.id
            )));
        }
        Ok(())
    }

    fn check_items(&self, what: &str, items: &[u64], offset: u64) -> Result<(), RError> {
        let d = self.inner.domain_size();
        if let Some((i, v)) = items.iter().enumerate().find(|(_, &v)| v >= d) {
            return Err(RError::input(format!(
                "{what} {v} at position {} is outside the domain 0..{d} of {}",
                offset + i as u64,
                self.id
            )));
        }
        Ok(())
    }

    fn aggregate_checked(&self, reports: ReportSlice<'_>) -> Result<State, RError> {
        self.check_id("reports", reports.oracle)?;
        let layout = self.inner.layout();
        let malformed =
            |why: String| RError::input(format!("malformed reports for {}: {why}", self.id));
        if reports.report_len != layout.report_len {
            return Err(malformed(format!(
                "{} words per report, the oracle's reports are {}",
                reports.report_len, layout.report_len
            )));
        }
        let l = layout.report_len as usize;
        let data = reports.data.as_slice();
        if l == 0 || !reports.data.len().is_multiple_of(l) {
            return Err(malformed(format!(
                "{} words do not split into reports of {l}",
                reports.data.len()
            )));
        }
        let bits = layout.report_bits as usize;
        for (i, r) in reports.data.chunks_exact(l).enumerate() {
            let clean = r.iter().enumerate().all(|(w, &x)| {
                let low = bits.saturating_sub(64 * w);
                low >= 64 || x >> low == 0
            });
            if !clean {
                return Err(malformed(format!(
                    "report {i} has bits set above its {bits} bits"
                )));
            }
        }
        self.inner.validate(data).map_err(|e| {
            RError::new(
                e.kind,
                format!("malformed reports for {}: {}", self.id, e.message),
            )
        })?;
        match layout.state {
            StateKind::Counts => {
                let mut counts = vec![0u64; self.inner.state_len() as usize];
                self.inner.aggregate(data, &mut counts)?;
                Ok(State {
                    oracle: self.id.clone(),
                    kind: StateKind::Counts,
                    record_len: 0,
                    reports: (data.len() / l) as u64,
                    words: counts.into(),
                })
            }
            StateKind::Reports => Ok(State::from_reports(
                self.id.clone(),
                layout.report_len,
                data,
            )),
        }
    }

    fn estimate_checked(&self, state: &State, items: Option<&[u64]>) -> Result<Estimate, RError> {
        self.check_id("server state", &state.oracle)?;
        let layout = self.inner.layout();
        state.check(layout.state, self.inner.state_len(), layout.report_len)?;
        if let Some(items) = items {
            self.check_items("candidate", items, 0)?;
        }
        let r = self.inner.estimate(state, items)?;
        let want = items.map_or(self.inner.domain_size(), |c| c.len() as u64);
        if r.counts.len() as u64 != want || r.variance.len() as u64 != want {
            return Err(RError::other(format!(
                "{} returned {} counts and {} variances for {want} items",
                self.id,
                r.counts.len(),
                r.variance.len()
            )));
        }
        Ok(Estimate {
            items: items.map(|c| c.to_vec()).unwrap_or_default().into(),
            counts: r.counts.into(),
            variance: r.variance.into(),
        })
    }
}

impl FrequencyOracleFfi for OracleAdapter {
    fn id(&self) -> OracleId {
        self.id.clone()
    }

    fn domain_size(&self) -> RResult<u64, RError> {
        guard("domain_size", || Ok(self.inner.domain_size()))
    }

    fn state_len(&self) -> RResult<u64, RError> {
        guard("state_len", || Ok(self.inner.state_len()))
    }

    fn layout(&self) -> RResult<OracleLayout, RError> {
        guard("layout", || Ok(self.inner.layout()))
    }

    fn perturb(
        &self,
        values: RSlice<'_, u64>,
        first_index: u64,
        seed: RngSeed,
        mut out: RSliceMut<'_, u64>,
    ) -> RResult<(), RError> {
        guard("perturb", || {
            if !first_index.is_multiple_of(RNG_BLOCK) {
                return Err(RError::input(format!(
                    "first_index {first_index} is not a multiple of RNG_BLOCK = {RNG_BLOCK}"
                )));
            }
            self.check_items("value", values.as_slice(), first_index)?;
            let l = self.inner.layout().report_len as usize;
            if out.len() != values.len() * l {
                return Err(RError::input(format!(
                    "the output holds {} words, {} reports of {} take {l} words each",
                    out.len(),
                    values.len(),
                    self.id
                )));
            }
            let out = out.as_mut_slice();
            out.fill(0);
            self.inner
                .perturb(values.as_slice(), first_index, seed, out)
        })
    }

    fn aggregate(&self, reports: ReportSlice<'_>) -> RResult<State, RError> {
        guard("aggregate", || self.aggregate_checked(reports))
    }

    fn estimate(
        &self,
        state: &State,
        items: ROption<RSlice<'_, u64>>,
    ) -> RResult<Estimate, RError> {
        guard("estimate", || {
            self.estimate_checked(state, items.as_ref().map(|s| s.as_slice()).into_option())
        })
    }

    fn variance(&self, counts: RSlice<'_, f64>) -> RResult<RVec<f64>, RError> {
        guard("variance", || {
            let d = self.inner.domain_size();
            if counts.len() as u64 != d {
                return Err(RError::input(format!(
                    "{} true counts given, the domain of {} has {d} items",
                    counts.len(),
                    self.id
                )));
            }
            if let Some((i, c)) = counts
                .iter()
                .enumerate()
                .find(|(_, c)| !(c.is_finite() && **c >= 0.0))
            {
                return Err(RError::input(format!(
                    "true count {c} of item {i} is not a finite number ≥ 0"
                )));
            }
            self.inner.variance(counts.as_slice()).map(RVec::from)
        })
    }

    fn report_distribution(&self, value: u64) -> RResult<ReportDistribution, RError> {
        guard("report_distribution", || {
            self.check_items("value", &[value], 0)?;
            let r = self.inner.report_distribution(value)?;
            if r.reports.len() != r.probabilities.len() * r.report_len as usize {
                return Err(RError::other(format!(
                    "{} listed {} words for {} probabilities",
                    self.id,
                    r.reports.len(),
                    r.probabilities.len()
                )));
            }
            Ok(r)
        })
    }
}

/// Wrap an oracle constructed as `name` with resolved `params` into its ABI object. The id is
/// stamped on every batch and state the oracle returns.
pub fn into_ffi(
    name: &str,
    params: crate::ParamMap,
    o: Box<dyn FrequencyOracle>,
) -> FrequencyOracleBox {
    FrequencyOracleFfi_TO::from_value(
        OracleAdapter {
            id: OracleId::new(name, params),
            inner: o,
        },
        abi_stable::sabi_trait::TD_Opaque,
    )
}
