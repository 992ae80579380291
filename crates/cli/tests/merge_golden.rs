//! `mosaic merge` end to end: the mergekit 0.1.5 fixtures in tests/fixtures/merge are merged
//! by the `mosaic` binary through the built plugin libraries and compared tensor by tensor with
//! mergekit's own output (f32 within 1e-5; bf16 bit-identical).
//!
//! Fixtures were made by `mergekit-yaml cfg/<name>.yaml out/<name> --allow-crimes` (mergekit
//! 0.1.5, CPU), run from tests/fixtures/merge; see its README.md and make_models.py.

use std::path::{Path, PathBuf};
use std::process::Command;

use mosaic_merge::io::Checkpoint;
use mosaic_tensor::DType;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/merge")
}

fn mosaic(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mosaic"))
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .current_dir(cwd)
        .output()
        .expect("run mosaic")
}

fn merge_ok(cfg: &str, out: &Path, extra: &[&str]) {
    let mut args = vec!["merge", cfg, out.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = mosaic(&args, &fixtures());
    assert!(
        o.status.success(),
        "mosaic merge {cfg} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn compare(expected: &Path, got: &Path) {
    let e = Checkpoint::open(expected).unwrap();
    let g = Checkpoint::open(got).unwrap();
    assert_eq!(e.names(), g.names(), "tensor names differ");
    for name in e.names() {
        let (ev, gv) = (e.tensor(&name).unwrap(), g.tensor(&name).unwrap());
        assert_eq!(ev.dims(), gv.dims(), "{name}: shape");
        assert_eq!(ev.dtype(), gv.dtype(), "{name}: dtype");
        if ev.dtype() == DType::BF16 {
            assert_eq!(ev.as_bytes(), gv.as_bytes(), "{name}: bf16 values differ");
        } else {
            let (a, b) = (ev.to_f32_vec(), gv.to_f32_vec());
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(worst <= 1e-5, "{name}: max |diff| {worst} > 1e-5");
        }
    }
}

macro_rules! golden {
    ($($test:ident => $cfg:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out");
            merge_ok(concat!("cfg/", $cfg, ".yaml"), &out, &[]);
            compare(&fixtures().join("expected").join($cfg), &out);
            // The output folder is a Hugging Face folder: config and the config used.
            assert!(out.join("config.json").is_file());
            assert!(out.join("mergekit_config.yml").is_file());
        }
    )*};
}

golden! {
    linear => "linear",
    slerp => "slerp",
    task_arithmetic => "task_arithmetic",
    ties => "ties",
    ties_bf16 => "ties_bf16",
    breadcrumbs_ties => "breadcrumbs_ties",
    model_stock => "model_stock",
    multislerp => "multislerp",
    nearswap => "nearswap",
    ram => "ram",
    sce => "sce",
    arcee_fusion => "arcee_fusion",
    nuslerp => "nuslerp",
    karcher => "karcher",
    ramplus_tl => "ramplus_tl",
    breadcrumbs => "breadcrumbs",
    task_arithmetic_gradient => "task_arithmetic_gradient",
    linear_out_bf16 => "linear_out_bf16",
    passthrough_slices => "passthrough_slices",
    slerp_gradient => "slerp_gradient",
    multislerp_base => "multislerp_base",
    nearswap_bf16 => "nearswap_bf16",
    model_stock_bf16 => "model_stock_bf16",
    multislerp_bf16 => "multislerp_bf16",
    nuslerp_bf16 => "nuslerp_bf16",
    karcher_bf16 => "karcher_bf16",
    slerp_bf16 => "slerp_bf16",
}

#[test]
fn output_above_the_shard_limit_is_sharded_with_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    merge_ok("cfg/linear.yaml", &out, &["--max-shard-size", "60KB"]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    let map = index["weight_map"].as_object().unwrap();
    assert_eq!(map.len(), 30);
    assert!(out.join("model-00001-of-00004.safetensors").is_file());
    compare(&fixtures().join("expected/linear"), &out);
}

/// mergekit's `--out-shard-size 20K` (20,000 bytes) split of the ties merge: the same shard
/// files, the same tensor-to-shard map and total size in the index, the same tensors.
#[test]
fn sharded_output_matches_mergekit_shard_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    merge_ok("cfg/ties_sharded.yaml", &out, &["--max-shard-size", "20KB"]);
    let expected = fixtures().join("expected/ties_sharded");
    let read_index = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("model.safetensors.index.json")).unwrap())
            .unwrap()
    };
    let (e, g) = (read_index(&expected), read_index(&out));
    assert_eq!(e["weight_map"], g["weight_map"], "tensor-to-shard map");
    assert_eq!(
        e["metadata"]["total_size"], g["metadata"]["total_size"],
        "total_size"
    );
    let shards = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".safetensors"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(shards(&expected), shards(&out), "shard files");
    assert_eq!(shards(&out).len(), 14);
    compare(&expected, &out);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = mosaic(
        &["merge", "cfg/ties.yaml", out.to_str().unwrap(), "--dry-run"],
        &fixtures(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("ties"), "{text}");
    assert!(
        text.contains("model.layers.2.mlp.down_proj.weight"),
        "{text}"
    );
    assert!(text.contains("density"), "{text}");
    assert!(!out.exists());
}

#[test]
fn dare_is_reproducible_and_the_seed_changes_it() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("dare.yaml");
    let root = fixtures();
    std::fs::write(
        &cfg,
        format!(
            "merge_method: dare_ties\nbase_model: {0}/base\nmodels:\n  - model: {0}/ft1\n    parameters: {{weight: 0.5, density: 0.5}}\n  - model: {0}/ft3\n    parameters: {{weight: 0.5, density: 0.5}}\ndtype: float32\n",
            root.display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let runs: Vec<Vec<u8>> = [None, None, Some("7")]
        .into_iter()
        .enumerate()
        .map(|(i, seed)| {
            let out = cfg_dir.path().join(format!("out{i}"));
            let mut extra = vec![];
            if let Some(s) = seed {
                extra = vec!["--seed", s];
            }
            merge_ok(cfg, &out, &extra);
            std::fs::read(out.join("model.safetensors")).unwrap()
        })
        .collect();
    assert_eq!(
        runs[0], runs[1],
        "same (default) seed gave different merges"
    );
    assert_ne!(runs[0], runs[2], "a different seed gave the same merge");
}

#[test]
fn an_unknown_method_or_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(
        &cfg,
        "merge_method: frobnicate\nmodels:\n  - model: ./ft1\n",
    )
    .unwrap();
    let o = mosaic(&["merge", cfg.to_str().unwrap(), "out"], &fixtures());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("frobnicate") && err.contains("linear"),
        "{err}"
    );
    std::fs::write(
        &cfg,
        "merge_method: linear\nmodels:\n  - model: ./ft1\n    parameters: {weight: 1.0}\nnormalise: true\n",
    )
    .unwrap();
    let o = mosaic(&["merge", cfg.to_str().unwrap(), "out"], &fixtures());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("normalise"), "{err}");
}

#[test]
fn extract_lora_writes_a_peft_adapter_and_reports_errors_per_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    let o = Command::new(env!("CARGO_BIN_EXE_mosaic"))
        .args([
            "extract-lora",
            "base",
            "ft1",
            out.to_str().unwrap(),
            "--rank",
            "8",
            "--json",
        ])
        .current_dir(fixtures())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tensors = report["tensors"].as_array().unwrap();
    // 3 layers × 7 linear modules; embeddings and lm_head are skipped by default.
    assert_eq!(tensors.len(), 21);
    for t in tensors {
        let e = t["rel_error"].as_f64().unwrap();
        assert!(e > 0.0 && e < 1.0, "{t}");
    }
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 8);
    let adapter = Checkpoint::open(out.join("adapter_model.safetensors")).unwrap();
    let a = adapter
        .info("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight")
        .unwrap();
    assert_eq!(a.shape.dims(), [8, 32]);
}

/// `align: weight_matching`: a model that is the base with its MLP hidden units permuted
/// (the same function) merges back into the base; without alignment the average is far off.
#[test]
fn weight_matching_alignment_undoes_a_permutation_before_merging() {
    use mosaic_tensor::safetensors::write_file;
    use mosaic_tensor::Tensor;
    let (h, i) = (8usize, 12usize);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    };
    let names = ["q_proj", "k_proj", "v_proj", "o_proj"];
    let mut base: Vec<(String, Vec<usize>, Vec<f32>)> = names
        .iter()
        .map(|n| {
            (
                format!("model.layers.0.self_attn.{n}.weight"),
                vec![h, h],
                rnd(h * h),
            )
        })
        .collect();
    base.push((
        "model.layers.0.mlp.gate_proj.weight".into(),
        vec![i, h],
        rnd(i * h),
    ));
    base.push((
        "model.layers.0.mlp.up_proj.weight".into(),
        vec![i, h],
        rnd(i * h),
    ));
    base.push((
        "model.layers.0.mlp.down_proj.weight".into(),
        vec![h, i],
        rnd(h * i),
    ));
    // A fixed permutation of the 12 hidden units.
    let perm = [3usize, 0, 7, 1, 11, 2, 9, 4, 10, 5, 8, 6];
    let permuted: Vec<(String, Vec<usize>, Vec<f32>)> = base
        .iter()
        .map(|(n, d, v)| {
            let mut out = v.clone();
            if n.contains("gate_proj") || n.contains("up_proj") {
                for (r, &p) in perm.iter().enumerate() {
                    out[r * h..(r + 1) * h].copy_from_slice(&v[p * h..(p + 1) * h]);
                }
            } else if n.contains("down_proj") {
                for row in 0..h {
                    for (c, &p) in perm.iter().enumerate() {
                        out[row * i + c] = v[row * i + p];
                    }
                }
            }
            (n.clone(), d.clone(), out)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":{h},"intermediate_size":{i},"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":2}}"#
    );
    for (folder, tensors) in [("base", &base), ("perm", &permuted)] {
        let d = dir.path().join(folder);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.json"), &config).unwrap();
        let owned: Vec<(String, Tensor)> = tensors
            .iter()
            .map(|(n, s, v)| (n.clone(), Tensor::from_f32(s.clone(), v.clone()).unwrap()))
            .collect();
        let views: Vec<(&str, _)> = owned.iter().map(|(n, t)| (n.as_str(), t.view())).collect();
        write_file(&d.join("model.safetensors"), &views, None).unwrap();
    }
    let yaml = |align: &str| {
        format!(
            "merge_method: linear\nbase_model: ./base\nmodels:\n  - model: ./base\n    parameters: {{weight: 0.5}}\n  - model: ./perm\n    parameters: {{weight: 0.5}}\ndtype: float32\n{align}"
        )
    };
    let worst = |align: &str| -> f32 {
        std::fs::write(dir.path().join("c.yaml"), yaml(align)).unwrap();
        let out = dir.path().join("out");
        let o = Command::new(env!("CARGO_BIN_EXE_mosaic"))
            .args(["merge", "c.yaml", "out", "--overwrite", "--plugin-dir"])
            .arg(mosaic_testkit::built_plugin_dir())
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let merged = Checkpoint::open(&out).unwrap();
        base.iter()
            .map(|(n, _, v)| {
                let m = merged.tensor(n).unwrap().to_f32_vec();
                m.iter()
                    .zip(v)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max)
            })
            .fold(0f32, f32::max)
    };
    let aligned = worst("align: weight_matching\n");
    let unaligned = worst("");
    assert!(
        aligned < 1e-6,
        "aligned merge is {aligned} away from the base"
    );
    assert!(
        unaligned > 0.05,
        "unaligned merge unexpectedly close: {unaligned}"
    );
}
