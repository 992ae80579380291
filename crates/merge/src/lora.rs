//! LoRA extraction (`mosaic extract-lora`): approximate a fine-tune as a PEFT LoRA adapter on
//! its base model.
//!
//! For each selected 2-D weight `W` the delta `D = W_ft − W_base` (in f32) is factored by a
//! thin SVD `D = U Σ Vᵀ` and truncated to rank `r`. With mergekit's default convention
//! (`distribute_scale`), `lora_A = √Σ_r V_rᵀ` (shape `[r, in]`) and `lora_B = U_r √Σ_r` (shape
//! `[out, r]`), so `B·A = U_r Σ_r V_rᵀ`, the best rank-`r` approximation of `D` (Eckart–Young).
//! Embeddings are factored transposed, as PEFT's `Embedding` layer stores them
//! (`lora_embedding_A` `[r, vocab]`, `lora_embedding_B` `[dim, r]`).
//!
//! The adapter folder holds `adapter_model.safetensors` and `adapter_config.json`
//! (`lora_alpha = r`, so the PEFT scaling `alpha / r` is 1; modules with a smaller rank are
//! listed in `rank_pattern` and `alpha_pattern`). It is written to a temporary folder beside
//! the output and renamed on success.
//!
//! Tensors are processed one after another on the calling thread; faer runs sequentially
//! (`Par::Seq`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{svd, svd_scratch, ComputeSvdVectors};
use faer::{Mat, Par};
use mosaic_tensor::{convert, DType, Shape};
use serde::Serialize;

use crate::error::io_err;
use crate::io::Checkpoint;
use crate::{InputShape, MergeError, Result};

/// The method name used in parameter errors.
const METHOD: &str = "extract-lora";

/// Options of [`extract_lora`].
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Largest rank of each factorization (clamped to `min(out, in)` per tensor). Must be ≥ 1.
    pub rank: usize,
    /// Also factor input embeddings (`embed_tokens`, `wte`, …) as `lora_embedding_A/B`.
    pub include_embeddings: bool,
    /// Also factor the output head (`lm_head`, `embed_out`) as a linear layer.
    pub include_lm_head: bool,
    /// Skip tensors whose delta has Frobenius norm `‖D‖_F ≤ min_delta_norm` (0 skips only
    /// tensors identical in both models).
    pub min_delta_norm: f64,
    /// Split `Σ` as `√Σ` into both factors (mergekit's default); otherwise `lora_A = Σ_r V_rᵀ`
    /// and `lora_B = U_r`.
    pub distribute_scale: bool,
    /// Drop singular values `≤ sv_epsilon` (mergekit's `--sv-epsilon`); 0 keeps them all.
    pub sv_epsilon: f64,
    /// Element type of the factors; `None`: each fine-tuned tensor's own dtype (as mergekit).
    pub dtype: Option<DType>,
    /// `base_model_name_or_path` in `adapter_config.json`; `None`: the base path as given.
    pub base_model_name_or_path: Option<String>,
    /// Replace an existing, non-empty output folder (only after extraction succeeded).
    pub overwrite: bool,
}

impl Default for ExtractOptions {
    fn default() -> ExtractOptions {
        ExtractOptions {
            rank: 32,
            include_embeddings: false,
            include_lm_head: false,
            min_delta_norm: 0.0,
            distribute_scale: true,
            sv_epsilon: 0.0,
            dtype: None,
            base_model_name_or_path: None,
            overwrite: false,
        }
    }
}

/// One factored tensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoraTensorReport {
    /// The weight's name in the checkpoints (`model.layers.0.self_attn.q_proj.weight`).
    pub name: String,
    /// The weight's shape `[out, in]` (`[vocab, dim]` for embeddings).
    pub shape: Vec<usize>,
    /// The rank written.
    pub rank: usize,
    /// `‖D − B·A‖_F / ‖D‖_F`, with the factors as written (after dtype rounding).
    pub rel_error: f64,
    /// `Σ_{i≤r} σ_i² / Σ_i σ_i²`, the fraction of the delta's squared norm kept.
    pub energy_kept: f64,
    /// `‖D‖_F`.
    pub delta_norm: f64,
}

/// A 2-D tensor that was not factored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkippedTensor {
    /// The tensor name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Why (`embedding`, `lm_head`, `delta norm … ≤ min_delta_norm`, `not 2-D`, …).
    pub reason: String,
}

/// What [`extract_lora`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoraReport {
    /// The factored tensors, in name order.
    pub tensors: Vec<LoraTensorReport>,
    /// Weights (`*.weight` of two or more dimensions) left out, with the reason.
    pub skipped: Vec<SkippedTensor>,
    /// `r` in `adapter_config.json`: the largest rank written.
    pub rank: usize,
    /// `target_modules` in `adapter_config.json`: the module short names, sorted.
    pub target_modules: Vec<String>,
    /// The adapter folder.
    pub out_dir: PathBuf,
}

/// How a weight is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Linear,
    Embedding,
    LmHead,
}

/// Classify a module path (the weight name without `.weight`) by its last component.
fn kind_of(module: &str) -> Kind {
    let last = module.rsplit('.').next().unwrap_or(module);
    if last == "lm_head" || last == "embed_out" {
        Kind::LmHead
    } else if last.contains("embed") || last == "wte" || last == "wpe" {
        Kind::Embedding
    } else {
        Kind::Linear
    }
}

/// A truncated factorization `D ≈ B·A`, both row-major f32.
#[derive(Clone, Debug)]
pub struct LowRank {
    /// `[rows, rank]`.
    pub b: Vec<f32>,
    /// `[rank, cols]`.
    pub a: Vec<f32>,
    /// Rows of `D`.
    pub rows: usize,
    /// Columns of `D`.
    pub cols: usize,
    /// The rank kept.
    pub rank: usize,
    /// All singular values of `D`, non-increasing.
    pub singular_values: Vec<f64>,
}

/// Factor the row-major `rows × cols` matrix `d` to rank at most `max_rank` (also dropping
/// singular values `≤ sv_epsilon`), sequentially. Returns `None` when the SVD does not
/// converge.
pub fn low_rank(
    d: &[f32],
    rows: usize,
    cols: usize,
    max_rank: usize,
    distribute_scale: bool,
    sv_epsilon: f64,
) -> Option<LowRank> {
    assert_eq!(d.len(), rows * cols, "low_rank: matrix size");
    let k = rows.min(cols);
    let m = Mat::<f32>::from_fn(rows, cols, |i, j| d[i * cols + j]);
    let mut s = Diag::<f32>::zeros(k);
    let mut u = Mat::<f32>::zeros(rows, k);
    let mut v = Mat::<f32>::zeros(cols, k);
    let par = Par::Seq;
    let req = svd_scratch::<f32>(
        rows,
        cols,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::Thin,
        par,
        Default::default(),
    );
    let mut buf = MemBuffer::new(req);
    svd(
        m.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .ok()?;
    let sv: Vec<f64> = (0..k).map(|i| s[i].max(0.0) as f64).collect();
    let above = sv.iter().filter(|&&x| x > sv_epsilon).count();
    let r = max_rank.min(k).min(above);
    let mut b = vec![0f32; rows * r];
    let mut a = vec![0f32; r * cols];
    for t in 0..r {
        let (sa, sb) = if distribute_scale {
            let q = sv[t].sqrt();
            (q, q)
        } else {
            (sv[t], 1.0)
        };
        for i in 0..rows {
            b[i * r + t] = (u[(i, t)] as f64 * sb) as f32;
        }
        for j in 0..cols {
            a[t * cols + j] = (v[(j, t)] as f64 * sa) as f32;
        }
    }
    Some(LowRank {
        b,
        a,
        rows,
        cols,
        rank: r,
        singular_values: sv,
    })
}

/// `‖D − B·A‖_F` for row-major `d` `[rows, cols]`, `b` `[rows, r]`, `a` `[r, cols]`, in f64.
pub fn residual_norm(d: &[f32], b: &[f32], a: &[f32], rows: usize, cols: usize, r: usize) -> f64 {
    let mut acc = 0f64;
    let mut row = vec![0f64; cols];
    for i in 0..rows {
        row.iter_mut()
            .zip(&d[i * cols..(i + 1) * cols])
            .for_each(|(x, &y)| *x = y as f64);
        for t in 0..r {
            let bt = b[i * r + t] as f64;
            if bt == 0.0 {
                continue;
            }
            for (x, &y) in row.iter_mut().zip(&a[t * cols..(t + 1) * cols]) {
                *x -= bt * y as f64;
            }
        }
        acc += row.iter().map(|x| x * x).sum::<f64>();
    }
    acc.sqrt()
}

fn frobenius(x: &[f32]) -> f64 {
    x.iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum::<f64>()
        .sqrt()
}

fn read_f32(ck: &Checkpoint, name: &str) -> Result<Vec<f32>> {
    let view = ck.tensor(name)?;
    let n = view.dims().iter().product::<usize>();
    let mut out = vec![0f32; n];
    convert::bytes_to_f32(view.dtype(), view.as_bytes(), &mut out)?;
    Ok(out)
}

/// Round `x` through `dtype` (as the adapter file will hold it) and return its bytes.
fn encode(x: &mut [f32], dtype: DType) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; x.len() * dtype.size_of()];
    convert::f32_to_bytes(x, dtype, &mut bytes)?;
    convert::bytes_to_f32(dtype, &bytes, x)?;
    Ok(bytes)
}

fn open(model: &str, path: &Path) -> Result<Checkpoint> {
    Checkpoint::open(path).map_err(|e| MergeError::Model {
        model: model.to_string(),
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

fn file_of(ck: &Checkpoint, name: &str, fallback: &Path) -> String {
    ck.file_of(name).unwrap_or(fallback).display().to_string()
}

/// One output tensor: name, dtype, shape, bytes.
type Entry = (String, DType, Shape, Vec<u8>);

/// Extract a LoRA adapter approximating `finetuned − base` into the folder `out`.
///
/// Selects every `*.weight` of exactly two dimensions in the fine-tuned checkpoint
/// (embeddings and the output head only when asked), checks it against the base (present,
/// same shape), factors the delta (see the module docs), and writes
/// `adapter_model.safetensors` and `adapter_config.json`. `progress(done, total)` is called
/// after each selected tensor. Errors name the tensor and the file at fault; on error nothing
/// is left at `out`.
pub fn extract_lora(
    base: &Path,
    finetuned: &Path,
    out: &Path,
    options: &ExtractOptions,
    progress: Option<&dyn Fn(usize, usize)>,
) -> Result<LoraReport> {
    if options.rank == 0 {
        return Err(MergeError::Param {
            method: METHOD.into(),
            tensor: None,
            model: None,
            message: "`rank` must be at least 1".into(),
        });
    }
    let non_negative = |x: f64| x >= 0.0; // false for NaN too
    if !non_negative(options.min_delta_norm) || !non_negative(options.sv_epsilon) {
        return Err(MergeError::Param {
            method: METHOD.into(),
            tensor: None,
            model: None,
            message: format!(
                "`min_delta_norm` ({}) and `sv_epsilon` ({}) must be non-negative",
                options.min_delta_norm, options.sv_epsilon
            ),
        });
    }
    let existing = out.exists();
    if existing {
        let empty = out.is_dir()
            && std::fs::read_dir(out)
                .map_err(io_err(out))?
                .next()
                .is_none();
        if !empty && !options.overwrite {
            return Err(MergeError::OutputExists(out.to_path_buf()));
        }
    }
    let base_ck = open("base", base)?;
    let ft_ck = open("finetuned", finetuned)?;

    // Select, and check every selected tensor against the other model, before any SVD.
    let mut selected: Vec<(String, Kind, Vec<usize>)> = Vec::new();
    let mut skipped = Vec::new();
    for name in ft_ck.names() {
        let info = ft_ck.info(&name).expect("listed name");
        let dims = info.shape.dims().to_vec();
        let Some(module) = name.strip_suffix(".weight") else {
            continue;
        };
        if dims.len() < 2 {
            continue;
        }
        if dims.len() > 2 {
            skipped.push(SkippedTensor {
                name,
                shape: dims,
                reason: "not 2-D".into(),
            });
            continue;
        }
        let kind = kind_of(module);
        let reason = match kind {
            Kind::Embedding if !options.include_embeddings => Some("embedding"),
            Kind::LmHead if !options.include_lm_head => Some("lm_head"),
            _ => None,
        };
        if let Some(reason) = reason {
            skipped.push(SkippedTensor {
                name,
                shape: dims,
                reason: reason.into(),
            });
            continue;
        }
        let Some(binfo) = base_ck.info(&name) else {
            return Err(MergeError::MissingTensor {
                tensor: name,
                for_output: None,
                model: "base".into(),
                path: base.to_path_buf(),
            });
        };
        if binfo.shape.dims() != dims.as_slice() {
            return Err(MergeError::ShapeMismatch {
                a: Box::new(InputShape {
                    shape: binfo.shape.dims().to_vec(),
                    file: file_of(&base_ck, &name, base),
                }),
                b: Box::new(InputShape {
                    shape: dims,
                    file: file_of(&ft_ck, &name, finetuned),
                }),
                tensor: name,
            });
        }
        selected.push((name, kind, dims));
    }
    for name in base_ck.names() {
        let dims = base_ck
            .info(&name)
            .expect("listed name")
            .shape
            .dims()
            .to_vec();
        let Some(module) = name.strip_suffix(".weight") else {
            continue;
        };
        let wanted = match kind_of(module) {
            Kind::Linear => true,
            Kind::Embedding => options.include_embeddings,
            Kind::LmHead => options.include_lm_head,
        };
        if dims.len() == 2 && wanted && !ft_ck.contains(&name) {
            return Err(MergeError::MissingTensor {
                tensor: name,
                for_output: None,
                model: "finetuned".into(),
                path: finetuned.to_path_buf(),
            });
        }
    }

    let total = selected.len();
    let mut entries: Vec<Entry> = Vec::new();
    let mut reports = Vec::new();
    let mut ranks: BTreeMap<String, usize> = BTreeMap::new();
    for (done, (name, kind, dims)) in selected.into_iter().enumerate() {
        let wb = read_f32(&base_ck, &name)?;
        let wf = read_f32(&ft_ck, &name)?;
        let dtype = options
            .dtype
            .unwrap_or_else(|| ft_ck.info(&name).expect("listed name").dtype);
        let (out_dim, in_dim) = (dims[0], dims[1]);
        let mut delta: Vec<f32> = wf.iter().zip(&wb).map(|(f, b)| f - b).collect();
        drop((wb, wf));
        // Embeddings are factored transposed: D^T = [dim, vocab].
        let (rows, cols) = if kind == Kind::Embedding {
            let mut t = vec![0f32; delta.len()];
            for i in 0..out_dim {
                for j in 0..in_dim {
                    t[j * out_dim + i] = delta[i * in_dim + j];
                }
            }
            delta = t;
            (in_dim, out_dim)
        } else {
            (out_dim, in_dim)
        };
        let norm = frobenius(&delta);
        if norm <= options.min_delta_norm {
            skipped.push(SkippedTensor {
                name,
                shape: dims,
                reason: format!(
                    "delta norm {norm:e} <= min_delta_norm {:e}",
                    options.min_delta_norm
                ),
            });
            if let Some(p) = progress {
                p(done + 1, total);
            }
            continue;
        }
        let lr = low_rank(
            &delta,
            rows,
            cols,
            options.rank,
            options.distribute_scale,
            options.sv_epsilon,
        )
        .ok_or_else(|| MergeError::Param {
            method: METHOD.into(),
            tensor: Some(name.clone()),
            model: None,
            message: format!(
                "the SVD of the delta did not converge ({})",
                file_of(&ft_ck, &name, finetuned)
            ),
        })?;
        if lr.rank == 0 {
            skipped.push(SkippedTensor {
                name,
                shape: dims,
                reason: format!(
                    "no singular value above sv_epsilon {:e}",
                    options.sv_epsilon
                ),
            });
            if let Some(p) = progress {
                p(done + 1, total);
            }
            continue;
        }
        let LowRank {
            mut a, mut b, rank, ..
        } = lr;
        let a_bytes = encode(&mut a, dtype)?;
        let b_bytes = encode(&mut b, dtype)?;
        let resid = residual_norm(&delta, &b, &a, rows, cols, rank);
        let total_energy: f64 = lr.singular_values.iter().map(|s| s * s).sum();
        let kept: f64 = lr.singular_values[..rank].iter().map(|s| s * s).sum();
        let module = name.strip_suffix(".weight").expect("selected weights");
        let (a_name, b_name) = if kind == Kind::Embedding {
            (
                format!("base_model.model.{module}.lora_embedding_A"),
                format!("base_model.model.{module}.lora_embedding_B"),
            )
        } else {
            (
                format!("base_model.model.{module}.lora_A.weight"),
                format!("base_model.model.{module}.lora_B.weight"),
            )
        };
        entries.push((a_name, dtype, Shape::new(vec![rank, cols]), a_bytes));
        entries.push((b_name, dtype, Shape::new(vec![rows, rank]), b_bytes));
        ranks.insert(module.to_string(), rank);
        reports.push(LoraTensorReport {
            name,
            shape: dims,
            rank,
            rel_error: resid / norm,
            energy_kept: if total_energy > 0.0 {
                kept / total_energy
            } else {
                1.0
            },
            delta_norm: norm,
        });
        if let Some(p) = progress {
            p(done + 1, total);
        }
    }

    let Some(rank) = ranks.values().copied().max() else {
        return Err(MergeError::Incompatible(format!(
            "extract-lora: no weight differs between {} and {} (beyond min_delta_norm): \
             nothing to extract",
            base.display(),
            finetuned.display()
        )));
    };
    let mut target_modules: Vec<String> = ranks
        .keys()
        .map(|m| m.rsplit('.').next().unwrap_or(m).to_string())
        .collect();
    target_modules.sort();
    target_modules.dedup();
    let pattern: serde_json::Map<String, serde_json::Value> = ranks
        .iter()
        .filter(|(_, &r)| r != rank)
        .map(|(m, &r)| (m.clone(), r.into()))
        .collect();
    let base_name = options
        .base_model_name_or_path
        .clone()
        .unwrap_or_else(|| base.display().to_string());
    let config = serde_json::json!({
        "base_model_name_or_path": base_name,
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": rank,
        "lora_alpha": rank,
        "use_rslora": false,
        "target_modules": target_modules,
        "modules_to_save": [],
        "rank_pattern": pattern,
        "alpha_pattern": pattern,
        "lora_dropout": 0.0,
        "fan_in_fan_out": false,
        "bias": "none",
        "inference_mode": true,
    });

    crate::output::write_atomically(out, existing, |dir| {
        let decl = entries
            .iter()
            .map(|(n, d, s, _)| (n.clone(), *d, s.clone()))
            .collect();
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        let w = crate::io::ShardedWriter::create(dir, decl, u64::MAX, Some(meta))?;
        for (n, _, _, bytes) in &entries {
            w.write(n, bytes)?;
        }
        w.finish()?;
        let from = dir.join("model.safetensors");
        let to = dir.join("adapter_model.safetensors");
        std::fs::rename(&from, &to).map_err(io_err(&to))?;
        let cfg_path = dir.join("adapter_config.json");
        let text = serde_json::to_string_pretty(&config).expect("json");
        std::fs::write(&cfg_path, text).map_err(io_err(&cfg_path))?;
        Ok(())
    })?;

    Ok(LoraReport {
        tensors: reports,
        skipped,
        rank,
        target_modules,
        out_dir: out.to_path_buf(),
    })
}
