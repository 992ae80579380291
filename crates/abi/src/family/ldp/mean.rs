//! Mean estimation of bounded numbers: each user holds a vector of `dims` reals in `[-1, 1]`,
//! perturbs it into one compact report, and the server estimates the mean of every attribute
//! with its variance.
//!
//! The rules of the frequency-oracle ABI hold here too: the mechanism is stateless, reports
//! and states are stamped with the mechanism's [`OracleId`] (refused, naming both, when they
//! belong to another), the server state is a fixed number of `u64` counters
//! ([`StateKind::Counts`]) merged exactly by addition with [`State::merge`], and the report
//! of the user at global index `g` draws from ChaCha20 stream `g / RNG_BLOCK` of the seed.
//! The adapter refuses values outside `[-1, 1]` (naming the user and attribute), batches that
//! are not whole vectors or whole reports, and states of the wrong size.
//!
//! Mechanisms whose reports are reals keep them in fixed point on the grid `2^-FIXED_BITS`
//! (the client rounds stochastically, so the report stays unbiased and the rounding is
//! post-processing), so sums are integers and merging is exact whatever the order and split.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RSlice, RSliceMut, RVec},
    StableAbi,
};

use super::{OracleId, ReportSlice, State, StateKind, RNG_BLOCK};
use crate::{guard, RError, RngSeed};

/// Fractional bits of the fixed-point report values (the grid is `2^-20`).
pub const FIXED_BITS: u32 = 20;

/// The shape of a mean mechanism's input, reports and state.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeanLayout {
    /// Attributes per user (the length of one input vector).
    pub dims: u32,
    /// Words (`u64`) per report.
    pub report_len: u32,
    /// Counters in a server state.
    pub state_len: u64,
}

/// The server's answer: the estimated mean of every attribute and its variance.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq)]
pub struct MeanEstimate {
    /// Reports aggregated.
    pub reports: u64,
    /// Unbiased estimate of each attribute's mean.
    pub means: RVec<f64>,
    /// The variance of each estimate in the worst case over the users' values (the maximum
    /// over `x ∈ [-1, 1]` of one report coordinate's variance, divided by the number of
    /// reports): a bound that holds whatever the data.
    pub variance: RVec<f64>,
}

/// The mean-estimation interface as it crosses the ABI.
#[sabi_trait]
pub trait MeanMechanismFfi: Send + Sync {
    /// The mechanism's name and resolved parameters, as stamped on its reports and states.
    fn id(&self) -> OracleId;

    /// Attributes per user, words per report, counters per state.
    fn layout(&self) -> RResult<MeanLayout, RError>;

    /// Client half: perturb each user's vector (`values` holds `dims` reals per user, row
    /// major, each in `[-1, 1]`) into one report of `report_len` words written to `out`. User
    /// `i` has global index `first_index + i` (a multiple of [`RNG_BLOCK`]); use
    /// [`RngSeed::from_os`] in production.
    fn perturb(
        &self,
        values: RSlice<'_, f64>,
        first_index: u64,
        seed: RngSeed,
        out: RSliceMut<'_, u64>,
    ) -> RResult<(), RError>;

    /// Server half: the state of a run of reports (merge it into a running state with
    /// [`State::merge`]).
    fn aggregate(&self, reports: ReportSlice<'_>) -> RResult<State, RError>;

    /// Server half: the mean of each attribute, with its worst-case variance.
    fn estimate(&self, state: &State) -> RResult<MeanEstimate, RError>;

    /// The theoretical variance of each attribute's mean estimate when the users' true values
    /// are `values` (`dims` per user, row major).
    #[sabi(last_prefix_field)]
    fn variance(&self, values: RSlice<'_, f64>) -> RResult<RVec<f64>, RError>;
}

/// A loaded mean mechanism.
pub type MeanMechanismBox = MeanMechanismFfi_TO<'static, RBox<()>>;

/// What a mean-estimation plugin implements. The adapter has checked, before each call,
/// everything the ABI documents (ids, lengths, values in `[-1, 1]`, state size).
pub trait MeanMechanism: Send + Sync + 'static {
    /// Attributes per user.
    fn dims(&self) -> u32;

    /// Words per report.
    fn report_len(&self) -> u32;

    /// Counters per state.
    fn state_len(&self) -> u64;

    /// Write one report per user (`dims` values each, all in `[-1, 1]`) into `out` (zeroed,
    /// `report_len` words per user). User `first_index + i` draws from ChaCha20 stream
    /// `(first_index + i) / RNG_BLOCK` of `seed`, in order (`mosaic_ldp::rng`).
    fn perturb(
        &self,
        values: &[f64],
        first_index: u64,
        seed: RngSeed,
        out: &mut [u64],
    ) -> Result<(), RError>;

    /// Check that the reports (whole reports) are ones this mechanism sends, naming the first
    /// bad one, and add them into `counts` (`state_len` zeros on entry).
    fn aggregate(&self, reports: &[u64], counts: &mut [u64]) -> Result<(), RError>;

    /// The mean of each attribute from a state of `reports` reports (`reports ≥ 1`).
    fn estimate(&self, counts: &[u64], reports: u64) -> Result<Vec<f64>, RError>;

    /// The variance of one user's report coordinate (an unbiased estimate of that user's
    /// value) when the user's value of that attribute is `x`.
    fn report_variance(&self, x: f64) -> f64;
}

struct MeanAdapter {
    id: OracleId,
    inner: Box<dyn MeanMechanism>,
}

impl MeanAdapter {
    fn layout(&self) -> MeanLayout {
        MeanLayout {
            dims: self.inner.dims(),
            report_len: self.inner.report_len(),
            state_len: self.inner.state_len(),
        }
    }

    fn check_id(&self, what: &str, other: &OracleId) -> Result<(), RError> {
        if *other != self.id {
            return Err(RError::input(format!(
                "these {what} belong to {other}, not to {}",
                self.id
            )));
        }
        Ok(())
    }

    fn check_values(&self, values: &[f64], first_user: u64) -> Result<(), RError> {
        let d = self.inner.dims() as usize;
        if d == 0 || !values.len().is_multiple_of(d) {
            return Err(RError::input(format!(
                "{} values do not split into vectors of {d} attributes for {}",
                values.len(),
                self.id
            )));
        }
        if let Some((i, x)) = values
            .iter()
            .enumerate()
            .find(|(_, x)| !(x.is_finite() && x.abs() <= 1.0))
        {
            return Err(RError::input(format!(
                "value {x} of user {} (attribute {}) is outside [-1, 1] for {}",
                first_user + (i / d) as u64,
                i % d,
                self.id
            )));
        }
        Ok(())
    }

    fn aggregate_checked(&self, reports: ReportSlice<'_>) -> Result<State, RError> {
        self.check_id("reports", reports.oracle)?;
        let layout = self.layout();
        let l = layout.report_len as usize;
        if reports.report_len != layout.report_len || !reports.data.len().is_multiple_of(l) {
            return Err(RError::input(format!(
                "malformed reports for {}: {} words of {}-word reports, the mechanism's reports are {l} words",
                self.id,
                reports.data.len(),
                reports.report_len
            )));
        }
        let mut counts = vec![0u64; layout.state_len as usize];
        self.inner
            .aggregate(reports.data.as_slice(), &mut counts)
            .map_err(|e| {
                RError::new(
                    e.kind,
                    format!("malformed reports for {}: {}", self.id, e.message),
                )
            })?;
        Ok(State {
            oracle: self.id.clone(),
            kind: StateKind::Counts,
            record_len: 0,
            reports: (reports.data.len() / l) as u64,
            words: counts.into(),
        })
    }

    fn worst_variance(&self) -> f64 {
        // Every mechanism's report variance is a + b·x², so its maximum is at 0 or ±1.
        self.inner
            .report_variance(0.0)
            .max(self.inner.report_variance(1.0))
    }
}

impl MeanMechanismFfi for MeanAdapter {
    fn id(&self) -> OracleId {
        self.id.clone()
    }

    fn layout(&self) -> RResult<MeanLayout, RError> {
        guard("layout", || Ok(MeanAdapter::layout(self)))
    }

    fn perturb(
        &self,
        values: RSlice<'_, f64>,
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
            self.check_values(values.as_slice(), first_index)?;
            let users = values.len() / self.inner.dims() as usize;
            let l = self.inner.report_len() as usize;
            if out.len() != users * l {
                return Err(RError::input(format!(
                    "the output holds {} words, {users} reports of {} take {l} words each",
                    out.len(),
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

    fn estimate(&self, state: &State) -> RResult<MeanEstimate, RError> {
        guard("estimate", || {
            self.check_id("server state", &state.oracle)?;
            let layout = self.layout();
            state.check(StateKind::Counts, layout.state_len, layout.report_len)?;
            let d = layout.dims as usize;
            if state.reports == 0 {
                return Err(RError::input(format!(
                    "the server state of {} holds no report: no mean to estimate",
                    self.id
                )));
            }
            let means = self.inner.estimate(state.words.as_slice(), state.reports)?;
            if means.len() != d {
                return Err(RError::other(format!(
                    "{} returned {} means for {d} attributes",
                    self.id,
                    means.len()
                )));
            }
            let v = self.worst_variance() / state.reports as f64;
            Ok(MeanEstimate {
                reports: state.reports,
                means: means.into(),
                variance: vec![v; d].into(),
            })
        })
    }

    fn variance(&self, values: RSlice<'_, f64>) -> RResult<RVec<f64>, RError> {
        guard("variance", || {
            self.check_values(values.as_slice(), 0)?;
            let d = self.inner.dims() as usize;
            let n = (values.len() / d) as f64;
            let mut v = vec![0.0; d];
            for row in values.chunks_exact(d) {
                for (acc, &x) in v.iter_mut().zip(row) {
                    *acc += self.inner.report_variance(x);
                }
            }
            Ok(v.into_iter().map(|s| s / (n * n)).collect())
        })
    }
}

/// Wrap a mechanism constructed as `name` with resolved `params` into its ABI object. The id
/// is stamped on every batch and state it returns.
pub fn into_ffi(
    name: &str,
    params: crate::ParamMap,
    m: Box<dyn MeanMechanism>,
) -> MeanMechanismBox {
    MeanMechanismFfi_TO::from_value(
        MeanAdapter {
            id: OracleId::new(name, params),
            inner: m,
        },
        abi_stable::sabi_trait::TD_Opaque,
    )
}
