//! `mosaic nas search` and `mosaic nas compare` end to end, through the built plugin
//! libraries, on the built-in toy table (and on NAS-Bench-Graph when it has been fetched).

use std::io::Write;
use std::process::{Command, Output};

use serde_json::Value;

fn mosaic(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mosaic"))
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .output()
        .expect("run mosaic")
}

fn json_ok(args: &[&str]) -> Value {
    let o = mosaic(args);
    assert!(
        o.status.success(),
        "mosaic {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn err_of(args: &[&str]) -> String {
    let o = mosaic(args);
    assert!(!o.status.success(), "mosaic {args:?} succeeded");
    // With `--json` the error is a JSON document on stdout (docs/cli.md); else text on stderr.
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn search_reports_the_selection_its_test_score_and_both_regrets() {
    let v = json_ok(&[
        "nas",
        "search",
        "--benchmark",
        "toy",
        "--dataset",
        "3",
        "--strategy",
        "regularized-evolution",
        "--budget",
        "30",
        "--seed",
        "2",
        "--json",
    ]);
    for k in [
        "strategy",
        "dataset",
        "budget",
        "best_arch",
        "valid",
        "test",
        "valid_regret",
        "test_regret",
    ] {
        assert!(v.get(k).is_some(), "missing `{k}` in {v}");
    }
    assert_eq!(v["strategy"], "regularized-evolution");
    assert_eq!(v["budget"], 30);
    assert_eq!(v["queries"], 30);
    // The toy table's optimum scores exactly 1, so the regret is 1 minus the selection.
    let valid = v["valid"].as_f64().unwrap();
    assert!((v["valid_regret"].as_f64().unwrap() - (1.0 - valid)).abs() < 1e-12);
    assert!(
        v["test"].is_null() && v["test_regret"].is_null(),
        "the toy table has no test scores"
    );
    assert_eq!(v["best_arch"]["encoding"].as_array().unwrap().len(), 4);
    // Same seed, same answer; the library gives it too.
    let again = json_ok(&[
        "nas",
        "search",
        "--benchmark",
        "toy",
        "--dataset",
        "3",
        "--strategy",
        "regularized-evolution",
        "--budget",
        "30",
        "--seed",
        "2",
        "--json",
    ]);
    assert_eq!(v, again);
}

#[test]
fn compare_rows_hold_mean_and_std_of_both_regrets_and_match_single_searches() {
    let rows = json_ok(&[
        "nas",
        "compare",
        "--benchmark",
        "toy",
        "--strategies",
        "random,local-search",
        "--budget",
        "10,20",
        "--seeds",
        "4",
        "--json",
        "--threads",
        "2",
    ]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        for k in [
            "strategy",
            "mean_valid_regret",
            "std_valid_regret",
            "mean_test_regret",
            "std_test_regret",
        ] {
            assert!(r.get(k).is_some(), "missing `{k}` in {r}");
        }
    }
    // The budget-20 random row is the mean of `search --seed s` for s in 0..4.
    let mut regrets = Vec::new();
    for s in 0..4 {
        let v = json_ok(&[
            "nas",
            "search",
            "--benchmark",
            "toy",
            "--strategy",
            "random",
            "--budget",
            "20",
            "--seed",
            &s.to_string(),
            "--json",
        ]);
        regrets.push(v["valid_regret"].as_f64().unwrap());
    }
    let mean = regrets.iter().sum::<f64>() / 4.0;
    let row = rows
        .iter()
        .find(|r| r["strategy"] == "random" && r["budget"] == 20)
        .unwrap();
    assert!((row["mean_valid_regret"].as_f64().unwrap() - mean).abs() < 1e-12);
    // Thread count does not change results.
    let one = json_ok(&[
        "nas",
        "compare",
        "--benchmark",
        "toy",
        "--strategies",
        "random,local-search",
        "--budget",
        "10,20",
        "--seeds",
        "4",
        "--json",
        "--threads",
        "1",
    ]);
    assert_eq!(one.as_array().unwrap(), rows);
}

#[test]
fn a_trace_resumes_into_the_same_search() {
    let dir = tempfile::tempdir().unwrap();
    let half = dir.path().join("half.json");
    let full = dir.path().join("full.json");
    let base = [
        "nas",
        "search",
        "--benchmark",
        "toy",
        "--strategy",
        "local-search",
        "--seed",
        "5",
        "--json",
    ];
    let mut a = base.to_vec();
    a.extend(["--budget", "12", "--trace", half.to_str().unwrap()]);
    json_ok(&a);
    let mut b = base.to_vec();
    b.extend(["--budget", "30", "--trace", full.to_str().unwrap()]);
    let whole = json_ok(&b);
    let mut c = base.to_vec();
    c.extend(["--budget", "30", "--resume", half.to_str().unwrap()]);
    let resumed = json_ok(&c);
    assert_eq!(resumed["best_arch"], whole["best_arch"]);
    assert_eq!(resumed["valid"], whole["valid"]);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap();
    assert_eq!(t["queries"].as_array().unwrap().len(), 30);
    // A trace of another seed is refused.
    let mut d = base.to_vec();
    d.extend(["--budget", "30", "--resume", half.to_str().unwrap()]);
    d[7] = "6";
    assert!(err_of(&d).contains("seed"));
}

#[test]
fn bad_requests_are_errors_naming_what_is_wrong() {
    let e = err_of(&[
        "nas",
        "search",
        "--benchmark",
        "nas-bench-graph",
        "--dataset",
        "imagenet",
        "--strategy",
        "random",
        "--budget",
        "10",
    ]);
    assert!(e.contains("imagenet") && e.contains("cora"), "{e}");
    let e = err_of(&[
        "nas",
        "search",
        "--benchmark",
        "toy",
        "--strategy",
        "random",
        "--budget",
        "0",
    ]);
    assert!(e.contains("--budget"), "{e}");
    let e = err_of(&[
        "nas",
        "compare",
        "--benchmark",
        "toy",
        "--strategies",
        "random",
        "--budget",
        "0",
        "--seeds",
        "2",
    ]);
    assert!(e.contains("--budget"), "{e}");
    let e = err_of(&[
        "nas",
        "search",
        "--benchmark",
        "toy",
        "--strategy",
        "annealing",
        "--budget",
        "5",
    ]);
    assert!(e.contains("annealing"), "{e}");
    let e = err_of(&[
        "nas",
        "search",
        "--benchmark",
        "nas-bench-101",
        "--strategy",
        "random",
        "--budget",
        "5",
    ]);
    assert!(
        e.contains("nas-bench-101") && e.contains("nas-bench-graph"),
        "{e}"
    );
    let e = err_of(&[
        "nas",
        "search",
        "--benchmark",
        "toy",
        "--strategy",
        "random",
        "--budget",
        "5",
        "--param",
        "dedup=maybe",
    ]);
    assert!(e.contains("dedup"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let e = err_of(&[
        "nas",
        "search",
        "--benchmark",
        "nas-bench-graph",
        "--dataset",
        "cora",
        "--strategy",
        "random",
        "--budget",
        "5",
        "--benchmark-dir",
        empty.path().to_str().unwrap(),
    ]);
    assert!(e.contains("cargo xtask fetch-benchmarks"), "{e}");
}

#[test]
fn nas_bench_graph_search_when_fetched() {
    if mosaic_nas::nas_bench_graph::load("cora").is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (NAS-Bench-Graph tables not fetched): run `cargo xtask fetch-benchmarks`"
        );
        return;
    }
    let v = json_ok(&[
        "nas",
        "search",
        "--benchmark",
        "nas-bench-graph",
        "--dataset",
        "cora",
        "--strategy",
        "bananas",
        "--budget",
        "30",
        "--seed",
        "0",
        "--json",
    ]);
    let valid = v["valid"].as_f64().unwrap();
    let best_valid = 0.8193333333333334; // the package's best valid_perf on cora
    assert!((v["valid_regret"].as_f64().unwrap() - (best_valid - valid)).abs() < 1e-12);
    assert!(v["test_regret"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["best_arch"]["choices"].as_object().unwrap().len(), 5);
}
