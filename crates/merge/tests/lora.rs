//! `mosaic_merge::lora`: LoRA extraction checked against closed forms (deltas built with known
//! singular values), PEFT naming, and numpy's SVD on the mergekit fixtures.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use mosaic_merge::io::{Checkpoint, ShardedWriter};
use mosaic_merge::lora::{extract_lora, ExtractOptions, LoraReport};
use mosaic_merge::MergeError;
use mosaic_tensor::{convert, DType, Shape};

/// Write `tensors` (name, shape, row-major values) as one f32 `model.safetensors` in `dir`.
fn write_ckpt(dir: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    write_ckpt_as(dir, tensors, DType::F32);
}

fn write_ckpt_as(dir: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)], dtype: DType) {
    std::fs::create_dir_all(dir).unwrap();
    let decl = tensors
        .iter()
        .map(|(n, s, _)| (n.to_string(), dtype, Shape::new(s.clone())))
        .collect();
    let w = ShardedWriter::create(dir, decl, u64::MAX, None).unwrap();
    for (n, _, v) in tensors {
        let mut bytes = vec![0u8; v.len() * dtype.size_of()];
        convert::f32_to_bytes(v, dtype, &mut bytes).unwrap();
        w.write(n, &bytes).unwrap();
    }
    w.finish().unwrap();
}

fn read(ck: &Checkpoint, name: &str) -> (Vec<usize>, Vec<f32>) {
    let v = ck.tensor(name).unwrap();
    let n = v.dims().iter().product();
    let mut out = vec![0f32; n];
    convert::bytes_to_f32(v.dtype(), v.as_bytes(), &mut out).unwrap();
    (v.dims().to_vec(), out)
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// The Householder reflection `I − 2 v vᵀ / ‖v‖²` (`n × n`, row-major, f64): orthogonal.
fn householder(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    let vv: f64 = v.iter().map(|x| x * x).sum();
    let mut h = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            h[i * n + j] = (i == j) as u8 as f64 - 2.0 * v[i] * v[j] / vv;
        }
    }
    h
}

/// `D = Σ_t σ_t u_t v_tᵀ` with `u_t`, `v_t` the first columns of two Householder reflections:
/// its singular values are exactly `sigma` (rows × cols, row-major).
fn known_delta(rows: usize, cols: usize, sigma: &[f64]) -> Vec<f64> {
    let hu = householder(&(0..rows).map(|i| 1.0 + i as f64).collect::<Vec<_>>());
    let hv = householder(
        &(0..cols)
            .map(|j| if j % 2 == 0 { 1.0 } else { -2.0 } + 0.5 * j as f64)
            .collect::<Vec<_>>(),
    );
    let mut d = vec![0f64; rows * cols];
    for (t, s) in sigma.iter().enumerate() {
        for i in 0..rows {
            for j in 0..cols {
                d[i * cols + j] += s * hu[i * rows + t] * hv[j * cols + t];
            }
        }
    }
    d
}

/// A base/fine-tuned pair differing by `delta` in `model.layers.0.self_attn.q_proj.weight`
/// (`rows × cols`), plus a norm that differs too (1-D: never factored).
fn pair(tmp: &Path, rows: usize, cols: usize, delta: &[f64]) -> (PathBuf, PathBuf) {
    let base = values(rows * cols, 1);
    let ft: Vec<f32> = base
        .iter()
        .zip(delta)
        .map(|(b, d)| (*b as f64 + d) as f32)
        .collect();
    let (b, f) = (tmp.join("base"), tmp.join("ft"));
    let q = "model.layers.0.self_attn.q_proj.weight";
    let norm = "model.layers.0.input_layernorm.weight";
    write_ckpt(
        &b,
        &[
            (q, vec![rows, cols], base),
            (norm, vec![cols], vec![1.0; cols]),
        ],
    );
    write_ckpt(
        &f,
        &[
            (q, vec![rows, cols], ft),
            (norm, vec![cols], vec![1.5; cols]),
        ],
    );
    (b, f)
}

fn opts(rank: usize) -> ExtractOptions {
    ExtractOptions {
        rank,
        ..ExtractOptions::default()
    }
}

/// `B·A` (row-major) from the factors in the adapter.
fn product(ck: &Checkpoint, a_name: &str, b_name: &str) -> (usize, usize, Vec<f64>) {
    let (ad, a) = read(ck, a_name);
    let (bd, b) = read(ck, b_name);
    assert_eq!(ad[0], bd[1], "inner dimension");
    let (rows, r, cols) = (bd[0], bd[1], ad[1]);
    let mut p = vec![0f64; rows * cols];
    for i in 0..rows {
        for t in 0..r {
            for j in 0..cols {
                p[i * cols + j] += b[i * r + t] as f64 * a[t * cols + j] as f64;
            }
        }
    }
    (rows, cols, p)
}

const Q_A: &str = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
const Q_B: &str = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";

#[test]
fn exact_rank3_delta_is_reproduced_at_rank3() {
    let tmp = tempfile::tempdir().unwrap();
    let sigma = [5.0, 2.0, 0.5];
    let d = known_delta(6, 5, &sigma);
    let (b, f) = pair(tmp.path(), 6, 5, &d);
    let out = tmp.path().join("adapter");
    let rep = extract_lora(&b, &f, &out, &opts(3), None).unwrap();
    assert_eq!(rep.tensors.len(), 1);
    let t = &rep.tensors[0];
    assert_eq!(t.name, "model.layers.0.self_attn.q_proj.weight");
    assert_eq!(t.shape, vec![6, 5]);
    assert_eq!(t.rank, 3);
    assert!(t.rel_error < 1e-5, "rel_error {}", t.rel_error);
    assert!((t.energy_kept - 1.0).abs() < 1e-6, "{}", t.energy_kept);
    let norm = sigma.iter().map(|s| s * s).sum::<f64>().sqrt();
    assert!((t.delta_norm - norm).abs() < 1e-5 * norm);

    let ck = Checkpoint::open(out.join("adapter_model.safetensors")).unwrap();
    let (rows, cols, p) = product(&ck, Q_A, Q_B);
    assert_eq!((rows, cols), (6, 5));
    // D as the checkpoints hold it (f32 rounding of base + delta).
    let bck = Checkpoint::open(&b).unwrap();
    let fck = Checkpoint::open(&f).unwrap();
    let (_, wb) = read(&bck, "model.layers.0.self_attn.q_proj.weight");
    let (_, wf) = read(&fck, "model.layers.0.self_attn.q_proj.weight");
    for k in 0..rows * cols {
        let dk = (wf[k] - wb[k]) as f64;
        assert!((p[k] - dk).abs() < 1e-5, "entry {k}: {} vs {dk}", p[k]);
    }
}

#[test]
fn rank1_error_matches_closed_form() {
    let tmp = tempfile::tempdir().unwrap();
    let sigma = [4.0, 1.5, 0.75];
    let d = known_delta(7, 4, &sigma);
    let (b, f) = pair(tmp.path(), 7, 4, &d);
    let rep = extract_lora(&b, &f, &tmp.path().join("a"), &opts(1), None).unwrap();
    let t = &rep.tensors[0];
    let total: f64 = sigma.iter().map(|s| s * s).sum();
    let want = ((sigma[1] * sigma[1] + sigma[2] * sigma[2]) / total).sqrt();
    assert_eq!(t.rank, 1);
    assert!(
        (t.rel_error - want).abs() < 1e-5,
        "{} vs {want}",
        t.rel_error
    );
    let kept = sigma[0] * sigma[0] / total;
    assert!((t.energy_kept - kept).abs() < 1e-5, "{}", t.energy_kept);
    // At rank 2 the closed form is σ3 / ‖σ‖.
    let rep2 = extract_lora(&b, &f, &tmp.path().join("a2"), &opts(2), None).unwrap();
    let want2 = sigma[2] / total.sqrt();
    assert!((rep2.tensors[0].rel_error - want2).abs() < 1e-5);
}

#[test]
fn scale_is_split_as_mergekit_does() {
    let tmp = tempfile::tempdir().unwrap();
    let sigma = [9.0, 4.0];
    let d = known_delta(5, 5, &sigma);
    let (b, f) = pair(tmp.path(), 5, 5, &d);
    let col_norm = |m: &[f32], rows: usize, cols: usize, t: usize| {
        (0..rows)
            .map(|i| (m[i * cols + t] as f64).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let row_norm = |m: &[f32], cols: usize, t: usize| {
        m[t * cols..(t + 1) * cols]
            .iter()
            .map(|&x| (x as f64).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    // distribute_scale (default): ‖A row t‖ = ‖B col t‖ = √σ_t.
    let out = tmp.path().join("split");
    extract_lora(&b, &f, &out, &opts(2), None).unwrap();
    let ck = Checkpoint::open(out.join("adapter_model.safetensors")).unwrap();
    let (_, a) = read(&ck, Q_A);
    let (_, bm) = read(&ck, Q_B);
    for (t, s) in sigma.iter().enumerate() {
        assert!((row_norm(&a, 5, t) - s.sqrt()).abs() < 1e-5);
        assert!((col_norm(&bm, 5, 2, t) - s.sqrt()).abs() < 1e-5);
    }
    // Without: A = Σ Vᵀ, B = U.
    let out = tmp.path().join("whole");
    let o = ExtractOptions {
        distribute_scale: false,
        ..opts(2)
    };
    extract_lora(&b, &f, &out, &o, None).unwrap();
    let ck = Checkpoint::open(out.join("adapter_model.safetensors")).unwrap();
    let (_, a) = read(&ck, Q_A);
    let (_, bm) = read(&ck, Q_B);
    for (t, s) in sigma.iter().enumerate() {
        assert!((row_norm(&a, 5, t) - s).abs() < 1e-4);
        assert!((col_norm(&bm, 5, 2, t) - 1.0).abs() < 1e-5);
    }
}

/// A small Llama-like pair: every weight differs.
fn llama_pair(tmp: &Path) -> (PathBuf, PathBuf) {
    let names: [(&str, Vec<usize>); 7] = [
        ("model.embed_tokens.weight", vec![10, 4]),
        ("model.layers.0.input_layernorm.weight", vec![4]),
        ("model.layers.0.self_attn.q_proj.weight", vec![4, 4]),
        ("model.layers.0.self_attn.v_proj.weight", vec![2, 4]),
        ("model.layers.0.mlp.down_proj.weight", vec![4, 6]),
        ("model.norm.weight", vec![4]),
        ("lm_head.weight", vec![10, 4]),
    ];
    let mk = |seed: u64| -> Vec<(&str, Vec<usize>, Vec<f32>)> {
        names
            .iter()
            .enumerate()
            .map(|(i, (n, s))| {
                let v = values(s.iter().product(), seed * 100 + i as u64);
                (*n, s.clone(), v)
            })
            .collect()
    };
    let (b, f) = (tmp.join("base"), tmp.join("ft"));
    write_ckpt(&b, &mk(1));
    write_ckpt(&f, &mk(2));
    (b, f)
}

#[test]
fn output_follows_peft_names_and_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, f) = llama_pair(tmp.path());
    let out = tmp.path().join("adapter");
    let rep = extract_lora(&b, &f, &out, &opts(3), None).unwrap();
    let ck = Checkpoint::open(out.join("adapter_model.safetensors")).unwrap();
    let mut got: Vec<(String, Vec<usize>)> = ck
        .names()
        .into_iter()
        .map(|n| {
            let d = ck.info(&n).unwrap().shape.dims().to_vec();
            (n, d)
        })
        .collect();
    got.sort();
    let p = "base_model.model.model.layers.0.";
    let want = vec![
        (format!("{p}mlp.down_proj.lora_A.weight"), vec![3, 6]),
        (format!("{p}mlp.down_proj.lora_B.weight"), vec![4, 3]),
        (format!("{p}self_attn.q_proj.lora_A.weight"), vec![3, 4]),
        (format!("{p}self_attn.q_proj.lora_B.weight"), vec![4, 3]),
        // rank clamped to min(out, in) = 2
        (format!("{p}self_attn.v_proj.lora_A.weight"), vec![2, 4]),
        (format!("{p}self_attn.v_proj.lora_B.weight"), vec![2, 2]),
    ];
    assert_eq!(got, want);
    let skipped: Vec<(&str, &str)> = rep
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("lm_head.weight", "lm_head"),
            ("model.embed_tokens.weight", "embedding")
        ]
    );
    let ranks: Vec<(&str, usize)> = rep
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.rank))
        .collect();
    assert_eq!(
        ranks,
        vec![
            ("model.layers.0.mlp.down_proj.weight", 3),
            ("model.layers.0.self_attn.q_proj.weight", 3),
            ("model.layers.0.self_attn.v_proj.weight", 2),
        ]
    );
    // Full rank reproduces v_proj's delta.
    assert!(rep.tensors[2].rel_error < 1e-5);
    assert!(!tmp
        .path()
        .join("adapter.tmp-".to_string() + &std::process::id().to_string())
        .exists());
}

#[test]
fn embeddings_and_lm_head_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, f) = llama_pair(tmp.path());
    let out = tmp.path().join("adapter");
    let o = ExtractOptions {
        include_embeddings: true,
        include_lm_head: true,
        ..opts(4)
    };
    let rep = extract_lora(&b, &f, &out, &o, None).unwrap();
    assert!(rep.skipped.is_empty());
    let ck = Checkpoint::open(out.join("adapter_model.safetensors")).unwrap();
    let info = |n: &str| ck.info(n).unwrap().shape.dims().to_vec();
    // PEFT's Embedding: A [r, vocab], B [dim, r], delta = (B·A)ᵀ.
    let ea = "base_model.model.model.embed_tokens.lora_embedding_A";
    let eb = "base_model.model.model.embed_tokens.lora_embedding_B";
    assert_eq!(info(ea), vec![4, 10]);
    assert_eq!(info(eb), vec![4, 4]);
    assert_eq!(info("base_model.model.lm_head.lora_A.weight"), vec![4, 4]);
    assert_eq!(info("base_model.model.lm_head.lora_B.weight"), vec![10, 4]);
    // Rank 4 = full rank for both: (B·A)ᵀ is the embedding delta.
    let (rows, cols, p) = product(&ck, ea, eb);
    assert_eq!((rows, cols), (4, 10));
    let (_, wb) = read(&Checkpoint::open(&b).unwrap(), "model.embed_tokens.weight");
    let (_, wf) = read(&Checkpoint::open(&f).unwrap(), "model.embed_tokens.weight");
    for v in 0..10 {
        for d in 0..4 {
            let want = (wf[v * 4 + d] - wb[v * 4 + d]) as f64;
            assert!((p[d * 10 + v] - want).abs() < 1e-5);
        }
    }
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(
        cfg["target_modules"],
        serde_json::json!(["down_proj", "embed_tokens", "lm_head", "q_proj", "v_proj"])
    );
}

#[test]
fn adapter_config_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, f) = llama_pair(tmp.path());
    let out = tmp.path().join("adapter");
    let rep = extract_lora(&b, &f, &out, &opts(3), None).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 3);
    assert_eq!(cfg["lora_alpha"], 3);
    assert_eq!(cfg["use_rslora"], false);
    assert_eq!(cfg["fan_in_fan_out"], false);
    assert_eq!(cfg["base_model_name_or_path"], b.display().to_string());
    assert_eq!(
        cfg["target_modules"],
        serde_json::json!(["down_proj", "q_proj", "v_proj"])
    );
    // v_proj was clamped to rank 2: its alpha is 2 too, so every scaling alpha/r is 1.
    let pattern = serde_json::json!({"model.layers.0.self_attn.v_proj": 2});
    assert_eq!(cfg["rank_pattern"], pattern);
    assert_eq!(cfg["alpha_pattern"], pattern);
    assert_eq!(rep.rank, 3);
    assert_eq!(rep.target_modules, vec!["down_proj", "q_proj", "v_proj"]);
    // The report serializes (for --json).
    let j = serde_json::to_value(&rep).unwrap();
    assert_eq!(
        j["tensors"][0]["name"],
        "model.layers.0.mlp.down_proj.weight"
    );
    assert!(j["tensors"][0]["rel_error"].is_f64());

    let named = ExtractOptions {
        base_model_name_or_path: Some("meta-llama/Llama-3.2-1B".into()),
        ..opts(3)
    };
    let out2 = tmp.path().join("adapter2");
    extract_lora(&b, &f, &out2, &named, None).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out2.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["base_model_name_or_path"], "meta-llama/Llama-3.2-1B");
}

#[test]
fn errors_name_tensor_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let q = "model.layers.0.self_attn.q_proj.weight";
    let k = "model.layers.0.self_attn.k_proj.weight";
    let (b, f, f2) = (
        tmp.path().join("base"),
        tmp.path().join("ft"),
        tmp.path().join("ft2"),
    );
    write_ckpt(&b, &[(q, vec![4, 4], values(16, 1))]);
    write_ckpt(&f, &[(q, vec![4, 3], values(12, 2))]);
    write_ckpt(
        &f2,
        &[
            (q, vec![4, 4], values(16, 2)),
            (k, vec![4, 4], values(16, 3)),
        ],
    );
    let out = tmp.path().join("out");

    let e = extract_lora(&b, &f, &out, &opts(2), None).unwrap_err();
    assert!(matches!(e, MergeError::ShapeMismatch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(q), "{msg}");
    assert!(
        msg.contains(&b.join("model.safetensors").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains(&f.join("model.safetensors").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("[4, 4]") && msg.contains("[4, 3]"), "{msg}");
    assert!(!out.exists());

    let e = extract_lora(&b, &f2, &out, &opts(2), None).unwrap_err();
    assert!(matches!(e, MergeError::MissingTensor { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(k) && msg.contains(&b.display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("base"), "{msg}");

    // Missing from the fine-tuned model.
    let e = extract_lora(&f2, &b, &out, &opts(2), None).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(k) && msg.contains(&b.display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("finetuned"), "{msg}");

    let e = extract_lora(&b, &b, &out, &opts(0), None).unwrap_err();
    assert!(matches!(e, MergeError::Param { .. }), "{e:?}");
    assert!(e.to_string().contains("`rank`"), "{e}");

    let missing = tmp.path().join("nope");
    let e = extract_lora(&missing, &b, &out, &opts(2), None).unwrap_err();
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn output_folder_is_replaced_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, f) = llama_pair(tmp.path());
    let out = tmp.path().join("adapter");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "x").unwrap();
    let e = extract_lora(&b, &f, &out, &opts(2), None).unwrap_err();
    assert!(matches!(e, MergeError::OutputExists(_)), "{e:?}");
    assert!(out.join("keep.txt").exists());
    let o = ExtractOptions {
        overwrite: true,
        ..opts(2)
    };
    extract_lora(&b, &f, &out, &o, None).unwrap();
    assert!(!out.join("keep.txt").exists());
    assert!(out.join("adapter_model.safetensors").exists());
    assert!(out.join("adapter_config.json").exists());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn identical_and_small_deltas_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let q = "model.layers.0.self_attn.q_proj.weight";
    let k = "model.layers.0.self_attn.k_proj.weight";
    let v = "model.layers.0.self_attn.v_proj.weight";
    let base_q = values(16, 1);
    let base_v = values(16, 3);
    let small: Vec<f32> = base_v.iter().map(|x| x + 1e-4).collect(); // ‖D‖ = 4e-4
    let (b, f) = (tmp.path().join("base"), tmp.path().join("ft"));
    write_ckpt(
        &b,
        &[
            (q, vec![4, 4], base_q.clone()),
            (k, vec![4, 4], values(16, 2)),
            (v, vec![4, 4], base_v),
        ],
    );
    write_ckpt(
        &f,
        &[
            (q, vec![4, 4], base_q),
            (k, vec![4, 4], values(16, 5)),
            (v, vec![4, 4], small),
        ],
    );
    let rep = extract_lora(&b, &f, &tmp.path().join("a"), &opts(2), None).unwrap();
    let done: Vec<&str> = rep.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(done, vec![k, v]);
    assert_eq!(rep.skipped.len(), 1);
    assert_eq!(rep.skipped[0].name, q);
    let o = ExtractOptions {
        min_delta_norm: 1e-3,
        ..opts(2)
    };
    let rep = extract_lora(&b, &f, &tmp.path().join("b"), &o, None).unwrap();
    let done: Vec<&str> = rep.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(done, vec![k]);
    let skipped: Vec<&str> = rep.skipped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(skipped, vec![q, v]);
    // Nothing differs: an error, not an empty adapter.
    let e = extract_lora(&b, &b, &tmp.path().join("c"), &opts(2), None).unwrap_err();
    assert!(e.to_string().contains("nothing to extract"), "{e}");
    assert!(!tmp.path().join("c").exists());
}

#[test]
fn factors_take_the_finetuned_dtype_and_progress_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let q = "model.layers.0.self_attn.q_proj.weight";
    let o = "model.layers.0.self_attn.o_proj.weight";
    let (b, f) = (tmp.path().join("base"), tmp.path().join("ft"));
    let t = |s| {
        vec![
            (q, vec![8, 8], values(64, s)),
            (o, vec![8, 8], values(64, s + 7)),
        ]
    };
    write_ckpt_as(&b, &t(1), DType::BF16);
    write_ckpt_as(&f, &t(2), DType::BF16);
    let calls = RefCell::new(Vec::new());
    let progress = |d: usize, n: usize| calls.borrow_mut().push((d, n));
    let out = tmp.path().join("a");
    let rep = extract_lora(&b, &f, &out, &opts(8), Some(&progress)).unwrap();
    assert_eq!(*calls.borrow(), vec![(1, 2), (2, 2)]);
    let ck = Checkpoint::open(out.join("adapter_model.safetensors")).unwrap();
    for n in ck.names() {
        assert_eq!(ck.info(&n).unwrap().dtype, DType::BF16, "{n}");
    }
    // Full rank, but bf16 factors: the error is bf16 rounding (2^-8 relative), not zero.
    for t in &rep.tensors {
        assert!(t.rel_error > 1e-5 && t.rel_error < 2e-2, "{}", t.rel_error);
    }
    let f32_out = ExtractOptions {
        dtype: Some(DType::F32),
        ..opts(8)
    };
    let rep = extract_lora(&b, &f, &tmp.path().join("b"), &f32_out, None).unwrap();
    for t in &rep.tensors {
        assert!(t.rel_error < 1e-5, "{}", t.rel_error);
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/merge")
}

fn by_name<'a>(rep: &'a LoraReport, name: &str) -> &'a mosaic_merge::lora::LoraTensorReport {
    rep.tensors.iter().find(|t| t.name == name).unwrap()
}

#[test]
fn mergekit_fixtures_error_decreases_with_rank() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, f) = (fixtures().join("base"), fixtures().join("ft1"));
    let mut reports = Vec::new();
    for r in [1, 2, 4, 8, 16, 32] {
        let out = tmp.path().join(format!("r{r}"));
        let rep = extract_lora(&b, &f, &out, &opts(r), None).unwrap();
        // 3 layers × 7 linear modules; embeddings and lm_head skipped.
        assert_eq!(rep.tensors.len(), 21);
        assert_eq!(rep.skipped.len(), 2);
        assert_eq!(rep.rank, r);
        reports.push(rep);
    }
    for w in reports.windows(2) {
        for (lo, hi) in w[0].tensors.iter().zip(&w[1].tensors) {
            assert_eq!(lo.name, hi.name);
            assert!(
                hi.rel_error <= lo.rel_error + 1e-6,
                "{}: rank {} error {} > rank {} error {}",
                lo.name,
                hi.rank,
                hi.rel_error,
                lo.rank,
                lo.rel_error
            );
            assert!(hi.energy_kept >= lo.energy_kept - 1e-9);
            // Eckart–Young: the error is the energy left out.
            assert!((lo.rel_error - (1.0 - lo.energy_kept).max(0.0).sqrt()).abs() < 1e-4);
        }
    }
    // Rank 32 is full rank for every module (min dimension 32).
    for t in &reports[5].tensors {
        assert!(t.rel_error < 1e-5, "{}: {}", t.name, t.rel_error);
    }
    // numpy.linalg.svd (f64) of ft1 − base, sqrt(Σ_{i>r} σ_i² / Σ σ_i²); computed with:
    //   D = F[k].astype(float64) - B[k].astype(float64); s = np.linalg.svd(D, compute_uv=False)
    //   np.sqrt((s[r:]**2).sum() / (s**2).sum())
    let numpy: [(&str, [(usize, f64); 3]); 3] = [
        (
            "model.layers.0.self_attn.q_proj.weight",
            [
                (0, 0.9347693577952197),
                (2, 0.7721223310600991),
                (4, 0.28926075932040207),
            ],
        ),
        (
            "model.layers.1.mlp.down_proj.weight",
            [
                (0, 0.9518069876792015),
                (2, 0.8388629614929081),
                (4, 0.4710931089704924),
            ],
        ),
        (
            "model.layers.2.mlp.gate_proj.weight",
            [
                (0, 0.956623172190903),
                (2, 0.8317902558382261),
                (4, 0.44688518905490604),
            ],
        ),
    ];
    for (name, cases) in numpy {
        for (i, want) in cases {
            let got = by_name(&reports[i], name).rel_error;
            assert!(
                (got - want).abs() < 1e-4,
                "{name} rank {}: {got} vs numpy {want}",
                reports[i].rank
            );
        }
    }
}
