//! The values that cross the LDP ABI: who produced a batch ([`OracleId`]), the shape of its
//! reports and state ([`OracleLayout`]), the batches themselves ([`Reports`]), the server's
//! aggregate ([`State`]), its answer ([`Estimate`]) and the exact output distribution of one
//! value ([`ReportDistribution`]).

use std::fmt;

use abi_stable::{
    std_types::{RSlice, RString, RVec},
    StableAbi,
};

use crate::ParamMap;

/// Values per counter-based random stream. The report of the value at global index `g` of a
/// batch is drawn from ChaCha20 stream `g / RNG_BLOCK` of the call's seed, in order within the
/// stream; so a batch split at multiples of `RNG_BLOCK` (across threads, or across calls with
/// the matching `first_index`) gives the same reports, bit for bit, as the whole batch.
pub const RNG_BLOCK: u64 = 4096;

/// The oracle a batch of reports or a state belongs to: its name and its resolved parameters
/// (defaults filled in). Two oracles with equal ids produce and accept the same reports.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct OracleId {
    /// The oracle's name (`grr`, `olh`).
    pub name: RString,
    /// Its parameters, resolved against its descriptor.
    pub params: ParamMap,
}

impl OracleId {
    /// An id from a name and resolved parameters.
    pub fn new(name: &str, params: ParamMap) -> OracleId {
        OracleId {
            name: name.into(),
            params,
        }
    }
}

impl fmt::Display for OracleId {
    /// `` `grr`(domain_size = 4, epsilon = 1) ``: how errors name an oracle.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`(", self.name)?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k} = {v}")?;
        }
        f.write_str(")")
    }
}

/// How a server state is laid out, and so how two states merge.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// A fixed number of `u64` counters (`state_len` of them, whatever the number of reports):
    /// support counts per item, a sketch, bit counts per cohort. Two states merge by adding
    /// their counters.
    Counts,
    /// The multiset of reports received, for oracles over domains too large for one counter
    /// per item (32-bit prefixes, hashed strings). Records of `report_len + 1` words — the
    /// report, then its multiplicity — sorted by report, each report once. Two states merge
    /// by merging the sorted records. Its size grows with the number of distinct reports,
    /// never with the domain; estimates are asked for a candidate list.
    Reports,
}

/// The shape of an oracle's reports and state.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct OracleLayout {
    /// Words (`u64`) per report.
    pub report_len: u32,
    /// Bits of information per report: the low `report_bits` bits of a report's words (word 0
    /// first) carry it and every higher bit is zero, so a report packs into `report_bits` bits
    /// on the wire (an OLH report is a 32-bit hash seed and a value below `g`).
    pub report_bits: u32,
    /// How the server state is laid out.
    pub state: StateKind,
}

/// A batch of reports: `len()` reports of `report_len` words each, concatenated, stamped with
/// the oracle that produced them (the id the oracle reports for itself). The ABI adapter
/// refuses, naming both oracles, a batch stamped by another.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Reports {
    /// The oracle that produced the reports.
    pub oracle: OracleId,
    /// Words per report.
    pub report_len: u32,
    /// The words, report after report.
    pub data: RVec<u64>,
}

impl Reports {
    /// Number of reports (whole reports only).
    pub fn len(&self) -> usize {
        match self.report_len {
            0 => 0,
            l => self.data.len() / l as usize,
        }
    }

    /// Whether there are no reports.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The reports, one slice each.
    pub fn iter(&self) -> impl Iterator<Item = &[u64]> {
        self.data.chunks_exact(self.report_len.max(1) as usize)
    }
}

/// A borrowed run of reports of one batch (no copy): what [`crate::FrequencyOracleFfi`]'s
/// `aggregate` reads, so that the host can aggregate the parts of one batch in parallel.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct ReportSlice<'a> {
    /// The oracle that produced the reports.
    pub oracle: &'a OracleId,
    /// Words per report.
    pub report_len: u32,
    /// The words, report after report.
    pub data: RSlice<'a, u64>,
}

impl Reports {
    /// All the reports, borrowed.
    pub fn as_slice(&self) -> ReportSlice<'_> {
        ReportSlice {
            oracle: &self.oracle,
            report_len: self.report_len,
            data: self.data.as_slice().into(),
        }
    }

    /// Reports `range` (report indices), borrowed.
    pub fn slice(&self, range: std::ops::Range<usize>) -> ReportSlice<'_> {
        let l = self.report_len as usize;
        ReportSlice {
            oracle: &self.oracle,
            report_len: self.report_len,
            data: self.data[range.start * l..range.end * l].into(),
        }
    }
}

/// A server's aggregate of some reports, stamped with its oracle. States of one oracle merge
/// ([`State::merge`]) into the state of the union of their reports, whatever the order and
/// split: a fleet of servers can each aggregate a part.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct State {
    /// The oracle whose reports were aggregated.
    pub oracle: OracleId,
    /// Counters or report multiset.
    pub kind: StateKind,
    /// [`StateKind::Reports`]: words per record (`report_len + 1`); [`StateKind::Counts`]: 0.
    pub record_len: u32,
    /// Number of reports aggregated.
    pub reports: u64,
    /// The counters, or the sorted records.
    pub words: RVec<u64>,
}

/// The server's estimate for some items: an unbiased count and its variance per item.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Estimate {
    /// The items estimated, in the order asked; empty when the estimate covers the whole
    /// domain `0..domain_size` in order.
    pub items: RVec<u64>,
    /// Unbiased estimated count of each item (may be negative).
    pub counts: RVec<f64>,
    /// Variance of each count estimate: the oracle's analytic variance, evaluated where it
    /// depends on the true counts at these estimates (an unbiased estimate of it).
    pub variance: RVec<f64>,
}

impl Estimate {
    /// Number of items estimated.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no item was estimated.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The item of entry `i`.
    pub fn item(&self, i: usize) -> u64 {
        if self.items.is_empty() {
            i as u64
        } else {
            self.items[i]
        }
    }

    /// The variance averaged over the items.
    pub fn mean_variance(&self) -> f64 {
        if self.variance.is_empty() {
            return 0.0;
        }
        self.variance.iter().sum::<f64>() / self.variance.len() as f64
    }
}

/// The output distribution of one value: every report the oracle can send for it, with its
/// exact probability (computed from the sampler's own thresholds, not from the ideal
/// formulas). Used to check ε-LDP by enumeration on small domains.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ReportDistribution {
    /// Words per report.
    pub report_len: u32,
    /// The reports, `report_len` words each, each once.
    pub reports: RVec<u64>,
    /// `P[report | value]`, one per report.
    pub probabilities: RVec<f64>,
    /// Whether the reports listed carry all the probability. An oracle whose reports include
    /// public randomness drawn independently of the value (OLH's hash seed) lists the reports
    /// of a fixed subset of it: the ratio `P[r | v] / P[r | v']` is then checked for every
    /// listed report, and the listed mass is that subset's share.
    pub complete: bool,
}

impl ReportDistribution {
    /// Number of reports listed.
    pub fn len(&self) -> usize {
        self.probabilities.len()
    }

    /// Whether no report is listed.
    pub fn is_empty(&self) -> bool {
        self.probabilities.is_empty()
    }
}
