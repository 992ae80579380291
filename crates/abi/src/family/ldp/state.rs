//! Server states: building them, checking their structure, merging them.
//!
//! Both kinds are canonical — a [`StateKind::Counts`] state is a sum of counters and a
//! [`StateKind::Reports`] state is a sorted multiset — so the state of a set of reports does
//! not depend on how the reports were split, ordered or merged: equal sets give equal bits.

use std::cmp::Ordering;

use abi_stable::std_types::RVec;

use super::{OracleId, State, StateKind};
use crate::RError;

impl State {
    /// The state of no report: `len` zero counters, or no record of `report_len + 1` words.
    pub fn empty(oracle: OracleId, kind: StateKind, len: u64, report_len: u32) -> State {
        let (record_len, words) = match kind {
            StateKind::Counts => (0, RVec::from(vec![0u64; len as usize])),
            StateKind::Reports => (report_len + 1, RVec::new()),
        };
        State {
            oracle,
            kind,
            record_len,
            reports: 0,
            words,
        }
    }

    /// The [`StateKind::Reports`] state of a batch: its reports sorted, each once, with its
    /// multiplicity. `data` holds whole reports of `report_len` words.
    pub fn from_reports(oracle: OracleId, report_len: u32, data: &[u64]) -> State {
        let l = report_len as usize;
        let mut reports: Vec<&[u64]> = data.chunks_exact(l.max(1)).collect();
        reports.sort_unstable();
        let mut words = Vec::with_capacity(data.len() + reports.len());
        let mut i = 0;
        while i < reports.len() {
            let mut j = i + 1;
            while j < reports.len() && reports[j] == reports[i] {
                j += 1;
            }
            words.extend_from_slice(reports[i]);
            words.push((j - i) as u64);
            i = j;
        }
        State {
            oracle,
            kind: StateKind::Reports,
            record_len: report_len + 1,
            reports: reports.len() as u64,
            words: words.into(),
        }
    }

    /// The records of a [`StateKind::Reports`] state: `(report, multiplicity)`.
    pub fn records(&self) -> impl Iterator<Item = (&[u64], u64)> {
        let l = self.record_len.max(1) as usize;
        self.words
            .chunks_exact(l)
            .map(move |r| (&r[..l - 1], r[l - 1]))
    }

    /// How many times `report` was received, in a [`StateKind::Reports`] state (binary
    /// search over the sorted records).
    pub fn multiplicity(&self, report: &[u64]) -> u64 {
        let l = self.record_len.max(1) as usize;
        let n = self.words.len() / l;
        let rec = |i: usize| &self.words[i * l..i * l + l - 1];
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match rec(mid).cmp(report) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return self.words[mid * l + l - 1],
            }
        }
        0
    }

    /// The records whose first report word lies in `range` (binary search): for oracles that
    /// look up the reports of one block or one hash seed.
    pub fn records_in(&self, range: std::ops::Range<u64>) -> impl Iterator<Item = (&[u64], u64)> {
        let l = self.record_len.max(1) as usize;
        let n = self.words.len() / l;
        let first = |x: u64| {
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if self.words[mid * l] < x {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let (a, b) = (first(range.start), first(range.end));
        self.words[a * l..b * l]
            .chunks_exact(l)
            .map(move |r| (&r[..l - 1], r[l - 1]))
    }

    /// Check the structure of the state against what its oracle expects: its kind, its
    /// length (`len` counters for counts), and for a report multiset `report_len + 1`-word
    /// records sorted strictly by report with multiplicities ≥ 1 that add up to the report
    /// count. The error names the oracle.
    pub fn check(&self, kind: StateKind, len: u64, report_len: u32) -> Result<(), RError> {
        let bad = |why: String| {
            Err(RError::input(format!(
                "malformed server state of {}: {why}",
                self.oracle
            )))
        };
        if self.kind != kind {
            return bad(format!(
                "it holds {:?} but the oracle keeps {:?}",
                self.kind, kind
            ));
        }
        match kind {
            StateKind::Counts => {
                if self.words.len() as u64 != len {
                    return bad(format!(
                        "{} counters, the oracle keeps {len}",
                        self.words.len()
                    ));
                }
            }
            StateKind::Reports => {
                if self.record_len != report_len + 1 {
                    return bad(format!(
                        "records of {} words, the oracle's reports are {report_len} words",
                        self.record_len
                    ));
                }
                let l = self.record_len as usize;
                if !self.words.len().is_multiple_of(l) {
                    return bad(format!(
                        "{} words do not split into records of {l}",
                        self.words.len()
                    ));
                }
                let mut total = 0u64;
                let mut last: Option<&[u64]> = None;
                for (i, (r, m)) in self.records().enumerate() {
                    if m == 0 {
                        return bad(format!("record {i} has multiplicity 0"));
                    }
                    if last.is_some_and(|p| p >= r) {
                        return bad(format!("record {i} is out of order or repeated"));
                    }
                    last = Some(r);
                    total = match total.checked_add(m) {
                        Some(t) => t,
                        None => return bad("multiplicities overflow".into()),
                    };
                }
                if total != self.reports {
                    return bad(format!(
                        "the records hold {total} reports, the state says {}",
                        self.reports
                    ));
                }
            }
        }
        Ok(())
    }

    /// Merge `other` into this state: afterwards it is the state of both sets of reports.
    /// Both must belong to the same oracle and have the same layout; the error names the
    /// oracles. Commutative and associative, bit for bit.
    pub fn merge(&mut self, other: &State) -> Result<(), RError> {
        if self.oracle != other.oracle {
            return Err(RError::input(format!(
                "cannot merge a server state of {} into one of {}",
                other.oracle, self.oracle
            )));
        }
        if self.kind != other.kind
            || self.record_len != other.record_len
            || (self.kind == StateKind::Counts && self.words.len() != other.words.len())
        {
            return Err(RError::input(format!(
                "cannot merge server states of {} with different layouts ({:?}, {} words vs {:?}, {} words)",
                self.oracle,
                self.kind,
                self.words.len(),
                other.kind,
                other.words.len()
            )));
        }
        let reports = self.reports.checked_add(other.reports).ok_or_else(|| {
            RError::input(format!(
                "report count overflows merging states of {}",
                self.oracle
            ))
        })?;
        match self.kind {
            StateKind::Counts => {
                let mut sum = Vec::with_capacity(self.words.len());
                for (a, b) in self.words.iter().zip(other.words.iter()) {
                    sum.push(a.checked_add(*b).ok_or_else(|| {
                        RError::input(format!(
                            "a counter overflows merging states of {}",
                            self.oracle
                        ))
                    })?);
                }
                self.words = sum.into();
            }
            StateKind::Reports => {
                let l = self.record_len as usize;
                let a: Vec<&[u64]> = self.words.chunks_exact(l).collect();
                let b: Vec<&[u64]> = other.words.chunks_exact(l).collect();
                let mut out = Vec::with_capacity(self.words.len() + other.words.len());
                let (mut i, mut j) = (0, 0);
                while i < a.len() || j < b.len() {
                    let order = match (a.get(i), b.get(j)) {
                        (Some(x), Some(y)) => x[..l - 1].cmp(&y[..l - 1]),
                        (Some(_), None) => Ordering::Less,
                        _ => Ordering::Greater,
                    };
                    match order {
                        Ordering::Less => {
                            out.extend_from_slice(a[i]);
                            i += 1;
                        }
                        Ordering::Greater => {
                            out.extend_from_slice(b[j]);
                            j += 1;
                        }
                        Ordering::Equal => {
                            out.extend_from_slice(&a[i][..l - 1]);
                            out.push(a[i][l - 1].checked_add(b[j][l - 1]).ok_or_else(|| {
                                RError::input(format!(
                                    "a multiplicity overflows merging states of {}",
                                    self.oracle
                                ))
                            })?);
                            i += 1;
                            j += 1;
                        }
                    }
                }
                self.words = out.into();
            }
        }
        self.reports = reports;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamMap;

    fn id(eps: f64) -> OracleId {
        OracleId::new("toy", ParamMap::new().with("epsilon", eps))
    }

    #[test]
    fn report_multisets_merge_in_any_order_and_split() {
        let data: Vec<u64> = vec![5, 1, 3, 9, 2, 7, 2, 7, 5, 1, 5, 1];
        let whole = State::from_reports(id(1.0), 2, &data);
        assert_eq!(whole.reports, 6);
        whole.check(StateKind::Reports, 0, 2).unwrap();
        let recs: Vec<(Vec<u64>, u64)> = whole.records().map(|(r, m)| (r.to_vec(), m)).collect();
        assert_eq!(
            recs,
            vec![(vec![2, 7], 2), (vec![3, 9], 1), (vec![5, 1], 3)]
        );
        for split in [0, 2, 4, 6, 8, 10, 12] {
            let mut a = State::from_reports(id(1.0), 2, &data[..split]);
            let b = State::from_reports(id(1.0), 2, &data[split..]);
            let mut c = b.clone();
            a.merge(&b).unwrap();
            c.merge(&State::from_reports(id(1.0), 2, &data[..split]))
                .unwrap();
            assert_eq!(a, whole);
            assert_eq!(c, whole);
        }
    }

    #[test]
    fn counts_merge_by_addition_and_refuse_other_oracles() {
        let mut a = State::empty(id(1.0), StateKind::Counts, 3, 1);
        a.words = vec![1, 2, 3].into();
        a.reports = 6;
        let mut b = a.clone();
        b.merge(&a).unwrap();
        assert_eq!(b.words.as_slice(), &[2, 4, 6]);
        assert_eq!(b.reports, 12);
        let other = State::empty(id(2.0), StateKind::Counts, 3, 1);
        let e = b.merge(&other).unwrap_err();
        assert!(
            e.message().contains("epsilon = 2") && e.message().contains("epsilon = 1"),
            "{e}"
        );
        let short = State::empty(id(1.0), StateKind::Counts, 2, 1);
        assert!(b.merge(&short).is_err());
        assert!(b.check(StateKind::Counts, 4, 1).is_err());
        b.check(StateKind::Counts, 3, 1).unwrap();
    }

    #[test]
    fn malformed_multisets_are_named() {
        let mut s = State::from_reports(id(1.0), 1, &[4, 4, 2]);
        s.check(StateKind::Reports, 0, 1).unwrap();
        s.words = vec![4, 2, 2, 1].into();
        let e = s.check(StateKind::Reports, 0, 1).unwrap_err();
        assert!(e.message().contains("out of order") && e.message().contains("`toy`"));
        s.words = vec![2, 0, 4, 3].into();
        assert!(s.check(StateKind::Reports, 0, 1).is_err());
        s.words = vec![2, 1, 4, 2].into();
        assert_eq!(s.multiplicity(&[4]), 2);
        assert_eq!(s.multiplicity(&[3]), 0);
        assert_eq!(s.records_in(3..9).count(), 1);
        s.words = vec![2, 1, 4, 1].into();
        assert!(s
            .check(StateKind::Reports, 0, 1)
            .unwrap_err()
            .message()
            .contains("3"));
    }
}
