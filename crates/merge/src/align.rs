//! Permutation alignment before merging: weight matching from "Git Re-Basin: Merging Models
//! modulo Permutation Symmetries" (Ainsworth, Hayase & Srinivasa, ICLR 2023), for
//! Llama-style decoders.
//!
//! Two symmetries of each decoder layer `ℓ` are aligned, each independently of every other
//! layer because the residual stream (the hidden dimension `H`) is left in place:
//!
//! * MLP hidden units: rows of `gate_proj` and `up_proj` (`[I, H]`) and columns of
//!   `down_proj` (`[H, I]`). Similarity `S = G_b G_mᵀ + U_b U_mᵀ + D_bᵀ D_m`.
//! * Attention heads: whole `head_dim` blocks of `q_proj`, `k_proj`, `v_proj` rows and of
//!   `o_proj` columns. With grouped-query attention a key/value group moves together with
//!   its query heads, and the query heads of one group may also be reordered among
//!   themselves (they all read the same keys and values). The order of dimensions inside a
//!   head is never changed, so rotary embeddings stay correct.
//!
//! Each permutation enters the matching objective `Σ ⟨W_b, π(W_m)⟩` linearly and touches no
//! other permutation's tensors, so one linear assignment per group is the exact optimum:
//! the paper's coordinate descent over layers is only needed when the residual stream is
//! permuted too, which this module does not do (it would have to be one permutation shared
//! by every layer, norm, embedding and the LM head).
//!
//! A [`Permutations`] value maps *base* positions to *model* units: `perm[j]` is the unit of
//! the model placed at position `j`, the one matched with unit `j` of the base. [`apply`]
//! rewrites one tensor of the model accordingly, so the model can then be merged
//! tensor-by-tensor with the base by any merge method.

pub mod lap;

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::io::Checkpoint;
use crate::{MergeError, Result};

/// Tensor names of decoder layer `i` start with `LAYER_PREFIX` then `i.`.
pub const LAYER_PREFIX: &str = "model.layers.";

/// Where weight matching reads tensors from, one at a time, as `f32`.
pub trait TensorSource {
    /// The tensor `name`, converted to `f32`, row-major.
    fn get(&self, name: &str) -> Result<Vec<f32>>;
    /// The shape of `name`, or `None` when absent.
    fn dims(&self, name: &str) -> Option<Vec<usize>>;
}

impl TensorSource for Checkpoint {
    fn get(&self, name: &str) -> Result<Vec<f32>> {
        let view = self.tensor(name)?;
        let mut out = vec![0f32; view.dims().iter().product()];
        mosaic_tensor::convert::bytes_to_f32(view.dtype(), view.as_bytes(), &mut out)?;
        Ok(out)
    }
    fn dims(&self, name: &str) -> Option<Vec<usize>> {
        self.info(name).map(|i| i.shape.dims().to_vec())
    }
}

/// In-memory tensors: name → (shape, row-major data).
impl TensorSource for HashMap<String, (Vec<usize>, Vec<f32>)> {
    fn get(&self, name: &str) -> Result<Vec<f32>> {
        self.get(name).map(|(_, d)| d.clone()).ok_or_else(|| {
            MergeError::Tensor(mosaic_tensor::TensorError::MissingTensor {
                name: name.to_string(),
                location: "in-memory tensors".into(),
            })
        })
    }
    fn dims(&self, name: &str) -> Option<Vec<usize>> {
        HashMap::get(self, name).map(|(s, _)| s.clone())
    }
}

/// What to align, and the attention geometry (from the model's `config.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlignOptions {
    /// Permute MLP hidden units.
    pub mlp: bool,
    /// Permute attention heads (and key/value groups).
    pub heads: bool,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads` (equal to `num_attention_heads` without grouped-query attention).
    pub num_key_value_heads: usize,
}

impl AlignOptions {
    /// Both symmetries, geometry from a parsed `config.json`: `num_attention_heads`
    /// (required), `num_key_value_heads` (default `num_attention_heads`); `hidden_size` must
    /// be a multiple of `num_attention_heads` unless `head_dim` is given.
    pub fn from_config_json(config: &serde_json::Value) -> Result<AlignOptions> {
        let field = |k: &str| config.get(k).and_then(serde_json::Value::as_u64);
        let bad = |k: &str, m: String| MergeError::Config {
            key: format!("config.json: {k}"),
            message: m,
        };
        let nh = field("num_attention_heads")
            .ok_or_else(|| bad("num_attention_heads", "missing or not an integer".into()))?
            as usize;
        let nkv = field("num_key_value_heads").map_or(nh, |v| v as usize);
        if nh == 0 || nkv == 0 || !nh.is_multiple_of(nkv) {
            return Err(bad(
                "num_key_value_heads",
                format!("{nkv} key/value heads cannot group {nh} attention heads"),
            ));
        }
        if field("head_dim").is_none() {
            if let Some(h) = field("hidden_size") {
                if !(h as usize).is_multiple_of(nh) {
                    return Err(bad(
                        "hidden_size",
                        format!("{h} is not a multiple of num_attention_heads = {nh}"),
                    ));
                }
            }
        }
        Ok(AlignOptions {
            mlp: true,
            heads: true,
            num_attention_heads: nh,
            num_key_value_heads: nkv,
        })
    }

    /// [`AlignOptions::from_config_json`] on `dir/config.json`.
    pub fn from_model_dir(dir: impl AsRef<Path>) -> Result<AlignOptions> {
        let path = dir.as_ref().join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| MergeError::Io {
            path: path.clone(),
            source,
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| MergeError::Config {
            key: path.display().to_string(),
            message: e.to_string(),
        })?;
        AlignOptions::from_config_json(&v)
    }
}

/// Total similarity `Σ ⟨W_b, π(W_m)⟩` of one group before (`identity`) and after alignment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchScore {
    /// With the model's units in their own order.
    pub identity: f64,
    /// With the matched permutation (never below `identity`).
    pub aligned: f64,
}

/// A permutation of one layer's MLP hidden units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitPermutation {
    /// `perm[j]`: the model's unit placed at position `j`.
    pub perm: Vec<usize>,
    /// Matching score.
    pub score: MatchScore,
}

/// A permutation of one layer's attention heads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadPermutation {
    /// Rows per head in `q_proj`/`k_proj`/`v_proj` (columns in `o_proj`).
    pub head_dim: usize,
    /// `kv_heads[g]`: the model's key/value head placed at position `g` (`k_proj`, `v_proj`).
    pub kv_heads: Vec<usize>,
    /// `q_heads[h]`: the model's query head placed at position `h` (`q_proj`, `o_proj`);
    /// head `h` stays in the group of key/value position `h / (q_heads.len() / kv_heads.len())`.
    pub q_heads: Vec<usize>,
    /// Matching score (query, key, value and output blocks together).
    pub score: MatchScore,
}

/// The permutations of one decoder layer; `None` where that symmetry was not aligned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerPermutation {
    /// MLP hidden units.
    pub mlp: Option<UnitPermutation>,
    /// Attention heads.
    pub heads: Option<HeadPermutation>,
}

/// The permutations aligning one model to the base, per decoder layer (index = layer).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Permutations {
    /// Layer `i` of the model.
    pub layers: Vec<LayerPermutation>,
}

impl Permutations {
    /// No permutation moves anything.
    pub fn is_identity(&self) -> bool {
        let id = |p: &[usize]| p.iter().enumerate().all(|(i, &x)| i == x);
        self.layers.iter().all(|l| {
            l.mlp.as_ref().is_none_or(|m| id(&m.perm))
                && l.heads
                    .as_ref()
                    .is_none_or(|h| id(&h.q_heads) && id(&h.kv_heads))
        })
    }

    /// Check that every vector is a permutation and the head layout is consistent (for
    /// permutations read back from a plan).
    pub fn validate(&self) -> Result<()> {
        for (i, l) in self.layers.iter().enumerate() {
            if let Some(m) = &l.mlp {
                check_perm(&m.perm, &format!("layer {i} mlp"))?;
            }
            if let Some(h) = &l.heads {
                check_perm(&h.kv_heads, &format!("layer {i} kv_heads"))?;
                check_perm(&h.q_heads, &format!("layer {i} q_heads"))?;
                let (nh, nkv) = (h.q_heads.len(), h.kv_heads.len());
                if nkv == 0 || !nh.is_multiple_of(nkv) {
                    return Err(incompatible(format!(
                        "permutations: layer {i}: {nh} query heads cannot form {nkv} groups"
                    )));
                }
                let r = nh / nkv;
                for (pos, &src) in h.q_heads.iter().enumerate() {
                    if src / r != h.kv_heads[pos / r] {
                        return Err(incompatible(format!(
                            "permutations: layer {i}: query head {src} moved away from its \
                             key/value group"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

fn incompatible(m: String) -> MergeError {
    MergeError::Incompatible(m)
}

fn check_perm(p: &[usize], what: &str) -> Result<()> {
    let mut seen = vec![false; p.len()];
    for &x in p {
        if x >= p.len() || std::mem::replace(&mut seen[x], true) {
            return Err(incompatible(format!(
                "permutations: {what} is not a permutation of 0..{}",
                p.len()
            )));
        }
    }
    Ok(())
}

fn layer_name(layer: usize, suffix: &str) -> String {
    format!("{LAYER_PREFIX}{layer}.{suffix}")
}

/// Align `model` to `base` by weight matching, one decoder layer at a time (at most the
/// four attention or three MLP tensors of a layer, of both models, are held at once).
/// Layers are `model.layers.{i}` for `i = 0, 1, …` while the base has `mlp.gate_proj` or
/// `self_attn.q_proj` there.
pub fn weight_matching(
    base: &dyn TensorSource,
    model: &dyn TensorSource,
    opts: &AlignOptions,
) -> Result<Permutations> {
    let mut out = Permutations::default();
    for layer in 0.. {
        let has_mlp = base
            .dims(&layer_name(layer, "mlp.gate_proj.weight"))
            .is_some();
        let has_attn = base
            .dims(&layer_name(layer, "self_attn.q_proj.weight"))
            .is_some();
        if !has_mlp && !has_attn {
            break;
        }
        let mut lp = LayerPermutation::default();
        if opts.mlp && has_mlp {
            lp.mlp = Some(match_mlp(base, model, layer)?);
        }
        if opts.heads && has_attn {
            lp.heads = Some(match_heads(base, model, layer, opts)?);
        }
        out.layers.push(lp);
    }
    Ok(out)
}

/// Read `name` from both models, check both shapes equal `want`.
fn read_pair(
    base: &dyn TensorSource,
    model: &dyn TensorSource,
    name: &str,
    want: &[usize],
) -> Result<(Vec<f32>, Vec<f32>)> {
    for (which, src) in [("base", base), ("model", model)] {
        match src.dims(name) {
            Some(d) if d == want => {}
            Some(d) => {
                return Err(incompatible(format!(
                    "weight matching: tensor `{name}` has shape {d:?} in the {which}, \
                     expected {want:?}"
                )))
            }
            None => {
                return Err(incompatible(format!(
                    "weight matching: tensor `{name}` is missing from the {which}"
                )))
            }
        }
    }
    Ok((base.get(name)?, model.get(name)?))
}

/// The optional bias `name`, when present in the base (then required in the model).
fn read_bias(
    base: &dyn TensorSource,
    model: &dyn TensorSource,
    name: &str,
    len: usize,
) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    if base.dims(name).is_none() {
        return Ok(None);
    }
    read_pair(base, model, name, &[len]).map(Some)
}

fn dims2(src: &dyn TensorSource, name: &str) -> Result<[usize; 2]> {
    match src.dims(name).as_deref() {
        Some(&[a, b]) => Ok([a, b]),
        Some(d) => Err(incompatible(format!(
            "weight matching: tensor `{name}` has shape {d:?}, expected a matrix"
        ))),
        None => Err(incompatible(format!(
            "weight matching: tensor `{name}` is missing from the base"
        ))),
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    // f32 lanes over short chunks, chunk sums in f64: vectorises and stays accurate.
    let mut total = 0f64;
    for (ca, cb) in a.chunks(1024).zip(b.chunks(1024)) {
        let mut acc = [0f32; 8];
        let (ea, eb) = (ca.chunks_exact(8), cb.chunks_exact(8));
        let (ra, rb) = (ea.remainder(), eb.remainder());
        for (x, y) in ea.zip(eb) {
            for k in 0..8 {
                acc[k] += x[k] * y[k];
            }
        }
        let mut s: f32 = acc.iter().sum();
        for (x, y) in ra.iter().zip(rb) {
            s += x * y;
        }
        total += s as f64;
    }
    total
}

/// `s[i * n + j] += ⟨a_i, b_j⟩` for the `n` consecutive blocks of `len` values of `a`, `b`.
fn add_block_gram(s: &mut [f64], a: &[f32], b: &[f32], n: usize, len: usize) {
    debug_assert!(a.len() == n * len && b.len() == n * len && s.len() == n * n);
    s.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let ai = &a[i * len..(i + 1) * len];
        for (j, x) in row.iter_mut().enumerate() {
            *x += dot(ai, &b[j * len..(j + 1) * len]);
        }
    });
}

/// `[rows, cols]` → `[cols, rows]`.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; a.len()];
    const B: usize = 32;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    t[c * rows + r] = a[r * cols + c];
                }
            }
        }
    }
    t
}

fn score(s: &[f64], n: usize, perm: &[usize]) -> MatchScore {
    MatchScore {
        identity: (0..n).map(|i| s[i * n + i]).sum(),
        aligned: (0..n).map(|i| s[i * n + perm[i]]).sum(),
    }
}

fn match_mlp(
    base: &dyn TensorSource,
    model: &dyn TensorSource,
    layer: usize,
) -> Result<UnitPermutation> {
    let gate = layer_name(layer, "mlp.gate_proj.weight");
    let [i, h] = dims2(base, &gate)?;
    let mut s = vec![0f64; i * i];
    for (name, shape) in [
        (gate, [i, h]),
        (layer_name(layer, "mlp.up_proj.weight"), [i, h]),
        (layer_name(layer, "mlp.down_proj.weight"), [h, i]),
    ] {
        let (b, m) = read_pair(base, model, &name, &shape)?;
        if shape[0] == h {
            add_block_gram(&mut s, &transpose(&b, h, i), &transpose(&m, h, i), i, h);
        } else {
            add_block_gram(&mut s, &b, &m, i, h);
        }
    }
    for name in ["mlp.gate_proj.bias", "mlp.up_proj.bias"] {
        if let Some((b, m)) = read_bias(base, model, &layer_name(layer, name), i)? {
            add_block_gram(&mut s, &b, &m, i, 1);
        }
    }
    let perm = lap::max_weight_assignment(i, &s)?;
    Ok(UnitPermutation {
        score: score(&s, i, &perm),
        perm,
    })
}

fn match_heads(
    base: &dyn TensorSource,
    model: &dyn TensorSource,
    layer: usize,
    opts: &AlignOptions,
) -> Result<HeadPermutation> {
    let (nh, nkv) = (opts.num_attention_heads, opts.num_key_value_heads);
    if nh == 0 || nkv == 0 || !nh.is_multiple_of(nkv) {
        return Err(incompatible(format!(
            "weight matching: {nkv} key/value heads cannot group {nh} attention heads"
        )));
    }
    let q = layer_name(layer, "self_attn.q_proj.weight");
    let [q_rows, h] = dims2(base, &q)?;
    if !q_rows.is_multiple_of(nh) {
        return Err(incompatible(format!(
            "weight matching: `{q}` has {q_rows} rows, not a multiple of \
             num_attention_heads = {nh}"
        )));
    }
    let hd = q_rows / nh;
    let (qlen, kvlen) = (nh * hd, nkv * hd);

    // Query-side similarity (q rows, o columns, q bias) between query heads.
    let mut sq = vec![0f64; nh * nh];
    {
        let (b, m) = read_pair(base, model, &q, &[qlen, h])?;
        add_block_gram(&mut sq, &b, &m, nh, hd * h);
    }
    {
        let o = layer_name(layer, "self_attn.o_proj.weight");
        let (b, m) = read_pair(base, model, &o, &[h, qlen])?;
        let (bt, mt) = (transpose(&b, h, qlen), transpose(&m, h, qlen));
        add_block_gram(&mut sq, &bt, &mt, nh, hd * h);
    }
    if let Some((b, m)) = read_bias(
        base,
        model,
        &layer_name(layer, "self_attn.q_proj.bias"),
        qlen,
    )? {
        add_block_gram(&mut sq, &b, &m, nh, hd);
    }
    // Key/value-side similarity between key/value heads.
    let mut skv = vec![0f64; nkv * nkv];
    for p in ["k_proj", "v_proj"] {
        let w = layer_name(layer, &format!("self_attn.{p}.weight"));
        let (b, m) = read_pair(base, model, &w, &[kvlen, h])?;
        add_block_gram(&mut skv, &b, &m, nkv, hd * h);
        let bias = layer_name(layer, &format!("self_attn.{p}.bias"));
        if let Some((b, m)) = read_bias(base, model, &bias, kvlen)? {
            add_block_gram(&mut skv, &b, &m, nkv, hd);
        }
    }

    // Group g of the base against group g' of the model: their key/value similarity plus the
    // best matching of their query heads. Exact: the objective is a sum over matched groups.
    let r = nh / nkv;
    let mut group = vec![0f64; nkv * nkv];
    let mut within: Vec<Vec<usize>> = Vec::with_capacity(nkv * nkv);
    for g in 0..nkv {
        for g2 in 0..nkv {
            let mut sub = vec![0f64; r * r];
            for a in 0..r {
                for b in 0..r {
                    sub[a * r + b] = sq[(g * r + a) * nh + g2 * r + b];
                }
            }
            let p = lap::max_weight_assignment(r, &sub)?;
            let v: f64 = (0..r).map(|a| sub[a * r + p[a]]).sum();
            group[g * nkv + g2] = skv[g * nkv + g2] + v;
            within.push(p);
        }
    }
    let kv_heads = lap::max_weight_assignment(nkv, &group)?;
    let mut q_heads = Vec::with_capacity(nh);
    for (g, &g2) in kv_heads.iter().enumerate() {
        q_heads.extend(within[g * nkv + g2].iter().map(|&b| g2 * r + b));
    }
    let total = |qp: &[usize], kp: &[usize]| -> f64 {
        (0..nh).map(|x| sq[x * nh + qp[x]]).sum::<f64>()
            + (0..nkv).map(|x| skv[x * nkv + kp[x]]).sum::<f64>()
    };
    let ident: Vec<usize> = (0..nh).collect();
    let score = MatchScore {
        identity: total(&ident, &ident[..nkv]),
        aligned: total(&q_heads, &kv_heads),
    };
    Ok(HeadPermutation {
        head_dim: hd,
        kv_heads,
        q_heads,
        score,
    })
}

/// Which tensor of a decoder layer a name is, and its layer index.
fn parse(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix(LAYER_PREFIX)?;
    let (idx, suffix) = rest.split_once('.')?;
    Some((idx.parse().ok()?, suffix))
}

enum Axis {
    Rows,
    Cols,
}

/// How `apply` rewrites `name`: the axis, the permutation and its block size.
fn plan_for<'a>(perms: &'a Permutations, name: &str) -> Option<(Axis, &'a [usize], usize)> {
    let (layer, suffix) = parse(name)?;
    let lp = perms.layers.get(layer)?;
    let mlp = lp.mlp.as_ref().map(|m| m.perm.as_slice());
    let heads = lp.heads.as_ref();
    match suffix {
        "mlp.gate_proj.weight"
        | "mlp.up_proj.weight"
        | "mlp.gate_proj.bias"
        | "mlp.up_proj.bias" => mlp.map(|p| (Axis::Rows, p, 1)),
        "mlp.down_proj.weight" => mlp.map(|p| (Axis::Cols, p, 1)),
        "self_attn.q_proj.weight" | "self_attn.q_proj.bias" => {
            heads.map(|h| (Axis::Rows, h.q_heads.as_slice(), h.head_dim))
        }
        "self_attn.k_proj.weight"
        | "self_attn.k_proj.bias"
        | "self_attn.v_proj.weight"
        | "self_attn.v_proj.bias" => heads.map(|h| (Axis::Rows, h.kv_heads.as_slice(), h.head_dim)),
        "self_attn.o_proj.weight" => heads.map(|h| (Axis::Cols, h.q_heads.as_slice(), h.head_dim)),
        _ => None,
    }
}

/// Whether [`apply`] changes tensor `name` (its permutation is not the identity).
pub fn is_permuted(perms: &Permutations, name: &str) -> bool {
    plan_for(perms, name).is_some_and(|(_, p, _)| p.iter().enumerate().any(|(i, &x)| i != x))
}

/// Permute one tensor of the aligned model in place, row-major `data` of shape `dims`.
/// Tensors outside the aligned groups (embeddings, norms, `lm_head`, `o_proj`/`down_proj`
/// biases, which live in the residual stream) are left as they are. Returns whether the
/// tensor belongs to an aligned group.
pub fn apply(perms: &Permutations, name: &str, dims: &[usize], data: &mut [f32]) -> Result<bool> {
    let Some((axis, perm, block)) = plan_for(perms, name) else {
        return Ok(false);
    };
    check_perm(perm, name)?;
    let (rows, cols) = match dims {
        [n] => (*n, 1),
        [r, c] => (*r, *c),
        _ => {
            return Err(incompatible(format!(
                "align: tensor `{name}` has shape {dims:?}, expected a vector or matrix"
            )))
        }
    };
    let axis_len = match axis {
        Axis::Rows => rows,
        Axis::Cols => cols,
    };
    if axis_len != perm.len() * block || data.len() != rows * cols {
        return Err(incompatible(format!(
            "align: tensor `{name}` of shape {dims:?} ({} values) does not fit a permutation \
             of {} blocks of {block}",
            data.len(),
            perm.len()
        )));
    }
    match axis {
        Axis::Rows => {
            let src = data.to_vec();
            let stride = block * cols;
            for (j, &p) in perm.iter().enumerate() {
                data[j * stride..(j + 1) * stride]
                    .copy_from_slice(&src[p * stride..(p + 1) * stride]);
            }
        }
        Axis::Cols => {
            let mut tmp = vec![0f32; cols];
            for row in data.chunks_exact_mut(cols) {
                tmp.copy_from_slice(row);
                for (j, &p) in perm.iter().enumerate() {
                    row[j * block..(j + 1) * block]
                        .copy_from_slice(&tmp[p * block..(p + 1) * block]);
                }
            }
        }
    }
    Ok(true)
}
