use std::fmt;

use abi_stable::{
    std_types::{ROption, RString, RVec},
    StableAbi,
};

use crate::RError;

/// A parameter value as it crosses the ABI.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// A real number.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A flag.
    Bool(bool),
    /// A string.
    Str(RString),
    /// A list of reals (e.g. a per-layer gradient, a vector of weights).
    F64List(RVec<f64>),
}

impl ParamValue {
    /// The kind of this value.
    pub fn kind(&self) -> ParamKind {
        match self {
            ParamValue::F64(_) => ParamKind::F64,
            ParamValue::I64(_) => ParamKind::I64,
            ParamValue::Bool(_) => ParamKind::Bool,
            ParamValue::Str(_) => ParamKind::Str,
            ParamValue::F64List(_) => ParamKind::F64List,
        }
    }

    /// The value as a real: `F64`, or an `I64` widened.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            ParamValue::F64(v) => Some(v),
            ParamValue::I64(v) => Some(v as f64),
            _ => None,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::F64(v) => write!(f, "{v}"),
            ParamValue::I64(v) => write!(f, "{v}"),
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::Str(v) => write!(f, "{v:?}"),
            ParamValue::F64List(v) => write!(f, "{:?}", v.as_slice()),
        }
    }
}

impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::F64(v)
    }
}
impl From<i64> for ParamValue {
    fn from(v: i64) -> Self {
        ParamValue::I64(v)
    }
}
impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Bool(v)
    }
}
impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Str(v.into())
    }
}
impl From<String> for ParamValue {
    fn from(v: String) -> Self {
        ParamValue::Str(v.into())
    }
}
impl From<Vec<f64>> for ParamValue {
    fn from(v: Vec<f64>) -> Self {
        ParamValue::F64List(v.into())
    }
}

/// The kind of a parameter.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A real number (an integer is accepted and widened).
    F64,
    /// An integer.
    I64,
    /// A flag.
    Bool,
    /// A string.
    Str,
    /// A list of reals.
    F64List,
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamKind::F64 => "number",
            ParamKind::I64 => "integer",
            ParamKind::Bool => "boolean",
            ParamKind::Str => "string",
            ParamKind::F64List => "list of numbers",
        })
    }
}

/// Where a parameter is given. Merge methods distinguish per-model parameters (mergekit's
/// `models[i].parameters`, e.g. `weight`, `density`) from global ones (`normalize`, `t`);
/// every other family uses [`ParamScope::Global`] only.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamScope {
    /// One value for the whole call.
    Global,
    /// One value per input model.
    PerModel,
}

/// One declared parameter: name, kind, default (none = required), range and a doc line.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// The name, in the field's own words (`density`, `noise_multiplier`).
    pub name: RString,
    /// The kind of value.
    pub kind: ParamKind,
    /// Where it is given.
    pub scope: ParamScope,
    /// The default; `None` makes the parameter required.
    pub default: ROption<ParamValue>,
    /// Inclusive lower bound for numbers (and for every element of a list).
    pub min: ROption<f64>,
    /// Inclusive upper bound for numbers (and for every element of a list).
    pub max: ROption<f64>,
    /// One line for `--help` and the docs.
    pub doc: RString,
}

impl ParamSpec {
    fn new(name: &str, kind: ParamKind, default: Option<ParamValue>, doc: &str) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind,
            scope: ParamScope::Global,
            default: default.into(),
            min: ROption::RNone,
            max: ROption::RNone,
            doc: doc.into(),
        }
    }

    /// A real-valued parameter.
    pub fn f64(name: &str, default: Option<f64>, doc: &str) -> ParamSpec {
        ParamSpec::new(name, ParamKind::F64, default.map(ParamValue::F64), doc)
    }

    /// An integer parameter.
    pub fn i64(name: &str, default: Option<i64>, doc: &str) -> ParamSpec {
        ParamSpec::new(name, ParamKind::I64, default.map(ParamValue::I64), doc)
    }

    /// A boolean parameter.
    pub fn bool(name: &str, default: Option<bool>, doc: &str) -> ParamSpec {
        ParamSpec::new(name, ParamKind::Bool, default.map(ParamValue::Bool), doc)
    }

    /// A string parameter.
    pub fn str(name: &str, default: Option<&str>, doc: &str) -> ParamSpec {
        ParamSpec::new(name, ParamKind::Str, default.map(ParamValue::from), doc)
    }

    /// A list-of-reals parameter.
    pub fn f64_list(name: &str, default: Option<Vec<f64>>, doc: &str) -> ParamSpec {
        ParamSpec::new(name, ParamKind::F64List, default.map(ParamValue::from), doc)
    }

    /// Make the parameter per-model.
    pub fn per_model(mut self) -> ParamSpec {
        self.scope = ParamScope::PerModel;
        self
    }

    /// Set an inclusive range.
    pub fn range(mut self, min: f64, max: f64) -> ParamSpec {
        self.min = ROption::RSome(min);
        self.max = ROption::RSome(max);
        self
    }

    /// Set an inclusive lower bound.
    pub fn min(mut self, min: f64) -> ParamSpec {
        self.min = ROption::RSome(min);
        self
    }

    /// Check one value against this spec, converting an integer to a real where a real is
    /// expected. The error names the parameter.
    pub fn check(&self, value: &ParamValue) -> Result<ParamValue, RError> {
        let name = self.name.as_str();
        let value = match (self.kind, value) {
            (ParamKind::F64, ParamValue::I64(v)) => ParamValue::F64(*v as f64),
            (k, v) if v.kind() == k => v.clone(),
            (k, v) => {
                return Err(RError::param(
                    name,
                    format!("expected a {k}, got {} ({v})", v.kind()),
                ))
            }
        };
        let in_range = |x: f64| -> Result<(), RError> {
            if x.is_nan() {
                return Err(RError::param(name, "must not be NaN"));
            }
            if let ROption::RSome(lo) = self.min {
                if x < lo {
                    return Err(RError::param(
                        name,
                        format!("{x} is below the minimum {lo}"),
                    ));
                }
            }
            if let ROption::RSome(hi) = self.max {
                if x > hi {
                    return Err(RError::param(
                        name,
                        format!("{x} is above the maximum {hi}"),
                    ));
                }
            }
            Ok(())
        };
        match &value {
            ParamValue::F64(v) => in_range(*v)?,
            ParamValue::I64(v) => in_range(*v as f64)?,
            ParamValue::F64List(vs) => vs.iter().try_for_each(|v| in_range(*v))?,
            _ => {}
        }
        Ok(value)
    }
}

/// One entry of a [`ParamMap`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Param {
    /// The parameter name.
    pub key: RString,
    /// Its value.
    pub value: ParamValue,
}

/// A typed parameter map, kept sorted by key so that its layout (and anything hashed from it)
/// is deterministic.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq)]
pub struct ParamMap {
    entries: RVec<Param>,
}

impl ParamMap {
    /// An empty map.
    pub fn new() -> ParamMap {
        ParamMap::default()
    }

    /// Builder form of [`ParamMap::insert`].
    pub fn with(mut self, key: &str, value: impl Into<ParamValue>) -> ParamMap {
        self.insert(key, value);
        self
    }

    /// Insert or replace a value.
    pub fn insert(&mut self, key: &str, value: impl Into<ParamValue>) {
        let value = value.into();
        match self.entries.binary_search_by(|p| p.key.as_str().cmp(key)) {
            Ok(i) => self.entries[i].value = value,
            Err(i) => self.entries.insert(
                i,
                Param {
                    key: key.into(),
                    value,
                },
            ),
        }
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&ParamValue> {
        self.entries
            .binary_search_by(|p| p.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.entries[i].value)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.entries.iter().map(|p| (p.key.as_str(), &p.value))
    }

    fn required(&self, key: &str) -> Result<&ParamValue, RError> {
        self.get(key)
            .ok_or_else(|| RError::param(key, "is required but was not given"))
    }

    /// A real (an integer is widened); errors name the key.
    pub fn f64(&self, key: &str) -> Result<f64, RError> {
        let v = self.required(key)?;
        v.as_f64()
            .ok_or_else(|| RError::param(key, format!("expected a number, got {v}")))
    }

    /// An integer.
    pub fn i64(&self, key: &str) -> Result<i64, RError> {
        match self.required(key)? {
            ParamValue::I64(v) => Ok(*v),
            ParamValue::F64(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(*v as i64),
            v => Err(RError::param(key, format!("expected an integer, got {v}"))),
        }
    }

    /// A flag.
    pub fn bool(&self, key: &str) -> Result<bool, RError> {
        match self.required(key)? {
            ParamValue::Bool(v) => Ok(*v),
            v => Err(RError::param(key, format!("expected a boolean, got {v}"))),
        }
    }

    /// A string.
    pub fn str(&self, key: &str) -> Result<&str, RError> {
        match self.required(key)? {
            ParamValue::Str(v) => Ok(v.as_str()),
            v => Err(RError::param(key, format!("expected a string, got {v}"))),
        }
    }

    /// A list of reals (a single number is accepted as a one-element list).
    pub fn f64_list(&self, key: &str) -> Result<Vec<f64>, RError> {
        match self.required(key)? {
            ParamValue::F64List(v) => Ok(v.to_vec()),
            v => v
                .as_f64()
                .map(|x| vec![x])
                .ok_or_else(|| RError::param(key, format!("expected a list of numbers, got {v}"))),
        }
    }

    /// Validate `self` against `specs` of the given scope: unknown keys, wrong kinds, values
    /// out of range and missing required parameters are errors naming the key; defaults are
    /// filled in. Returns the resolved map.
    pub fn resolve(&self, specs: &[ParamSpec], scope: ParamScope) -> Result<ParamMap, RError> {
        let mut out = ParamMap::new();
        for (key, value) in self.iter() {
            let spec = specs
                .iter()
                .find(|s| s.name.as_str() == key && s.scope == scope)
                .ok_or_else(|| {
                    let known: Vec<&str> = specs
                        .iter()
                        .filter(|s| s.scope == scope)
                        .map(|s| s.name.as_str())
                        .collect();
                    RError::param(
                        key,
                        format!("unknown parameter (known: {})", known.join(", ")),
                    )
                })?;
            out.insert(key, spec.check(value)?);
        }
        for spec in specs.iter().filter(|s| s.scope == scope) {
            if !out.contains(&spec.name) {
                match &spec.default {
                    ROption::RSome(d) => out.insert(&spec.name, d.clone()),
                    ROption::RNone => {
                        return Err(RError::param(&spec.name, "is required but was not given"))
                    }
                }
            }
        }
        Ok(out)
    }
}

impl<K: AsRef<str>, V: Into<ParamValue>> FromIterator<(K, V)> for ParamMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> ParamMap {
        let mut m = ParamMap::new();
        for (k, v) in iter {
            m.insert(k.as_ref(), v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::f64("weight", None, "w").per_model(),
            ParamSpec::f64("density", Some(1.0), "d")
                .per_model()
                .range(0.0, 1.0),
            ParamSpec::bool("normalize", Some(true), "n"),
        ]
    }

    #[test]
    fn resolve_fills_defaults_and_widens() {
        let m = ParamMap::new().with("weight", 2i64);
        let r = m.resolve(&specs(), ParamScope::PerModel).unwrap();
        assert_eq!(r.f64("weight").unwrap(), 2.0);
        assert_eq!(r.f64("density").unwrap(), 1.0);
        let g = ParamMap::new()
            .resolve(&specs(), ParamScope::Global)
            .unwrap();
        assert!(g.bool("normalize").unwrap());
    }

    #[test]
    fn resolve_errors_name_the_key() {
        let e = ParamMap::new()
            .resolve(&specs(), ParamScope::PerModel)
            .unwrap_err();
        assert!(e.message().contains("`weight`"), "{e}");
        let e = ParamMap::new()
            .with("weight", 1.0)
            .with("density", 1.5)
            .resolve(&specs(), ParamScope::PerModel)
            .unwrap_err();
        assert!(
            e.message().contains("`density`") && e.message().contains("maximum"),
            "{e}"
        );
        let e = ParamMap::new()
            .with("wieght", 1.0)
            .resolve(&specs(), ParamScope::PerModel)
            .unwrap_err();
        assert!(e.message().contains("`wieght`"), "{e}");
        let e = ParamMap::new()
            .with("normalize", "yes")
            .resolve(&specs(), ParamScope::Global)
            .unwrap_err();
        assert!(e.message().contains("boolean"), "{e}");
    }

    #[test]
    fn map_is_sorted_and_replaces() {
        let m = ParamMap::new().with("b", 1.0).with("a", 2.0).with("b", 3.0);
        let keys: Vec<&str> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(m.f64("b").unwrap(), 3.0);
    }
}
