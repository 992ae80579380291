//! The merge config: mergekit 0.1.5's YAML schema (`merge_method`, `base_model`, `models`,
//! `slices`, `parameters`, `dtype`, `out_dtype`, `tokenizer_source`, `tokenizer`,
//! `chat_template`), with unknown keys rejected instead of silently ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use mosaic_tensor::DType;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{config_err, io_err, MergeError, Result};

/// A scalar parameter value as YAML spells it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real.
    Float(f64),
    /// A string (mergekit also reads numbers written as strings, e.g. `"1e-3"`).
    Str(String),
}

impl Scalar {
    /// The value as a real, if it is a number (or a string that parses as one).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(v) => Some(*v as f64),
            Scalar::Float(v) => Some(*v),
            Scalar::Str(s) => s.trim().parse().ok(),
            Scalar::Bool(_) => None,
        }
    }

    fn is_number(&self) -> bool {
        matches!(self, Scalar::Int(_) | Scalar::Float(_))
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(v) => write!(f, "{v}"),
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::Float(v) => write!(f, "{v}"),
            Scalar::Str(v) => write!(f, "{v:?}"),
        }
    }
}

/// One entry of a conditional parameter: `{filter: <substring>, value: ...}`. An entry
/// without `filter` (or with `filter: "*"`) matches every tensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Condition {
    /// Substring of the tensor name this entry applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The value: a scalar or a gradient.
    pub value: ParameterSetting,
}

/// A parameter value as written in the config (mergekit's `ParameterSetting`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParameterSetting {
    /// One value for every tensor.
    Scalar(Scalar),
    /// A gradient: values interpolated piecewise-linearly across the layers.
    Gradient(Vec<Scalar>),
    /// Conditions tried in order; the first whose filter matches wins.
    Conditions(Vec<Condition>),
}

fn yaml_scalar(v: &serde_yaml::Value) -> Option<Scalar> {
    use serde_yaml::Value as V;
    match v {
        V::Bool(b) => Some(Scalar::Bool(*b)),
        V::Number(n) => n
            .as_i64()
            .map(Scalar::Int)
            .or_else(|| n.as_f64().map(Scalar::Float)),
        V::String(s) => Some(Scalar::Str(s.clone())),
        _ => None,
    }
}

impl ParameterSetting {
    /// Read a setting from YAML: a scalar, a list of scalars (a gradient), a `{filter, value}`
    /// mapping, or a list of such mappings.
    pub fn from_yaml(v: &serde_yaml::Value) -> std::result::Result<ParameterSetting, String> {
        use serde_yaml::Value as V;
        if let Some(s) = yaml_scalar(v) {
            return Ok(ParameterSetting::Scalar(s));
        }
        match v {
            V::Sequence(items) => {
                if let Some(scalars) = items.iter().map(yaml_scalar).collect::<Option<Vec<_>>>() {
                    return Ok(ParameterSetting::Gradient(scalars));
                }
                let conds = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| condition(item).map_err(|e| format!("entry {i}: {e}")))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(ParameterSetting::Conditions(conds))
            }
            V::Mapping(_) => Ok(ParameterSetting::Conditions(vec![condition(v)?])),
            V::Tagged(t) => ParameterSetting::from_yaml(&t.value),
            _ => Err(
                "expected a number, boolean, string, list (gradient) or {filter, value} conditions"
                    .into(),
            ),
        }
    }

    fn numbers(&self, out: &mut Vec<f64>) {
        match self {
            ParameterSetting::Scalar(s) => out.extend(s.as_f64()),
            ParameterSetting::Gradient(v) => out.extend(v.iter().filter_map(Scalar::as_f64)),
            ParameterSetting::Conditions(c) => c.iter().for_each(|c| c.value.numbers(out)),
        }
    }
}

fn condition(v: &serde_yaml::Value) -> std::result::Result<Condition, String> {
    let map = v
        .as_mapping()
        .ok_or("a list mixing scalars and {filter, value} conditions")?;
    let mut filter = None;
    let mut value = None;
    for (k, val) in map {
        match k.as_str() {
            Some("filter") => {
                filter = match val {
                    serde_yaml::Value::Null => None,
                    _ => Some(val.as_str().ok_or("`filter` must be a string")?.to_string()),
                }
            }
            Some("value") => {
                let s = ParameterSetting::from_yaml(val)?;
                if matches!(s, ParameterSetting::Conditions(_)) {
                    return Err("a condition's `value` must be a scalar or a gradient".into());
                }
                value = Some(s);
            }
            other => {
                return Err(format!(
                    "unknown key `{}` in a condition (expected `filter`, `value`)",
                    other
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{k:?}"))
                ))
            }
        }
    }
    Ok(Condition {
        filter,
        value: value.ok_or("a condition needs a `value`")?,
    })
}

impl<'de> Deserialize<'de> for ParameterSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        ParameterSetting::from_yaml(&v).map_err(serde::de::Error::custom)
    }
}

/// A `parameters:` mapping.
pub type Parameters = BTreeMap<String, ParameterSetting>;

/// An entry of `models:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputModel {
    /// The model: a local folder (relative paths are resolved against the working folder).
    pub model: String,
    /// Per-model parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

/// A source of an output slice: a layer range of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSlice {
    /// The model.
    pub model: String,
    /// Half-open range of layer indices `[start, end)`.
    pub layer_range: [usize; 2],
    /// Parameters for this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

/// An entry of `slices:`: a run of output layers merged from equally long input ranges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSlice {
    /// The inputs.
    pub sources: Vec<InputSlice>,
    /// The base model for this slice (defaults to the top-level `base_model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model: Option<String>,
    /// Accepted for compatibility; mergekit 0.1.5 ignores it and so do we.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual_weight: Option<f64>,
    /// Parameters for every source of this slice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

/// mergekit's `tokenizer:` block. Only `source` (`base` or a model) is supported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// `base`, `union` or a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Extra tokens and their embeddings (not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<serde_yaml::Value>,
    /// Vocabulary padding (not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_to_multiple_of: Option<u64>,
}

/// A merge config, as mergekit's `MergeConfiguration`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// The merge method's name.
    pub merge_method: String,
    /// The base model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model: Option<String>,
    /// Whole models to merge (exclusive with `slices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<InputModel>>,
    /// Output slices (layer stacking, passthrough; exclusive with `models`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<Vec<OutputSlice>>,
    /// mergekit's multi-module syntax (not supported; rejected with a message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<serde_yaml::Value>,
    /// Parameters for every model and tensor (lowest precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// The dtype inputs are converted to before merging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// The dtype of the written tensors (defaults to `dtype`, then to the inputs' dtype).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dtype: Option<String>,
    /// Where the tokenizer comes from: `base` or a model (`union` is not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_source: Option<String>,
    /// mergekit's tokenizer block (only `source` is supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<TokenizerConfig>,
    /// A Jinja chat template written into the output's `tokenizer_config.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<String>,
    /// Mosaic extension: permutation alignment of each model to the base before merging.
    /// Only `weight_matching` (Git Re-Basin) is defined; see `crate::align`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<String>,
    /// The YAML text the config was read from (written to the output as
    /// `mergekit_config.yml`).
    #[serde(skip)]
    pub source_text: Option<String>,
}

/// Where the output tokenizer comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenizerSource {
    /// The base model, or the first model when there is none (mergekit's default).
    Donor,
    /// The base model (`tokenizer_source: base`).
    Base,
    /// A model folder, as written in the config.
    Model(String),
}

fn parse_dtype(key: &str, v: &Option<String>) -> Result<Option<DType>> {
    match v {
        None => Ok(None),
        Some(s) => match DType::parse(s) {
            Some(d) if d.is_float() => Ok(Some(d)),
            Some(d) => Err(config_err(
                key,
                format!("`{s}` ({d}) is not a floating-point dtype"),
            )),
            None => Err(config_err(
                key,
                format!("unknown dtype `{s}` (expected float32, float16, bfloat16 or float64)"),
            )),
        },
    }
}

impl MergeConfig {
    /// Parse and validate a YAML config. Unknown keys are errors naming the key.
    pub fn from_yaml(text: &str) -> Result<MergeConfig> {
        let mut cfg: MergeConfig = serde_yaml::from_str(text).map_err(|e| MergeError::Parse {
            file: None,
            line: e.location().map(|l| l.line()),
            column: e.location().map(|l| l.column()),
            message: e.to_string(),
        })?;
        cfg.source_text = Some(text.to_string());
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read, parse and validate a YAML config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<MergeConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        MergeConfig::from_yaml(&text).map_err(|e| match e {
            MergeError::Parse {
                line,
                column,
                message,
                ..
            } => MergeError::Parse {
                file: Some(path.to_path_buf()),
                line,
                column,
                message,
            },
            e => e,
        })
    }

    /// The config as YAML: the text it was read from, or a serialization.
    pub fn to_yaml(&self) -> String {
        match &self.source_text {
            Some(t) => t.clone(),
            None => serde_yaml::to_string(self).expect("a config always serializes"),
        }
    }

    /// The compute dtype (`dtype`).
    pub fn dtype(&self) -> Result<Option<DType>> {
        parse_dtype("dtype", &self.dtype)
    }

    /// The output dtype (`out_dtype`).
    pub fn out_dtype(&self) -> Result<Option<DType>> {
        parse_dtype("out_dtype", &self.out_dtype)
    }

    /// Every model the config names (base first, then `models`/`slices` in order), each once.
    pub fn referenced_models(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |m: &str| {
            if !out.iter().any(|o| o == m) {
                out.push(m.to_string());
            }
        };
        if let Some(b) = &self.base_model {
            add(b);
        }
        for m in self.models.iter().flatten() {
            add(&m.model);
        }
        for s in self.slices.iter().flatten() {
            if let Some(b) = &s.base_model {
                add(b);
            }
            for src in &s.sources {
                add(&src.model);
            }
        }
        out
    }

    /// The model whose `config.json` (and, by default, tokenizer) the output takes: the base
    /// model, else the first model.
    pub fn donor_model(&self) -> Option<String> {
        self.base_model.clone().or_else(|| {
            self.models
                .as_ref()
                .and_then(|m| m.first().map(|m| m.model.clone()))
                .or_else(|| {
                    self.slices.as_ref().and_then(|s| {
                        s.first()
                            .and_then(|s| s.sources.first().map(|x| x.model.clone()))
                    })
                })
        })
    }

    /// Where the output tokenizer comes from.
    pub fn tokenizer_source(&self) -> Result<TokenizerSource> {
        let (key, src) = match (&self.tokenizer_source, &self.tokenizer) {
            (Some(s), None) => ("tokenizer_source", Some(s.as_str())),
            (None, Some(t)) => ("tokenizer.source", t.source.as_deref().or(Some("union"))),
            _ => ("tokenizer_source", None),
        };
        match src {
            None => Ok(TokenizerSource::Donor),
            Some("base") => {
                if self.base_model.is_none() {
                    return Err(config_err(key, "`base` needs a `base_model`"));
                }
                Ok(TokenizerSource::Base)
            }
            Some("union") => Err(config_err(
                key,
                "`union` (building a merged vocabulary) is not supported; use `base` or a model",
            )),
            Some(m) => Ok(TokenizerSource::Model(m.to_string())),
        }
    }

    /// Check the structure: exactly one of `models`/`slices`, no empty lists, valid dtypes,
    /// densities in [0, 1], equal slice lengths, supported tokenizer options.
    pub fn validate(&self) -> Result<()> {
        if self.merge_method.trim().is_empty() {
            return Err(config_err("merge_method", "must name a merge method"));
        }
        if let Some(a) = &self.align {
            if a != "weight_matching" {
                return Err(config_err(
                    "align",
                    format!("unknown alignment {a:?} (known: weight_matching)"),
                ));
            }
            if self.base_model.is_none() {
                return Err(config_err(
                    "align",
                    "weight_matching aligns models to the base: set `base_model`",
                ));
            }
            if self.slices.is_some() {
                return Err(config_err(
                    "align",
                    "alignment is supported with `models`, not with `slices`",
                ));
            }
        }
        if self.modules.is_some() {
            return Err(config_err(
                "modules",
                "multi-module configs are not supported; use `models` or `slices`",
            ));
        }
        match (&self.models, &self.slices) {
            (Some(_), Some(_)) => {
                return Err(config_err(
                    "models",
                    "give either `models` or `slices`, not both",
                ))
            }
            (None, None) => {
                return Err(config_err(
                    "models",
                    "missing: give `models` (or `slices`) to merge",
                ))
            }
            (Some(m), None) => {
                if m.is_empty() {
                    return Err(config_err("models", "must list at least one model"));
                }
                for (i, a) in m.iter().enumerate() {
                    check_model_ref(&format!("models[{i}].model"), &a.model)?;
                    if m[..i].iter().any(|b| b.model == a.model) {
                        return Err(config_err(
                            format!("models[{i}].model"),
                            format!("model `{}` is listed twice", a.model),
                        ));
                    }
                }
            }
            (None, Some(s)) => {
                if s.is_empty() {
                    return Err(config_err("slices", "must list at least one slice"));
                }
                for (k, sl) in s.iter().enumerate() {
                    if sl.sources.is_empty() {
                        return Err(config_err(
                            format!("slices[{k}].sources"),
                            "must list at least one source",
                        ));
                    }
                    let len0 =
                        sl.sources[0].layer_range[1] as i64 - sl.sources[0].layer_range[0] as i64;
                    for (j, src) in sl.sources.iter().enumerate() {
                        let key = format!("slices[{k}].sources[{j}]");
                        check_model_ref(&format!("{key}.model"), &src.model)?;
                        let [a, b] = src.layer_range;
                        if a > b {
                            return Err(config_err(
                                format!("{key}.layer_range"),
                                format!("start {a} is after end {b}"),
                            ));
                        }
                        if (b - a) as i64 != len0 {
                            return Err(config_err(
                                format!("{key}.layer_range"),
                                format!(
                                    "all sources of a slice must span the same number of layers ({} here, {len0} in sources[0])",
                                    b - a
                                ),
                            ));
                        }
                        if sl.sources[..j].iter().any(|o| o.model == src.model) {
                            return Err(config_err(
                                format!("{key}.model"),
                                format!("model `{}` is listed twice in one slice", src.model),
                            ));
                        }
                    }
                    if let Some(b) = &sl.base_model {
                        check_model_ref(&format!("slices[{k}].base_model"), b)?;
                    }
                }
            }
        }
        if let Some(b) = &self.base_model {
            check_model_ref("base_model", b)?;
        }
        self.dtype()?;
        self.out_dtype()?;
        if self.tokenizer_source.is_some() && self.tokenizer.is_some() {
            return Err(config_err(
                "tokenizer",
                "give either `tokenizer_source` or `tokenizer`, not both",
            ));
        }
        if let Some(t) = &self.tokenizer {
            if t.tokens.is_some() {
                return Err(config_err("tokenizer.tokens", "is not supported"));
            }
            if t.pad_to_multiple_of.is_some() {
                return Err(config_err(
                    "tokenizer.pad_to_multiple_of",
                    "is not supported",
                ));
            }
        }
        self.tokenizer_source()?;
        if let Some(t) = &self.chat_template {
            if !t.contains('{') {
                return Err(config_err(
                    "chat_template",
                    format!(
                        "named templates (`{t}`) are not supported; give the Jinja template text"
                    ),
                ));
            }
        }
        for (key, params) in self.parameter_maps() {
            if let Some(s) = params.get("density") {
                let mut v = Vec::new();
                s.numbers(&mut v);
                if let Some(bad) = v.iter().find(|d| !(0.0..=1.0).contains(*d)) {
                    return Err(config_err(
                        format!("{key}.density"),
                        format!("{bad} is outside [0, 1]"),
                    ));
                }
            }
            for (name, s) in params {
                if let ParameterSetting::Gradient(g) = s {
                    if g.is_empty() {
                        return Err(config_err(format!("{key}.{name}"), "empty list"));
                    }
                    if g.iter().any(Scalar::is_number) && !g.iter().all(|x| x.as_f64().is_some()) {
                        return Err(config_err(
                            format!("{key}.{name}"),
                            "a gradient must list only numbers",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every `parameters` mapping with its key path (`parameters`, `models[0].parameters`,
    /// `slices[1].parameters`, `slices[1].sources[0].parameters`).
    pub fn parameter_maps(&self) -> Vec<(String, &Parameters)> {
        let mut out = Vec::new();
        if let Some(p) = &self.parameters {
            out.push(("parameters".to_string(), p));
        }
        for (i, m) in self.models.iter().flatten().enumerate() {
            if let Some(p) = &m.parameters {
                out.push((format!("models[{i}].parameters"), p));
            }
        }
        for (k, s) in self.slices.iter().flatten().enumerate() {
            if let Some(p) = &s.parameters {
                out.push((format!("slices[{k}].parameters"), p));
            }
            for (j, src) in s.sources.iter().enumerate() {
                if let Some(p) = &src.parameters {
                    out.push((format!("slices[{k}].sources[{j}].parameters"), p));
                }
            }
        }
        out
    }
}

fn check_model_ref(key: &str, m: &str) -> Result<()> {
    if m.trim().is_empty() {
        return Err(config_err(key, "empty model path"));
    }
    if m.contains('+') {
        return Err(config_err(
            key,
            format!("`{m}`: LoRA adapters (`model+lora`) are not supported"),
        ));
    }
    Ok(())
}

/// Resolve a model reference against `base_dir` (the working folder, as mergekit does).
/// Only local folders are supported.
pub fn resolve_model_path(key: &str, reference: &str, base_dir: &Path) -> Result<PathBuf> {
    let p = Path::new(reference);
    let path = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    };
    if !path.exists() {
        return Err(config_err(
            key,
            format!(
                "model `{reference}` not found at {} (only local folders are supported, no Hugging Face Hub downloads)",
                path.display()
            ),
        ));
    }
    Ok(path)
}
