//! Shared test helpers: a linear merge method (mergekit's `linear`), small checkpoints.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mosaic_abi::{
    family::merge::into_ffi, AlgorithmDescriptor, Family, MergeCall, MergeMethod, MergeMethodBox,
    ParamSpec, RError, TensorMut,
};
use mosaic_merge::io::{Checkpoint, ShardedWriter};
use mosaic_tensor::{DType, Shape};

/// The merge fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/merge")
}

/// mergekit's `linear`: sum_i w_i x_i, divided by sum_i w_i when `normalize`.
pub struct Linear;

impl MergeMethod for Linear {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        call.check_shapes(out.shape())?;
        let normalize = call.params.bool("normalize")?;
        let mut acc = vec![0f32; out.numel()];
        let mut total = 0f32;
        for (t, p) in call.models.iter().zip(call.model_params.iter()) {
            let w = p.f64("weight")? as f32;
            total += w;
            for (a, x) in acc.iter_mut().zip(t.to_f32_vec()) {
                *a += w * x;
            }
        }
        if normalize {
            acc.iter_mut().for_each(|a| *a /= total);
        }
        out.write_f32(&acc)
    }
}

pub fn linear_descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(Family::Merge, "linear", "Weighted average.")
        .param(ParamSpec::f64("weight", None, "Model weight.").per_model())
        .param(ParamSpec::bool(
            "normalize",
            Some(true),
            "Divide by the weight sum.",
        ))
}

pub fn linear() -> MergeMethodBox {
    into_ffi(Box::new(Linear))
}

/// A method that fails on one tensor.
pub struct FailOn(pub &'static str);

impl MergeMethod for FailOn {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        if call.name() == self.0 {
            return Err(RError::input("deliberate failure"));
        }
        out.write_f32(&call.models[0].to_f32_vec())
    }
}

/// Write an f32 checkpoint folder with `config.json`.
pub fn write_model(dir: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)], max_shard: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let entries = tensors
        .iter()
        .map(|(n, s, _)| (n.to_string(), DType::F32, Shape::new(s.clone())))
        .collect();
    let w = ShardedWriter::create(dir, entries, max_shard, None).unwrap();
    for (n, _, v) in tensors {
        w.write(n, bytemuck::cast_slice(v)).unwrap();
    }
    w.finish().unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 3, "torch_dtype": "float32"}"#,
    )
    .unwrap();
}

/// A tiny Llama-named model with `layers` layers; values offset by `shift`.
pub fn tiny_model(dir: &Path, layers: usize, shift: f32, lm_head: bool) {
    let mut t: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
        (
            "model.embed_tokens.weight".into(),
            vec![4, 2],
            (0..8).map(|i| i as f32 + shift).collect(),
        ),
        (
            "model.norm.weight".into(),
            vec![2],
            vec![1.0 + shift, 2.0 + shift],
        ),
    ];
    if lm_head {
        t.push((
            "lm_head.weight".into(),
            vec![4, 2],
            (0..8).map(|i| -(i as f32) + shift).collect(),
        ));
    }
    for l in 0..layers {
        t.push((
            format!("model.layers.{l}.mlp.up_proj.weight"),
            vec![3, 2],
            (0..6).map(|i| (10 * l + i) as f32 + shift).collect(),
        ));
        t.push((
            format!("model.layers.{l}.input_layernorm.weight"),
            vec![2],
            vec![l as f32 + shift, 0.5 + shift],
        ));
    }
    let refs: Vec<(&str, Vec<usize>, Vec<f32>)> = t
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    write_model(dir, &refs, u64::MAX);
}

/// All tensors of a checkpoint as f32.
pub fn read_all(dir: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let ck = Checkpoint::open(dir).unwrap();
    ck.names()
        .into_iter()
        .map(|n| {
            let v = ck.tensor(&n).unwrap();
            let mut out = vec![0f32; v.dims().iter().product()];
            mosaic_tensor::convert::bytes_to_f32(v.dtype(), v.as_bytes(), &mut out).unwrap();
            (n, v.dims().to_vec(), out)
        })
        .collect()
}
