//! The conventions every `mosaic` command follows, checked through the binary: one message
//! per failure with each cause once, an exit status per kind of failure, the JSON error form
//! with `--json`, a quiet end when stdout's reader goes away, and plugin panics reported
//! without the panic hook's output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/merge")
}

fn mosaic() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mosaic"));
    c.env_remove("MOSAIC_PLUGIN_PATH")
        .env_remove(mosaic_abi::PANIC_REPORT_ENV)
        .current_dir(fixtures());
    c
}

fn run(args: &[&str]) -> Output {
    mosaic()
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .output()
        .expect("run mosaic")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The one JSON document a failed `--json` command prints on stdout, after checking that
/// stderr is empty and the exit status is `code`.
fn json_error(o: &Output, code: i32) -> Value {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "",
        "a --json failure writes nothing on stderr"
    );
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(&o.stdout)));
    let err = v["error"].clone();
    assert!(err["kind"].is_string() && err["message"].is_string(), "{v}");
    err
}

/// The single `error: ...` line a failed text-mode command prints on stderr.
fn text_error(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "", "a failure writes nothing on stdout");
    let e = text(&o.stderr);
    assert_eq!(e.lines().count(), 1, "one line on stderr: {e}");
    e.strip_prefix("error: ")
        .unwrap_or_else(|| panic!("starts with `error: `: {e}"))
        .trim_end()
        .to_string()
}

/// A merge config with the test-faulty plugin's `faulty` method on one fixture model; it
/// panics on the tensors matching `panic_filter` (every tensor when `None`).
fn faulty_config(dir: &Path, panic_filter: Option<&str>) -> PathBuf {
    let panic = match panic_filter {
        Some(f) => format!("\n    - filter: {f}\n      value: true\n    - value: false"),
        None => " true".to_string(),
    };
    let cfg = format!(
        "merge_method: faulty\nmodels:\n  - model: {}\nparameters:\n  panic:{panic}\ndtype: float32\n",
        fixtures().join("ft1").display()
    );
    let path = dir.join("faulty.yaml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Where the faulty plugin's `panic!` is, as a panic location (`file:line:column`).
fn faulty_panic_location() -> String {
    let file = "plugins/test-faulty/src/lib.rs";
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(file),
    )
    .unwrap();
    let (i, line) = src
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("panic!(\"deliberate panic"))
        .expect("the faulty plugin panics with `deliberate panic`");
    format!("{file}:{}:{}", i + 1, line.find("panic!").unwrap() + 1)
}

fn merge_faulty(cfg: &Path, out: &Path, extra: &[&str], backtrace: bool) -> Output {
    let mut c = mosaic();
    c.arg("merge")
        .arg(cfg)
        .arg(out)
        .args(extra)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_test_plugin_dir());
    if backtrace {
        c.env("RUST_BACKTRACE", "1");
    } else {
        c.env_remove("RUST_BACKTRACE");
    }
    c.output().expect("run mosaic")
}

#[test]
fn a_plugin_panic_is_one_error_naming_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = faulty_config(dir.path(), Some("lm_head"));
    let out = dir.path().join("out");
    let expected = format!(
        "merge method `faulty` failed on tensor `lm_head.weight`: plugin panicked: in `merge` at \
         {}: deliberate panic while merging `lm_head.weight`",
        faulty_panic_location()
    );
    for backtrace in [false, true] {
        let o = merge_faulty(&cfg, &out, &[], backtrace);
        assert_eq!(text_error(&o, 4), expected, "RUST_BACKTRACE={backtrace}");
        assert!(!out.exists(), "nothing written");
    }
    let o = merge_faulty(&cfg, &out, &["--json"], true);
    let err = json_error(&o, 4);
    assert_eq!(err["kind"], "plugin");
    assert_eq!(err["message"], expected.as_str());
    assert_eq!(err["tensor"], "lm_head.weight");
    assert_eq!(err["algorithm"], "faulty");
    assert!(!out.exists());
}

#[test]
fn panics_on_every_worker_thread_print_no_hook_output() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = faulty_config(dir.path(), None);
    let out = dir.path().join("out");
    let o = merge_faulty(&cfg, &out, &["--threads", "2"], true);
    let e = text_error(&o, 4);
    assert!(
        e.starts_with("merge method `faulty` failed on tensor `"),
        "{e}"
    );
    let cause = format!(
        "`: plugin panicked: in `merge` at {}: deliberate panic while merging `",
        faulty_panic_location()
    );
    assert!(e.contains(&cause), "{e}");
    assert!(!e.contains("stack backtrace"), "{e}");
    // The hook's own report comes back on request.
    let o = mosaic()
        .env(mosaic_abi::PANIC_REPORT_ENV, "1")
        .args(["merge", cfg.to_str().unwrap(), out.to_str().unwrap()])
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_test_plugin_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    assert!(
        text(&o.stderr).contains("panicked at"),
        "{}",
        text(&o.stderr)
    );
}

/// Run with stdout a pipe whose reader is already gone; the command must end quietly.
fn with_closed_stdout(args: &[&str]) -> Output {
    let mut child = mosaic()
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mosaic");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    Output {
        status,
        stdout: Vec::new(),
        stderr: err.into_bytes(),
    }
}

#[test]
fn every_command_ends_quietly_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["plugins"],
        &["plugins", "-v"],
        &["plugins", "--json"],
        &["merge", "cfg/ties.yaml", out, "--dry-run"],
        &["merge", "cfg/ties.yaml", out, "--dry-run", "--json"],
        &["merge", "cfg/linear.yaml", out],
        &["demo"],
        // Every family's commands follow the same rule.
        &[
            "optim",
            "minimize",
            "--optimizer",
            "adam",
            "--problem",
            "lsq:3x2",
            "--steps",
            "5",
        ],
        &[
            "dp",
            "epsilon",
            "--sampling-rate",
            "0.01",
            "--noise-multiplier",
            "1.1",
            "--steps",
            "100",
            "--delta",
            "1e-5",
            "--json",
        ],
        &[
            "ldp",
            "simulate",
            "--oracle",
            "grr",
            "--epsilon",
            "1",
            "--domain",
            "8",
            "--users",
            "1000",
            "--distribution",
            "uniform",
            "--seed",
            "1",
        ],
        &[
            "nas",
            "search",
            "--benchmark",
            "toy",
            "--strategy",
            "random",
            "--budget",
            "5",
            "--json",
        ],
    ];
    for args in commands {
        let o = with_closed_stdout(args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "mosaic {args:?}: {}",
            text(&o.stderr)
        );
        assert_eq!(text(&o.stderr), "", "mosaic {args:?}");
    }
    // `| head -1` in a shell: the first line arrives, and the exit status is 0.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -eo pipefail; '{}' plugins --plugin-dir '{}' | head -1; '{}' merge cfg/ties.yaml {out} \
             --dry-run --plugin-dir '{}' | head -1",
            env!("CARGO_BIN_EXE_mosaic"),
            mosaic_testkit::built_plugin_dir().display(),
            env!("CARGO_BIN_EXE_mosaic"),
            mosaic_testkit::built_plugin_dir().display(),
        ))
        .current_dir(fixtures())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 2, "{}", text(&o.stdout));
    assert_eq!(text(&o.stderr), "");
}

#[test]
fn bad_input_is_exit_3_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(
        &cfg,
        "merge_method: linear\nmodels:\n  - model: ./ft1\n    weight: 1\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let args = ["merge", cfg.to_str().unwrap(), out.to_str().unwrap()];
    let e = text_error(&run(&args), 3);
    assert!(
        e.starts_with(&format!("merge config {}: ", cfg.display())),
        "{e}"
    );
    assert!(e.contains("unknown field `weight`"), "{e}");
    let err = json_error(&run(&[&args[..], &["--json"]].concat()), 3);
    assert_eq!(err["kind"], "input");
    assert_eq!(err["file"], cfg.to_str().unwrap());
    assert_eq!(err["line"], 4);
    // A method no plugin provides.
    std::fs::write(&cfg, "merge_method: nope\nmodels:\n  - model: ./ft1\n").unwrap();
    let err = json_error(&run(&[&args[..], &["--json"]].concat()), 3);
    assert_eq!(err["algorithm"], "nope");
    assert!(err["message"].as_str().unwrap().contains("linear"), "{err}");
}

#[test]
fn a_missing_file_is_exit_5_and_a_bad_option_exit_2() {
    let err = json_error(&run(&["merge", "no-such.yaml", "/tmp/x", "--json"]), 5);
    assert_eq!(err["kind"], "io");
    assert_eq!(err["file"], "no-such.yaml");
    let e = text_error(&run(&["merge", "no-such.yaml", "/tmp/x"]), 5);
    assert!(e.starts_with("no-such.yaml: "), "{e}");
    assert_eq!(e.matches("no-such.yaml").count(), 1, "{e}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = ["merge", "cfg/linear.yaml", out.to_str().unwrap()];
    let bad = [&args[..], &["--max-shard-size", "lots", "--json"]].concat();
    let err = json_error(&run(&bad), 2);
    assert_eq!(err["kind"], "usage");
    assert_eq!(err["option"], "--max-shard-size");
    assert!(!out.exists());
    // An output folder that exists, without --overwrite.
    std::fs::create_dir_all(out.join("old")).unwrap();
    let err = json_error(&run(&[&args[..], &["--json"]].concat()), 2);
    assert_eq!(err["kind"], "usage");
    assert_eq!(err["file"], out.to_str().unwrap());
    assert!(out.join("old").is_dir(), "left as it was");
    // A command line clap rejects: its own text, or the JSON form with --json.
    let o = run(&["merge", "--json"]);
    let err = json_error(&o, 2);
    assert_eq!(err["kind"], "usage");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("required") && message.contains("<CONFIG>"),
        "{err}"
    );
    let o = run(&["merge", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--no-such-flag"));
}

#[test]
fn a_plugin_that_cannot_load_is_exit_4_naming_its_library() {
    let dir = mosaic_testkit::built_test_plugin_dir().join("wrong-abi");
    let o = mosaic()
        .args(["plugins", "--json", "--plugin-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = json_error(&o, 4);
    assert_eq!(err["kind"], "plugin");
    assert!(
        err["plugin"].as_str().unwrap().contains("wrong-abi"),
        "{err}"
    );
    let o = mosaic()
        .args(["plugins", "--plugin-dir", "/nonexistent/plugins"])
        .output()
        .unwrap();
    assert!(text_error(&o, 5).contains("/nonexistent/plugins"));
}

#[test]
fn help_documents_the_exit_statuses_and_the_json_error() {
    let o = mosaic().arg("--help").output().unwrap();
    assert!(o.status.success());
    let help = text(&o.stdout);
    for needle in [
        "Exit status:",
        "3  input",
        "4  plugin",
        "5  io",
        "{\"error\": {\"kind\"",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn verbose_listing_spells_scopes_as_json_does() {
    let o = run(&["plugins", "--json"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let linear = v["algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "linear")
        .unwrap();
    let weight = linear["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "weight")
        .unwrap();
    let scope = weight["scope"].as_str().unwrap();
    assert_eq!(scope, "per_model");
    let o = run(&["plugins", "-v"]);
    let listing = text(&o.stdout);
    let line = listing
        .lines()
        .find(|l| l.trim_start().starts_with("--weight ("))
        .unwrap();
    assert!(line.contains(&format!(", {scope}, ")), "{line}");
    assert!(!listing.contains("PerModel") && !listing.contains("Global"));
}
