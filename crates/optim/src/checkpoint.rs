//! Optimizer state checkpoints in safetensors (mosaic-tensor's I/O).
//!
//! Layout of a file:
//! - one tensor per state buffer, named `{tensor}.{buffer}` (`0.weight.exp_avg`), with the
//!   buffer's dtype and shape, bytes as they are in memory (so a reload is bit-exact);
//! - metadata `mosaic.optim.tensors`: the parameter tensors in order with their shapes (JSON
//!   `[["0.weight", [4, 3]], ...]`); `{tensor}.step` and `{tensor}.initialized` (the host's
//!   counters); `{tensor}.{scalar}` for each declared scalar as `f64:…`, `i64:…` or `bool:…`
//!   (reals in the shortest form that parses back to the same bits); plus whatever the caller
//!   adds (the driver's step count and learning rate).
//!
//! Files are written under a temporary name and renamed, so a crash never leaves a partial
//! checkpoint.

use std::collections::BTreeMap;
use std::path::Path;

use mosaic_abi::{Scalar, ScalarKind};
use mosaic_tensor::safetensors::{write_file, SafetensorsFile};
use mosaic_tensor::{DType, Tensor, TensorView};

use crate::state::{spec_of, TensorState};
use crate::{OptimError, OptimizerBox, OptimizerState};

/// Metadata key listing the parameter tensors and their shapes.
pub const TENSORS_KEY: &str = "mosaic.optim.tensors";

fn ck(path: &Path, what: impl std::fmt::Display) -> OptimError {
    OptimError::Checkpoint {
        path: path.to_path_buf(),
        reason: what.to_string(),
    }
}

fn scalar_text(s: Scalar) -> String {
    format!("{}:{s}", s.kind())
}

fn parse_scalar(kind: ScalarKind, text: &str) -> Option<Scalar> {
    let (k, v) = text.split_once(':')?;
    if k != kind.to_string() {
        return None;
    }
    match kind {
        ScalarKind::F64 => v.parse().ok().map(Scalar::F64),
        ScalarKind::I64 => v.parse().ok().map(Scalar::I64),
        ScalarKind::Bool => v.parse().ok().map(Scalar::Bool),
    }
}

/// The metadata key of a group's tensor list (`mosaic.optim.tensors` for the unnamed group
/// of a single [`OptimizerState`]).
pub fn tensors_key(group: &str) -> String {
    if group.is_empty() {
        TENSORS_KEY.to_string()
    } else {
        format!("mosaic.optim.group.{group}.tensors")
    }
}

/// Write the states of named groups into one file (tensor names must be unique across
/// groups), with `extra` metadata.
pub fn write(
    path: &Path,
    groups: &[(&str, &OptimizerState)],
    extra: &BTreeMap<String, String>,
) -> Result<(), OptimError> {
    let mut meta = extra.clone();
    let mut names = Vec::new();
    let mut views: Vec<TensorView<'_>> = Vec::new();
    for (group, state) in groups {
        let list: Vec<(&str, &[u64])> = state
            .tensors()
            .iter()
            .map(|t| (t.name(), t.shape()))
            .collect();
        meta.insert(
            tensors_key(group),
            serde_json::to_string(&list).expect("names and shapes serialize"),
        );
        for t in state.tensors() {
            meta.insert(format!("{}.step", t.name()), t.steps().to_string());
            meta.insert(
                format!("{}.initialized", t.name()),
                t.initialized().to_string(),
            );
            for (name, v) in t.scalars() {
                meta.insert(format!("{}.{name}", t.name()), scalar_text(v));
            }
            for (name, b) in t.buffers() {
                names.push(format!("{}.{name}", t.name()));
                views.push(b.view());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(ck(path, format!("state tensor `{dup}` appears twice")));
    }
    let entries: Vec<(&str, TensorView<'_>)> =
        names.iter().map(String::as_str).zip(views).collect();
    write_file(path, &entries, Some(&meta)).map_err(|e| ck(path, e))
}

/// Read the states of named groups written by [`write`], each checked against its
/// optimizer. Returns the states in the order of `groups` and the file's metadata.
pub fn read(
    path: &Path,
    groups: &[(&str, &OptimizerBox)],
) -> Result<(Vec<OptimizerState>, BTreeMap<String, String>), OptimError> {
    let file = SafetensorsFile::open(path).map_err(|e| ck(path, e))?;
    let meta = file.metadata().cloned().unwrap_or_default();
    let get = |key: &str| -> Result<&str, OptimError> {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| ck(path, format!("metadata `{key}` is missing")))
    };
    let mut states = Vec::with_capacity(groups.len());
    let mut expected = 0;
    for (group, optimizer) in groups {
        let key = tensors_key(group);
        let list: Vec<(String, Vec<u64>)> = serde_json::from_str(get(&key)?)
            .map_err(|e| ck(path, format!("metadata `{key}`: {e}")))?;
        let mut tensors = Vec::with_capacity(list.len());
        for (name, shape) in &list {
            let spec = spec_of(optimizer, shape)?;
            let mut t = TensorState::new(name, shape, spec.clone());
            let key = format!("{name}.step");
            t.steps = get(&key)?
                .parse()
                .map_err(|e| ck(path, format!("metadata `{key}`: {e}")))?;
            let key = format!("{name}.initialized");
            t.initialized = get(&key)?
                .parse()
                .map_err(|e| ck(path, format!("metadata `{key}`: {e}")))?;
            for (s, v) in spec.scalars.iter().zip(t.scalars.iter_mut()) {
                let key = format!("{name}.{}", s.name);
                let text = get(&key)?;
                *v = parse_scalar(s.kind, text).ok_or_else(|| {
                    ck(
                        path,
                        format!("metadata `{key}` = {text:?} is not a {}", s.kind),
                    )
                })?;
            }
            for (b, out) in spec.buffers.iter().zip(t.buffers.iter_mut()) {
                let key = format!("{name}.{}", b.name);
                let view = file.tensor(&key).map_err(|e| ck(path, e))?;
                let want: Vec<usize> = b.shape.iter().map(|&d| d as usize).collect();
                if view.dtype() != DType::from(b.dtype) || view.dims() != want.as_slice() {
                    return Err(ck(
                        path,
                        format!(
                            "tensor `{key}` is {} {:?}, the optimizer needs {} {:?}",
                            view.dtype(),
                            view.dims(),
                            DType::from(b.dtype),
                            want
                        ),
                    ));
                }
                *out = Tensor::from_bytes(view.dtype(), want, view.as_bytes())
                    .map_err(|e| ck(path, e))?;
            }
            expected += spec.buffers.len();
            tensors.push(t);
        }
        states.push(OptimizerState::from_tensors(tensors));
    }
    if file.len() != expected {
        return Err(ck(
            path,
            format!(
                "holds {} tensors, the optimizer state has {expected} buffers",
                file.len()
            ),
        ));
    }
    Ok((states, meta))
}

impl OptimizerState {
    /// Write the state to `path` (see the module docs for the layout), with `extra`
    /// metadata entries added.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), OptimError> {
        write(path, &[("", self)], extra)
    }

    /// Read a state written by [`OptimizerState::save`], checking every buffer against what
    /// `optimizer` declares for its tensor's shape. Returns the state and the file's
    /// metadata (for the caller's own entries).
    pub fn load(
        path: &Path,
        optimizer: &OptimizerBox,
    ) -> Result<(OptimizerState, BTreeMap<String, String>), OptimError> {
        let (mut states, meta) = read(path, &[("", optimizer)])?;
        Ok((states.pop().expect("one group"), meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_text_round_trips() {
        for s in [
            Scalar::F64(0.1 + 0.2),
            Scalar::F64(-1e-300),
            Scalar::I64(-7),
            Scalar::Bool(true),
        ] {
            assert_eq!(parse_scalar(s.kind(), &scalar_text(s)), Some(s));
        }
        assert_eq!(parse_scalar(ScalarKind::I64, "f64:1.0"), None);
        assert_eq!(parse_scalar(ScalarKind::F64, "f64:x"), None);
    }
}
