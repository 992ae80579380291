use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{LdpError, ParamMap, ParamValue, Reports, Result};

/// A parameter value in a [`ReportBatch`]'s JSON, tagged with its kind so that it converts
/// back to the same [`ParamValue`] (`{"f64": 1.0}`, `{"i64": 4}`, ...).
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

/// An owned batch of reports as it travels from a client to a server: the oracle's name, its
/// resolved parameters, and the reports ([`Reports`]: `report_len` words per report).
///
/// JSON form:
/// `{"oracle":"grr","params":{"domain_size":{"i64":4},"epsilon":{"f64":1.0}},"report_len":1,"data":[2,0,3]}`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportBatch {
    /// The oracle that produced the reports (`grr`).
    pub oracle: String,
    /// Its parameters, resolved (defaults filled in), by name.
    pub params: BTreeMap<String, ParamJson>,
    /// Words per report.
    pub report_len: u32,
    /// The words, report after report.
    pub data: Vec<u64>,
}

impl ReportBatch {
    /// A batch from an oracle's name, its parameters and its reports.
    pub fn new(oracle: &str, params: &ParamMap, reports: Reports) -> ReportBatch {
        ReportBatch {
            oracle: oracle.to_string(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), ParamJson::from(v)))
                .collect(),
            report_len: reports.report_len,
            data: reports.data.into_vec(),
        }
    }

    /// The parameters as a [`ParamMap`].
    pub fn param_map(&self) -> ParamMap {
        self.params
            .iter()
            .map(|(k, v)| (k, ParamValue::from(v)))
            .collect()
    }

    /// Check that the words split into whole reports.
    pub fn validate(&self) -> Result<()> {
        if self.report_len == 0 {
            if self.data.is_empty() {
                return Ok(());
            }
            return Err(LdpError::MalformedBatch(format!(
                "report_len is 0 but the batch holds {} words",
                self.data.len()
            )));
        }
        if self.len() * self.report_len as usize != self.data.len() {
            return Err(LdpError::MalformedBatch(format!(
                "{} words do not split into reports of {} words",
                self.data.len(),
                self.report_len
            )));
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

    /// The reports as the ABI type (copies the words).
    pub fn to_reports(&self) -> Reports {
        Reports {
            report_len: self.report_len,
            data: self.data.clone().into(),
        }
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
}

/// `grr(domain_size = 4, epsilon = 1)`: how a mismatch error names an oracle.
pub(crate) struct OracleLabel<'a>(pub &'a str, pub &'a ParamMap);

impl fmt::Display for OracleLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`(", self.0)?;
        for (i, (k, v)) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k} = {v}")?;
        }
        f.write_str(")")
    }
}
