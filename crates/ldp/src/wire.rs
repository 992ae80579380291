//! The two things that travel between programs: a batch of reports from clients
//! ([`ReportBatch`]) and a server's aggregate ([`ServerState`]). Each has a serde JSON form
//! and a compact binary form, and each names the oracle and parameters it belongs to, so a
//! server refuses a foreign one with an error naming both.
//!
//! Binary forms (little endian):
//!
//! - report batch: `MLDPREP1`, a `u32` header length, the header as JSON (`oracle`, `params`,
//!   `report_len`, `report_bits`, `count`), a `u64` payload length, then the reports packed
//!   in `report_bits` bits each (least significant bit first, padded to a byte). A GRR report
//!   over 1 024 items takes 10 bits; an OLH report a 32-bit seed and `⌈log₂ g⌉` bits.
//! - server state: `MLDPSTA1`, a `u32` header length, the header as JSON (`oracle`, `params`,
//!   `kind`, `record_len`, `reports`, `words`), then the `words` as `u64`s.
//!
//! Several batches or states can be concatenated in one stream ([`ReportBatch::read_all`],
//! [`ServerState::read_all`]); JSON and binary are told apart by their first byte.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};

use mosaic_abi::{OracleId, OracleLayout, ParamMap, ParamValue, Reports, State, StateKind};
use serde::{Deserialize, Serialize};

use crate::{bits, LdpError, Result};

const BATCH_MAGIC: &[u8; 8] = b"MLDPREP1";
const STATE_MAGIC: &[u8; 8] = b"MLDPSTA1";
/// Headers are small; a larger one is a corrupt stream, not a reason to allocate.
const MAX_HEADER: u32 = 1 << 20;

/// A parameter value in JSON, tagged with its kind so that it converts back to the same
/// [`ParamValue`] (`{"f64": 1.0}`, `{"i64": 4}`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamJson {
    /// A real.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A flag.
    Bool(bool),
    /// A string.
    Str(String),
    /// A list of reals.
    F64List(Vec<f64>),
}

impl From<&ParamValue> for ParamJson {
    fn from(v: &ParamValue) -> ParamJson {
        match v {
            ParamValue::F64(x) => ParamJson::F64(*x),
            ParamValue::I64(x) => ParamJson::I64(*x),
            ParamValue::Bool(x) => ParamJson::Bool(*x),
            ParamValue::Str(x) => ParamJson::Str(x.to_string()),
            ParamValue::F64List(x) => ParamJson::F64List(x.to_vec()),
        }
    }
}

impl From<&ParamJson> for ParamValue {
    fn from(v: &ParamJson) -> ParamValue {
        match v {
            ParamJson::F64(x) => ParamValue::F64(*x),
            ParamJson::I64(x) => ParamValue::I64(*x),
            ParamJson::Bool(x) => ParamValue::Bool(*x),
            ParamJson::Str(x) => ParamValue::from(x.as_str()),
            ParamJson::F64List(x) => ParamValue::from(x.clone()),
        }
    }
}

fn params_json(p: &ParamMap) -> BTreeMap<String, ParamJson> {
    p.iter()
        .map(|(k, v)| (k.to_string(), ParamJson::from(v)))
        .collect()
}

fn param_map(p: &BTreeMap<String, ParamJson>) -> ParamMap {
    p.iter().map(|(k, v)| (k, ParamValue::from(v))).collect()
}

fn malformed(what: &'static str, reason: impl Into<String>) -> LdpError {
    LdpError::Malformed {
        what,
        reason: reason.into(),
    }
}

/// An owned batch of reports as it travels from clients to a server.
///
/// JSON form:
/// `{"oracle":"grr","params":{"domain_size":{"i64":4},"epsilon":{"f64":1.0}},"report_len":1,"report_bits":2,"data":[2,0,3]}`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportBatch {
    /// The oracle that produced the reports (`grr`).
    pub oracle: String,
    /// Its parameters, resolved (defaults filled in), by name.
    pub params: BTreeMap<String, ParamJson>,
    /// Words per report.
    pub report_len: u32,
    /// Bits of information per report (the packed size on the wire).
    pub report_bits: u32,
    /// The words, report after report.
    pub data: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct BatchHeader {
    oracle: String,
    params: BTreeMap<String, ParamJson>,
    report_len: u32,
    report_bits: u32,
    count: u64,
}

impl ReportBatch {
    /// A batch from an oracle's reports and its layout.
    pub fn new(reports: Reports, layout: &OracleLayout) -> ReportBatch {
        ReportBatch {
            oracle: reports.oracle.name.to_string(),
            params: params_json(&reports.oracle.params),
            report_len: reports.report_len,
            report_bits: layout.report_bits,
            data: reports.data.into_vec(),
        }
    }

    /// The oracle (name and parameters) the batch belongs to.
    pub fn id(&self) -> OracleId {
        OracleId::new(&self.oracle, param_map(&self.params))
    }

    /// Check that the words split into whole reports whose bits fit in `report_bits`.
    pub fn validate(&self) -> Result<()> {
        let what = "report batch";
        if self.report_len == 0 {
            return Err(malformed(what, "report_len is 0"));
        }
        if self.report_bits as u64 > 64 * self.report_len as u64 {
            return Err(malformed(
                what,
                format!(
                    "{} bits do not fit in {} words",
                    self.report_bits, self.report_len
                ),
            ));
        }
        if !self.data.len().is_multiple_of(self.report_len as usize) {
            return Err(malformed(
                what,
                format!(
                    "{} words do not split into reports of {} words",
                    self.data.len(),
                    self.report_len
                ),
            ));
        }
        Ok(())
    }

    /// Number of reports.
    pub fn len(&self) -> usize {
        match self.report_len {
            0 => 0,
            l => self.data.len() / l as usize,
        }
    }

    /// Whether the batch holds no report.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The reports as the ABI type (moves the words).
    pub fn into_reports(self) -> Reports {
        Reports {
            oracle: self.id(),
            report_len: self.report_len,
            data: self.data.into(),
        }
    }

    /// The reports as the ABI type (copies the words).
    pub fn to_reports(&self) -> Reports {
        self.clone().into_reports()
    }

    /// Serialize to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ReportBatch always serializes")
    }

    /// Parse JSON written by [`ReportBatch::to_json`], and [validate](ReportBatch::validate) it.
    pub fn from_json(json: &str) -> Result<ReportBatch> {
        let batch: ReportBatch = serde_json::from_str(json)?;
        batch.validate()?;
        Ok(batch)
    }

    /// The compact binary form.
    pub fn to_binary(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&BatchHeader {
            oracle: self.oracle.clone(),
            params: self.params.clone(),
            report_len: self.report_len,
            report_bits: self.report_bits,
            count: self.len() as u64,
        })
        .expect("a header always serializes");
        let payload = bits::pack(
            &self.data,
            self.report_len as usize,
            self.report_bits as usize,
        );
        let mut out = Vec::with_capacity(24 + header.len() + payload.len());
        out.extend_from_slice(BATCH_MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Parse one batch in the binary form (the whole of `bytes`).
    pub fn from_binary(bytes: &[u8]) -> Result<ReportBatch> {
        let mut r = bytes;
        let b = ReportBatch::read_binary(&mut r)?
            .ok_or_else(|| malformed("report batch", "empty input"))?;
        if !r.is_empty() {
            return Err(malformed(
                "report batch",
                format!("{} bytes after the batch", r.len()),
            ));
        }
        Ok(b)
    }

    /// Write the binary form.
    pub fn write_binary(&self, w: &mut impl Write) -> Result<()> {
        w.write_all(&self.to_binary())?;
        Ok(())
    }

    /// Read one binary batch, or `None` at the end of the stream.
    pub fn read_binary(r: &mut (impl Read + ?Sized)) -> Result<Option<ReportBatch>> {
        let what = "report batch";
        let Some(header) = read_header(r, BATCH_MAGIC, what)? else {
            return Ok(None);
        };
        let h: BatchHeader =
            serde_json::from_slice(&header).map_err(|e| malformed(what, format!("header: {e}")))?;
        let len = read_u64(r, what)?;
        let need = (h.count as u128 * h.report_bits as u128).div_ceil(8);
        if len as u128 != need {
            return Err(malformed(
                what,
                format!(
                    "payload of {len} bytes, {} reports of {} bits take {need}",
                    h.count, h.report_bits
                ),
            ));
        }
        let payload = read_exact_vec(r, len, what)?;
        let data = bits::unpack(
            &payload,
            h.count as usize,
            h.report_len as usize,
            h.report_bits as usize,
        )
        .map_err(|e| malformed(what, e))?;
        let batch = ReportBatch {
            oracle: h.oracle,
            params: h.params,
            report_len: h.report_len,
            report_bits: h.report_bits,
            data,
        };
        batch.validate()?;
        Ok(Some(batch))
    }

    /// Read every batch of a stream: binary batches and JSON batches, concatenated.
    pub fn read_all(r: &mut impl BufRead) -> Result<Vec<ReportBatch>> {
        let mut out = Vec::new();
        loop {
            match peek_kind(r)? {
                None => return Ok(out),
                Some(true) => out.extend(ReportBatch::read_binary(r)?),
                Some(false) => {
                    let b: ReportBatch = read_json_value(r)?;
                    b.validate()?;
                    out.push(b);
                }
            }
        }
    }
}

/// A server's aggregate as it is saved and moved between programs (`mosaic ldp merge-state`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// The oracle whose reports were aggregated.
    pub oracle: String,
    /// Its parameters, resolved, by name.
    pub params: BTreeMap<String, ParamJson>,
    /// `counts` or `reports` (see [`StateKind`]).
    pub kind: String,
    /// Words per record of a report multiset, 0 for counts.
    pub record_len: u32,
    /// Number of reports aggregated.
    pub reports: u64,
    /// The counters or records.
    pub words: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct StateHeader {
    oracle: String,
    params: BTreeMap<String, ParamJson>,
    kind: String,
    record_len: u32,
    reports: u64,
    words: u64,
}

fn kind_name(k: StateKind) -> &'static str {
    match k {
        StateKind::Counts => "counts",
        StateKind::Reports => "reports",
    }
}

impl ServerState {
    /// The saved form of a state.
    pub fn new(state: State) -> ServerState {
        ServerState {
            oracle: state.oracle.name.to_string(),
            params: params_json(&state.oracle.params),
            kind: kind_name(state.kind).to_string(),
            record_len: state.record_len,
            reports: state.reports,
            words: state.words.into_vec(),
        }
    }

    /// The oracle (name and parameters) the state belongs to.
    pub fn id(&self) -> OracleId {
        OracleId::new(&self.oracle, param_map(&self.params))
    }

    /// The state as the ABI type.
    pub fn into_state(self) -> Result<State> {
        let kind = match self.kind.as_str() {
            "counts" => StateKind::Counts,
            "reports" => StateKind::Reports,
            other => {
                return Err(malformed(
                    "server state",
                    format!("kind `{other}` is neither `counts` nor `reports`"),
                ))
            }
        };
        Ok(State {
            oracle: self.id(),
            kind,
            record_len: self.record_len,
            reports: self.reports,
            words: self.words.into(),
        })
    }

    /// Serialize to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ServerState always serializes")
    }

    /// Parse JSON written by [`ServerState::to_json`].
    pub fn from_json(json: &str) -> Result<ServerState> {
        Ok(serde_json::from_str(json)?)
    }

    /// The binary form.
    pub fn to_binary(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&StateHeader {
            oracle: self.oracle.clone(),
            params: self.params.clone(),
            kind: self.kind.clone(),
            record_len: self.record_len,
            reports: self.reports,
            words: self.words.len() as u64,
        })
        .expect("a header always serializes");
        let mut out = Vec::with_capacity(12 + header.len() + 8 * self.words.len());
        out.extend_from_slice(STATE_MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Read one binary state, or `None` at the end of the stream.
    pub fn read_binary(r: &mut (impl Read + ?Sized)) -> Result<Option<ServerState>> {
        let what = "server state";
        let Some(header) = read_header(r, STATE_MAGIC, what)? else {
            return Ok(None);
        };
        let h: StateHeader =
            serde_json::from_slice(&header).map_err(|e| malformed(what, format!("header: {e}")))?;
        let bytes = h
            .words
            .checked_mul(8)
            .ok_or_else(|| malformed(what, "word count overflows"))?;
        let payload = read_exact_vec(r, bytes, what)?;
        let words = payload
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(Some(ServerState {
            oracle: h.oracle,
            params: h.params,
            kind: h.kind,
            record_len: h.record_len,
            reports: h.reports,
            words,
        }))
    }

    /// Read every state of a stream (binary or JSON, concatenated).
    pub fn read_all(r: &mut impl BufRead) -> Result<Vec<ServerState>> {
        let mut out = Vec::new();
        loop {
            match peek_kind(r)? {
                None => return Ok(out),
                Some(true) => out.extend(ServerState::read_binary(r)?),
                Some(false) => out.push(read_json_value(r)?),
            }
        }
    }
}

/// `None` at the end of the stream, `Some(true)` for a binary item, `Some(false)` for JSON
/// (leading whitespace skipped).
fn peek_kind(r: &mut impl BufRead) -> Result<Option<bool>> {
    loop {
        let buf = r.fill_buf()?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        if b.is_ascii_whitespace() {
            r.consume(1);
            continue;
        }
        return Ok(Some(b == b'M'));
    }
}

fn read_json_value<T: serde::de::DeserializeOwned>(r: &mut impl BufRead) -> Result<T> {
    // One JSON value, without reading past it (a binary item may follow).
    let mut de = serde_json::Deserializer::from_reader(r);
    Ok(T::deserialize(&mut de)?)
}

fn read_header(
    r: &mut (impl Read + ?Sized),
    magic: &[u8; 8],
    what: &'static str,
) -> Result<Option<Vec<u8>>> {
    let mut m = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        let k = r.read(&mut m[got..])?;
        if k == 0 {
            break;
        }
        got += k;
    }
    if got == 0 {
        return Ok(None);
    }
    if got < 8 || &m != magic {
        return Err(malformed(
            what,
            format!(
                "expected the magic {:?}, found {:?}",
                String::from_utf8_lossy(magic),
                String::from_utf8_lossy(&m[..got])
            ),
        ));
    }
    let mut l = [0u8; 4];
    r.read_exact(&mut l)
        .map_err(|_| malformed(what, "truncated header length"))?;
    let len = u32::from_le_bytes(l);
    if len > MAX_HEADER {
        return Err(malformed(what, format!("header of {len} bytes")));
    }
    Ok(Some(read_exact_vec(r, len as u64, what)?))
}

fn read_u64(r: &mut (impl Read + ?Sized), what: &'static str) -> Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)
        .map_err(|_| malformed(what, "truncated length"))?;
    Ok(u64::from_le_bytes(b))
}

fn read_exact_vec(r: &mut (impl Read + ?Sized), len: u64, what: &'static str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let got = r.take(len).read_to_end(&mut out)?;
    if got as u64 != len {
        return Err(malformed(what, format!("truncated: {got} of {len} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> ReportBatch {
        ReportBatch {
            oracle: "olh".into(),
            params: params_json(
                &ParamMap::new()
                    .with("epsilon", 0.1 + 0.2)
                    .with("domain_size", 8i64),
            ),
            report_len: 1,
            report_bits: 34,
            data: vec![(7 << 2) | 3, (u32::MAX as u64) << 2, 1],
        }
    }

    #[test]
    fn batches_round_trip_through_json_and_binary_in_one_stream() {
        let b = batch();
        assert_eq!(ReportBatch::from_json(&b.to_json()).unwrap(), b);
        let bin = b.to_binary();
        assert_eq!(ReportBatch::from_binary(&bin).unwrap(), b);
        // 3 reports of 34 bits: a 13-byte payload after its length.
        let tail = &bin[bin.len() - 21..];
        assert_eq!(u64::from_le_bytes(tail[..8].try_into().unwrap()), 13);
        let mut stream = bin.clone();
        stream.extend_from_slice(b.to_json().as_bytes());
        stream.extend_from_slice(b"\n");
        stream.extend_from_slice(&bin);
        let all = ReportBatch::read_all(&mut stream.as_slice()).unwrap();
        assert_eq!(all, vec![b.clone(), b.clone(), b]);
    }

    #[test]
    fn truncated_or_corrupt_binary_is_an_error() {
        let bin = batch().to_binary();
        for cut in [3, 10, bin.len() - 1] {
            let e = ReportBatch::from_binary(&bin[..cut]).unwrap_err();
            assert!(matches!(e, LdpError::Malformed { .. }), "cut {cut}: {e}");
        }
        let mut bad = bin.clone();
        bad[0] = b'X';
        assert!(ReportBatch::from_binary(&bad)
            .unwrap_err()
            .to_string()
            .contains("magic"));
    }

    #[test]
    fn states_round_trip() {
        let s = ServerState {
            oracle: "grr".into(),
            params: params_json(&ParamMap::new().with("epsilon", 1.0)),
            kind: "counts".into(),
            record_len: 0,
            reports: 6,
            words: vec![1, 2, 3],
        };
        let mut stream = s.to_binary();
        stream.extend_from_slice(s.to_json().as_bytes());
        let all = ServerState::read_all(&mut stream.as_slice()).unwrap();
        assert_eq!(all, vec![s.clone(), s.clone()]);
        let st = s.into_state().unwrap();
        assert_eq!(st.kind, StateKind::Counts);
        assert_eq!(ServerState::new(st).words, vec![1, 2, 3]);
    }
}
