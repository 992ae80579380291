//! End to end: mergekit 0.1.5's `linear` output reproduced with a linear method defined here.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mosaic_abi::family::merge::into_ffi;
use mosaic_merge::{execute, ExecuteOptions, MergeConfig, MergeError, Plan, PlanOptions};

fn linear_plan() -> Plan {
    let fx = common::fixtures();
    let cfg = MergeConfig::from_file(fx.join("cfg/linear.yaml")).unwrap();
    // Paths in the config are relative to the fixture folder (mergekit was run from there).
    Plan::build(
        &cfg,
        &fx,
        &common::linear_descriptor(),
        &PlanOptions::default(),
    )
    .unwrap()
}

#[test]
fn linear_matches_mergekit() {
    let plan = linear_plan();
    // ft2 is sharded (two files and an index).
    assert_eq!(plan.tensors.len(), 30);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let opts = ExecuteOptions {
        threads: 2,
        progress: Some(Arc::new(move |done, total, _bytes| {
            assert!(done <= total);
            c.fetch_add(1, Ordering::Relaxed);
        })),
        ..ExecuteOptions::default()
    };
    let report = execute(&plan, &common::linear(), &out, &opts).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 30);
    assert_eq!(report.tensors, 30);
    assert_eq!(report.bytes, plan.total_bytes());
    let got = common::read_all(&out);
    let want = common::read_all(&common::fixtures().join("expected/linear"));
    assert_eq!(got.len(), want.len());
    for ((gn, gs, gv), (wn, ws, wv)) in got.iter().zip(&want) {
        assert_eq!(gn, wn);
        assert_eq!(gs, ws, "{gn}");
        let err = gv
            .iter()
            .zip(wv)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err <= 1e-5, "{gn}: max abs error {err}");
    }
    // Side files: config with torch_dtype, the config yaml, no leftovers.
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["torch_dtype"], "float32");
    assert_eq!(cfg["num_hidden_layers"], 3);
    let yml = std::fs::read_to_string(out.join("mergekit_config.yml")).unwrap();
    assert!(yml.contains("merge_method: linear"));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only OUT_DIR remains");
}

#[test]
fn small_shards_produce_an_index() {
    let plan = linear_plan();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sharded");
    let opts = ExecuteOptions {
        max_shard_size: 40_000,
        threads: 1,
        ..ExecuteOptions::default()
    };
    let report = execute(&plan, &common::linear(), &out, &opts).unwrap();
    let index = out.join("model.safetensors.index.json");
    assert!(index.is_file(), "{:?}", report.files);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    let map = v["weight_map"].as_object().unwrap();
    assert_eq!(map.len(), 30);
    let shards: std::collections::BTreeSet<&str> =
        map.values().map(|f| f.as_str().unwrap()).collect();
    assert!(shards.len() > 1);
    // Same tensors as an unsharded run.
    let one = tmp.path().join("one");
    execute(&plan, &common::linear(), &one, &ExecuteOptions::default()).unwrap();
    assert_eq!(common::read_all(&out), common::read_all(&one));
}

#[test]
fn failing_method_leaves_no_output() {
    let plan = linear_plan();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let method = into_ffi(Box::new(common::FailOn(
        "model.layers.1.mlp.up_proj.weight",
    )));
    let e = execute(&plan, &method, &out, &ExecuteOptions::default()).unwrap_err();
    assert!(matches!(e, MergeError::Method { .. }), "{e}");
    assert!(
        e.to_string().contains("model.layers.1.mlp.up_proj.weight"),
        "{e}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "temp folder removed"
    );

    // An existing OUT_DIR is untouched by a failure, and refused without `overwrite`.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "x").unwrap();
    let e = execute(&plan, &common::linear(), &out, &ExecuteOptions::default()).unwrap_err();
    assert!(matches!(e, MergeError::OutputExists(_)), "{e}");
    let opts = ExecuteOptions {
        overwrite: true,
        ..ExecuteOptions::default()
    };
    execute(&plan, &method, &out, &opts).unwrap_err();
    assert!(out.join("keep.txt").is_file());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    // With `overwrite`, a successful merge replaces it.
    execute(&plan, &common::linear(), &out, &opts).unwrap();
    assert!(!out.join("keep.txt").exists());
    assert!(out.join("model.safetensors").is_file());
}

#[test]
fn bf16_output_dtype() {
    let fx = common::fixtures();
    let mut cfg = MergeConfig::from_file(fx.join("cfg/linear.yaml")).unwrap();
    cfg.out_dtype = Some("bfloat16".into());
    let plan = Plan::build(
        &cfg,
        &fx,
        &common::linear_descriptor(),
        &PlanOptions::default(),
    )
    .unwrap();
    assert!(plan
        .tensors
        .iter()
        .all(|t| t.dtype == mosaic_tensor::DType::BF16
            && t.compute_dtype == mosaic_tensor::DType::F32));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bf");
    execute(&plan, &common::linear(), &out, &ExecuteOptions::default()).unwrap();
    let ck = mosaic_merge::io::Checkpoint::open(&out).unwrap();
    assert_eq!(
        ck.info("model.norm.weight").unwrap().dtype,
        mosaic_tensor::DType::BF16
    );
    let got = common::read_all(&out);
    let want = common::read_all(&fx.join("expected/linear"));
    for ((n, _, g), (_, _, w)) in got.iter().zip(&want) {
        for (a, b) in g.iter().zip(w) {
            // bf16 keeps 8 significant bits.
            assert!((a - b).abs() <= b.abs() / 128.0 + 1e-6, "{n}: {a} vs {b}");
        }
    }
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["torch_dtype"], "bfloat16");
}
