//! The streaming executor: one tensor at a time per worker, straight from memory maps, into
//! positional writes of the output shards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use abi_stable::std_types::{ROption, RSlice, RStr};
use mosaic_abi::{AbiDType, MergeCall, MergeMethodBox, TensorMut, TensorRef};
use mosaic_tensor::{convert, DType, Shape};

use crate::error::{io_err, MergeError, Result};
use crate::io::ShardedWriter;
use crate::plan::{Plan, PlannedTensor};

/// Progress callback: `(tensors_done, tensors_total, bytes_done)`, called from worker
/// threads after each tensor is written.
pub type ProgressFn = Arc<dyn Fn(usize, usize, u64) + Send + Sync>;

/// Tokenizer and generation files copied from the tokenizer source when present.
pub const TOKENIZER_FILES: [&str; 10] = [
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
];

/// Options of [`execute`].
#[derive(Clone)]
pub struct ExecuteOptions {
    /// Worker threads (a local rayon pool); 0 = one per core.
    pub threads: usize,
    /// Largest shard, in bytes of tensor data (mergekit's default: 5 billion).
    pub max_shard_size: u64,
    /// Replace an existing, non-empty output folder (only after the merge succeeded).
    pub overwrite: bool,
    /// Called after each tensor.
    pub progress: Option<ProgressFn>,
}

impl Default for ExecuteOptions {
    fn default() -> ExecuteOptions {
        ExecuteOptions {
            threads: 0,
            max_shard_size: 5_000_000_000,
            overwrite: false,
            progress: None,
        }
    }
}

impl std::fmt::Debug for ExecuteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecuteOptions")
            .field("threads", &self.threads)
            .field("max_shard_size", &self.max_shard_size)
            .field("overwrite", &self.overwrite)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// What [`execute`] wrote.
#[derive(Clone, Debug)]
pub struct MergeReport {
    /// The output folder.
    pub out_dir: PathBuf,
    /// Every file written, relative to `out_dir`.
    pub files: Vec<PathBuf>,
    /// Number of tensors.
    pub tensors: usize,
    /// Bytes of tensor data.
    pub bytes: u64,
}

/// The torch name of a dtype, as `config.json`'s `torch_dtype` spells it.
pub fn torch_dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::F64 => "float64",
        DType::I64 => "int64",
        DType::U8 => "uint8",
        DType::Bool => "bool",
    }
}

/// Run `plan` with `method` into `out_dir`.
///
/// Everything is written to `OUT_DIR.tmp-<pid>` beside `out_dir` and renamed on success; on
/// failure the temporary folder is removed and an existing `out_dir` is left untouched. An
/// existing non-empty `out_dir` is an error unless `options.overwrite`.
///
/// Writes the tensors (sharded by `max_shard_size`, with an index for more than one shard),
/// `config.json` from the base (or first) model with `torch_dtype` (and, for slices,
/// `num_hidden_layers`) updated, the tokenizer files, and the config as
/// `mergekit_config.yml`.
pub fn execute(
    plan: &Plan,
    method: &MergeMethodBox,
    out_dir: &Path,
    options: &ExecuteOptions,
) -> Result<MergeReport> {
    let existing = out_dir.exists();
    if existing {
        let empty = out_dir.is_dir()
            && std::fs::read_dir(out_dir)
                .map_err(io_err(out_dir))?
                .next()
                .is_none();
        if !empty && !options.overwrite {
            return Err(MergeError::OutputExists(out_dir.to_path_buf()));
        }
    }
    let mut report = crate::output::write_atomically(out_dir, existing, |tmp| {
        write_all(plan, method, tmp, options)
    })?;
    report.out_dir = out_dir.to_path_buf();
    Ok(report)
}

fn write_all(
    plan: &Plan,
    method: &MergeMethodBox,
    dir: &Path,
    options: &ExecuteOptions,
) -> Result<MergeReport> {
    let entries: Vec<(String, DType, Shape)> = plan
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.dtype, Shape::new(t.shape.clone())))
        .collect();
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    let writer = ShardedWriter::create(dir, entries, options.max_shard_size, Some(metadata))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| MergeError::ThreadPool(e.to_string()))?;
    let done = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let total = plan.tensors.len();
    // Largest tensors first, each worker taking the next one (longest-processing-time-first
    // scheduling): the last tensors to finish are then small ones, so no thread waits long
    // for another (embeddings and `lm_head` can each be a fifth of a model).
    let mut order: Vec<&PlannedTensor> = plan.tensors.iter().collect();
    order.sort_by_key(|t| std::cmp::Reverse(t.shape.iter().product::<usize>()));
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(None::<MergeError>);
    let models = plan.model_set().models();
    pool.broadcast(|_| {
        // This worker's output buffer, reused from tensor to tensor.
        let mut buf = Aligned::new(0);
        while let Some(&t) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            if failed.lock().map_or(true, |f| f.is_some()) {
                return;
            }
            let result = merge_tensor(plan, method, t, &mut buf, |out| {
                writer.write(&t.name, out).map_err(Into::into)
            });
            // Unmap this tensor's inputs now (in parallel, and keeping RSS down) rather
            // than all of them at exit.
            for i in t.models.iter().chain(t.base.iter()) {
                models[i.model].checkpoint.release(&i.tensor);
            }
            let n = match result {
                Ok(n) => n,
                Err(e) => {
                    if let Ok(mut f) = failed.lock() {
                        f.get_or_insert(e);
                    }
                    return;
                }
            };
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            let b = bytes.fetch_add(n, Ordering::Relaxed) + n;
            if let Some(p) = &options.progress {
                p(d, total, b);
            }
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut files: Vec<PathBuf> = writer
        .finish()?
        .into_iter()
        .filter_map(|p| p.file_name().map(PathBuf::from))
        .collect();
    files.extend(write_side_files(plan, dir)?);
    Ok(MergeReport {
        out_dir: dir.to_path_buf(),
        files,
        tensors: total,
        bytes: bytes.into_inner(),
    })
}

/// An 8-byte-aligned zeroed byte buffer (so methods may view it as `f32`/`f64`).
struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        Aligned {
            words: vec![0u64; len.div_ceil(8)],
            len,
        }
    }

    /// Make the buffer `len` zero bytes, reusing its memory when it is large enough (a
    /// `memset` is cheaper than faulting fresh pages in).
    fn reset(&mut self, len: usize) {
        let words = len.div_ceil(8);
        if self.words.len() < words {
            *self = Aligned::new(len);
        } else {
            self.words[..words].fill(0);
            self.len = len;
        }
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

/// Merge one tensor and hand its output bytes (in the output dtype) to `write`, without an
/// extra copy; returns the number of bytes written.
fn merge_tensor(
    plan: &Plan,
    method: &MergeMethodBox,
    t: &PlannedTensor,
    buf: &mut Aligned,
    write: impl FnOnce(&[u8]) -> Result<()>,
) -> Result<u64> {
    let models = plan.model_set().models();
    let view = |i: &crate::plan::PlannedInput| models[i.model].checkpoint.tensor(&i.tensor);
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    let mut views = Vec::with_capacity(t.models.len());
    for i in &t.models {
        views.push(view(i)?);
    }
    let base_view = t.base.as_ref().map(view).transpose()?;
    let bad_input = |e: mosaic_abi::RError| MergeError::Method {
        method: plan.method.clone(),
        tensor: t.name.clone(),
        source: e,
    };
    if t.copy_only {
        let first = views
            .first()
            .or(base_view.as_ref())
            .expect("a tensor has inputs")
            .as_bytes();
        if views
            .iter()
            .chain(base_view.iter())
            .any(|v| v.as_bytes() != first)
        {
            return Err(MergeError::Incompatible(format!(
                "non-float tensor `{}` differs between inputs; it cannot be merged",
                t.name
            )));
        }
        write(first)?;
        return Ok(first.len() as u64);
    }
    // `align: weight_matching`: a model's permuted tensors are read to f32 and permuted.
    let mut aligned: Vec<Option<Vec<f32>>> = Vec::with_capacity(t.models.len());
    for (i, v) in t.models.iter().zip(&views) {
        aligned.push(match plan.alignment.get(&i.model) {
            Some(p) if crate::align::is_permuted(p, &i.tensor) => {
                let mut data = v.to_f32_vec();
                crate::align::apply(p, &i.tensor, v.dims(), &mut data)?;
                Some(data)
            }
            _ => None,
        });
    }
    let refs: Vec<TensorRef<'_>> = views
        .iter()
        .zip(&aligned)
        .map(|(v, a)| match a {
            Some(data) => TensorRef::from_f32(&shape, data),
            None => TensorRef::new(v.dtype(), &shape, v.as_bytes()),
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(bad_input)?;
    let base = base_view
        .as_ref()
        .map(|v| TensorRef::new(v.dtype(), &shape, v.as_bytes()))
        .transpose()
        .map_err(bad_input)?;
    let numel: usize = t.shape.iter().product();
    buf.reset(numel * t.compute_dtype.size_of());
    let call = MergeCall {
        tensor_name: RStr::from_str(&t.name),
        base: match base {
            Some(b) => ROption::RSome(b),
            None => ROption::RNone,
        },
        models: RSlice::from_slice(&refs),
        base_index: match t.base_index {
            Some(i) => ROption::RSome(i as u32),
            None => ROption::RNone,
        },
        model_params: RSlice::from_slice(&t.model_params),
        params: &t.params,
        compute_dtype: AbiDType::from(t.compute_dtype),
        seed: t.seed,
    };
    let out = TensorMut::new(t.compute_dtype, &shape, buf.bytes_mut()).map_err(bad_input)?;
    method.merge(call, out).into_result().map_err(bad_input)?;
    if t.dtype == t.compute_dtype {
        write(buf.bytes())?;
        return Ok(buf.bytes().len() as u64);
    }
    let mut out = vec![0u8; numel * t.dtype.size_of()];
    if t.dtype == DType::F64 || t.compute_dtype == DType::F64 {
        let mut tmp = vec![0f64; numel];
        convert::bytes_to_f64(t.compute_dtype, buf.bytes(), &mut tmp)?;
        convert::f64_to_bytes(&tmp, t.dtype, &mut out)?;
    } else {
        let mut tmp = vec![0f32; numel];
        convert::bytes_to_f32(t.compute_dtype, buf.bytes(), &mut tmp)?;
        convert::f32_to_bytes(&tmp, t.dtype, &mut out)?;
    }
    write(&out)?;
    Ok(out.len() as u64)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| MergeError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).expect("json values serialize");
    std::fs::write(path, text + "\n").map_err(io_err(path))
}

fn write_side_files(plan: &Plan, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if let Some(i) = plan.config_from {
        let src = plan.inputs[i].path.join("config.json");
        if src.is_file() {
            let mut cfg = read_json(&src)?;
            if let Some(obj) = cfg.as_object_mut() {
                if let Some(d) = plan.config_dtype {
                    obj.insert("torch_dtype".into(), torch_dtype_name(d).into());
                }
                if let Some(n) = plan.num_layers {
                    let key = ["num_hidden_layers", "n_layer", "num_layers"]
                        .into_iter()
                        .find(|k| obj.contains_key(*k))
                        .unwrap_or("num_hidden_layers");
                    obj.insert(key.into(), n.into());
                }
            }
            write_json(&dir.join("config.json"), &cfg)?;
            files.push(PathBuf::from("config.json"));
        }
    }
    if let Some(src) = &plan.tokenizer_from {
        for f in TOKENIZER_FILES {
            let p = src.join(f);
            if p.is_file() {
                std::fs::copy(&p, dir.join(f)).map_err(io_err(&p))?;
                files.push(PathBuf::from(f));
            }
        }
    }
    if let Some(tpl) = &plan.chat_template {
        let p = dir.join("tokenizer_config.json");
        let mut v = if p.is_file() {
            read_json(&p)?
        } else {
            files.push(PathBuf::from("tokenizer_config.json"));
            serde_json::json!({})
        };
        if let Some(obj) = v.as_object_mut() {
            obj.insert("chat_template".into(), tpl.as_str().into());
        }
        write_json(&p, &v)?;
    }
    let p = dir.join("mergekit_config.yml");
    std::fs::write(&p, &plan.config_yaml).map_err(io_err(&p))?;
    files.push(PathBuf::from("mergekit_config.yml"));
    Ok(files)
}
