//! Per-tensor parameter resolution with mergekit's semantics: filters, gradients, precedence.

use mosaic_abi::{AlgorithmDescriptor, ParamKind, ParamMap, ParamScope, ParamSpec, ParamValue};

use crate::config::{ParameterSetting, Parameters, Scalar};

/// Path segments that introduce a layer index in the tensor names of common architectures
/// (`model.layers.3.` Llama/Mistral/Qwen, `transformer.h.3.` GPT-2, `gpt_neox.layers.3.`,
/// `encoder.layer.3.` BERT, `blocks.3.`).
const LAYER_SEGMENTS: [&str; 4] = ["layers", "h", "layer", "blocks"];

/// Where a layer index sits in a tensor name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSpan {
    /// The layer index.
    pub index: usize,
    /// Byte offset where the index starts (`name[..start]` is the prefix, ending in `.`).
    pub start: usize,
    /// Byte offset just past the index (`name[end..]` is the suffix, starting with `.`).
    pub end: usize,
}

impl LayerSpan {
    /// The name with the layer index replaced by `index`.
    pub fn renumber(&self, name: &str, index: usize) -> String {
        format!("{}{index}{}", &name[..self.start], &name[self.end..])
    }

    /// The prefix before the index (`model.layers.`).
    pub fn prefix<'a>(&self, name: &'a str) -> &'a str {
        &name[..self.start]
    }
}

/// Find the layer index in `name`: the first `<segment>.<digits>.` where segment is one of
/// `layers`, `h`, `layer`, `blocks`. `None` for non-layer tensors (embeddings, final norm,
/// `lm_head`).
pub fn layer_span(name: &str) -> Option<LayerSpan> {
    let mut pos = 0;
    let parts: Vec<&str> = name.split('.').collect();
    for i in 0..parts.len() {
        let seg = parts[i];
        if i + 2 < parts.len()
            && LAYER_SEGMENTS.contains(&seg)
            && !parts[i + 1].is_empty()
            && parts[i + 1].bytes().all(|b| b.is_ascii_digit())
        {
            let start = pos + seg.len() + 1;
            let end = start + parts[i + 1].len();
            let index = parts[i + 1].parse().ok()?;
            return Some(LayerSpan { index, start, end });
        }
        pos += seg.len() + 1;
    }
    None
}

/// The layer index of a tensor name, if it belongs to a layer.
pub fn layer_index(name: &str) -> Option<usize> {
    layer_span(name).map(|s| s.index)
}

/// mergekit's gradient position for layer `index` of a run of `num_layers` layers:
/// `index / (num_layers - 1)`, and 1 for a one-layer run. Non-layer tensors use 0.
pub fn layer_t(index: usize, num_layers: usize) -> f64 {
    if num_layers > 1 {
        index as f64 / (num_layers - 1) as f64
    } else {
        1.0
    }
}

/// Interpolate a numeric gradient at `t` in [0, 1] as mergekit does: the values are spread
/// evenly over [0, 1], and `t` falls between two neighbours.
pub fn interpolate(values: &[f64], t: f64) -> f64 {
    let scaled = t * (values.len() - 1) as f64;
    let i0 = (scaled as usize).min(values.len() - 1);
    let i1 = (i0 + 1).min(values.len() - 1);
    let frac = scaled - i0 as f64;
    (1.0 - frac) * values[i0] + frac * values[i1]
}

fn scalar_value(s: &Scalar, kind: ParamKind) -> ParamValue {
    match (s, kind) {
        (Scalar::Bool(b), _) => ParamValue::Bool(*b),
        (Scalar::Int(v), ParamKind::F64) => ParamValue::F64(*v as f64),
        (Scalar::Int(v), _) => ParamValue::I64(*v),
        (Scalar::Float(v), ParamKind::I64) if v.fract() == 0.0 => ParamValue::I64(*v as i64),
        (Scalar::Float(v), _) => ParamValue::F64(*v),
        (Scalar::Str(st), ParamKind::F64) => match st.trim().parse::<f64>() {
            Ok(v) => ParamValue::F64(v),
            Err(_) => ParamValue::Str(st.as_str().into()),
        },
        (Scalar::Str(st), _) => ParamValue::Str(st.as_str().into()),
    }
}

/// Evaluate a setting for one tensor at gradient position `t`, as a value of `kind`.
/// `None` when no condition matches (the caller then falls back to the next source).
///
/// - a scalar is the value;
/// - a list of numbers is a gradient, interpolated at `t` (unless `kind` is a list of
///   numbers: then the list is the value); a list of booleans or strings picks the entry at
///   `floor(t * (len - 1))`;
/// - conditions are tried in order: an entry without `filter` (or `filter: "*"`) matches
///   everything, otherwise the filter must be a substring of the tensor name.
pub fn evaluate(
    setting: &ParameterSetting,
    tensor_name: &str,
    t: f64,
    kind: ParamKind,
) -> Option<ParamValue> {
    match setting {
        ParameterSetting::Scalar(s) => Some(scalar_value(s, kind)),
        ParameterSetting::Gradient(values) => {
            if values.is_empty() {
                return None;
            }
            let numeric: Option<Vec<f64>> = values
                .iter()
                .map(|v| match v {
                    Scalar::Int(_) | Scalar::Float(_) => v.as_f64(),
                    Scalar::Str(_) if kind == ParamKind::F64 || kind == ParamKind::F64List => {
                        v.as_f64()
                    }
                    _ => None,
                })
                .collect();
            match numeric {
                Some(nums) if kind == ParamKind::F64List => Some(ParamValue::F64List(nums.into())),
                Some(nums) => {
                    let x = interpolate(&nums, t);
                    Some(if kind == ParamKind::I64 && x.fract() == 0.0 {
                        ParamValue::I64(x as i64)
                    } else {
                        ParamValue::F64(x)
                    })
                }
                None => {
                    let i = ((t * (values.len() - 1) as f64) as usize).min(values.len() - 1);
                    Some(scalar_value(&values[i], kind))
                }
            }
        }
        ParameterSetting::Conditions(conds) => conds
            .iter()
            .find(|c| match c.filter.as_deref() {
                None | Some("*") => true,
                Some(f) => !tensor_name.is_empty() && tensor_name.contains(f),
            })
            .and_then(|c| evaluate(&c.value, tensor_name, t, kind)),
    }
}

/// Collect the raw (unvalidated) values of the parameters in `specs` of `scope` for one
/// tensor, looking through `sources` from highest to lowest precedence; the first source whose
/// setting yields a value wins.
pub fn collect(
    specs: &[ParamSpec],
    scope: ParamScope,
    sources: &[Option<&Parameters>],
    tensor_name: &str,
    t: f64,
) -> ParamMap {
    let mut out = ParamMap::new();
    for spec in specs.iter().filter(|s| s.scope == scope) {
        let found = sources
            .iter()
            .flatten()
            .filter_map(|p| p.get(spec.name.as_str()))
            .find_map(|s| evaluate(s, tensor_name, t, spec.kind));
        if let Some(v) = found {
            out.insert(&spec.name, v);
        }
    }
    out
}

/// Check that every parameter the config sets is declared by the method; parameters in a
/// per-model mapping (`models[i].parameters`, `slices[k].sources[j].parameters`) must be
/// per-model ones. Returns `(key path, message)` for the first offender.
pub fn check_known(
    descriptor: &AlgorithmDescriptor,
    maps: &[(String, &Parameters)],
) -> Result<(), (String, String)> {
    for (key, params) in maps {
        let per_model_map = key.starts_with("models[") || key.contains(".sources[");
        for name in params.keys() {
            let specs: Vec<&ParamSpec> = descriptor
                .params
                .iter()
                .filter(|s| s.name.as_str() == name)
                .collect();
            if specs.is_empty() {
                let known: Vec<&str> = descriptor.params.iter().map(|s| s.name.as_str()).collect();
                return Err((
                    format!("{key}.{name}"),
                    format!(
                        "unknown parameter `{name}` for merge method `{}` (known: {})",
                        descriptor.name,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            if per_model_map && !specs.iter().any(|s| s.scope == ParamScope::PerModel) {
                return Err((
                    format!("{key}.{name}"),
                    format!(
                        "parameter `{name}` of merge method `{}` is global: set it under the top-level `parameters`",
                        descriptor.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_spans() {
        let s = layer_span("model.layers.12.mlp.up_proj.weight").unwrap();
        assert_eq!(s.index, 12);
        assert_eq!(
            s.prefix("model.layers.12.mlp.up_proj.weight"),
            "model.layers."
        );
        assert_eq!(
            s.renumber("model.layers.12.mlp.up_proj.weight", 3),
            "model.layers.3.mlp.up_proj.weight"
        );
        assert_eq!(layer_index("transformer.h.0.attn.c_attn.weight"), Some(0));
        assert_eq!(layer_index("model.embed_tokens.weight"), None);
        assert_eq!(layer_index("lm_head.weight"), None);
        assert_eq!(layer_index("model.layers.weight"), None);
    }

    #[test]
    fn interpolation_matches_mergekit() {
        assert_eq!(interpolate(&[0.0, 1.0], 0.5), 0.5);
        assert_eq!(interpolate(&[0.0, 0.5, 1.0], 0.25), 0.25);
        assert_eq!(interpolate(&[1.0, 3.0, 2.0], 1.0), 2.0);
        assert_eq!(interpolate(&[7.0], 0.3), 7.0);
    }
}
