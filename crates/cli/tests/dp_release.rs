//! `mosaic dp release` end to end through the built plugin libraries: the contract that
//! scripts depend on (values on stdout, the guarantee on stderr, `--json`, fixed seeds
//! labelled, errors naming the line).

use std::io::Write;
use std::process::{Command, Stdio};

fn mosaic(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mosaic"))
        .args(["dp", "release"])
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mosaic");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn laplace_release_prints_values_and_the_guarantee() {
    let o = mosaic(
        &[
            "--mechanism",
            "laplace",
            "--epsilon",
            "1",
            "--sensitivity",
            "1",
        ],
        "10\n20\n\n30\n",
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let values: Vec<f64> = text(&o.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    let err = text(&o.stderr);
    assert!(
        err.contains("Laplace mechanism") && err.contains("-DP"),
        "{err}"
    );
    assert!(!err.contains("WARNING"), "{err}");
}

#[test]
fn json_output_with_a_fixed_seed_is_reproducible_and_labelled() {
    let args = [
        "--mechanism",
        "gaussian",
        "--epsilon",
        "1",
        "--delta",
        "1e-6",
        "--sensitivity",
        "2",
        "--seed",
        "7",
        "--json",
    ];
    let a = mosaic(&args, "1.5\n2.5\n");
    assert!(a.status.success(), "{}", text(&a.stderr));
    let b = mosaic(&args, "1.5\n2.5\n");
    assert_eq!(a.stdout, b.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(doc["mechanism"], "gaussian");
    assert_eq!(doc["output"], "values");
    assert_eq!(doc["values"].as_array().unwrap().len(), 2);
    assert_eq!(doc["event"]["kind"], "gaussian");
    assert!(doc["event"]["noise_multiplier"].as_f64().unwrap() > 4.0);
    assert_eq!(doc["seed"], "fixed");
    assert!(doc["warning"].as_str().unwrap().contains("NOT private"));
}

#[test]
fn selection_reads_a_csv_column_and_releases_an_index() {
    let csv = "item,votes\na,10\nb,500\nc,12\n";
    let o = mosaic(
        &[
            "--mechanism",
            "exponential",
            "--epsilon",
            "2",
            "--sensitivity",
            "1",
            "--column",
            "votes",
            "--json",
        ],
        csv,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["output"], "indices");
    assert_eq!(doc["indices"], serde_json::json!([1]));
    assert_eq!(
        doc["event"],
        serde_json::json!({"kind": "pure", "epsilon": 2.0})
    );
    assert_eq!(doc["seed"], "os");
}

#[test]
fn errors_name_the_line_or_the_parameter() {
    let o = mosaic(
        &[
            "--mechanism",
            "laplace",
            "--epsilon",
            "1",
            "--sensitivity",
            "1",
        ],
        "1\n2\nthree\n",
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("line 3") && err.contains("`three`"), "{err}");
    // A non-integer for an integer mechanism: the plugin names the index, the CLI the line.
    let o = mosaic(
        &[
            "--mechanism",
            "geometric",
            "--epsilon",
            "1",
            "--sensitivity",
            "1",
        ],
        "1\n\n2.5\n",
    );
    let err = text(&o.stderr);
    assert!(err.contains("index 1") && err.contains("line 3:"), "{err}");
    for (args, needle) in [
        (vec!["--epsilon", "0", "--sensitivity", "1"], "`epsilon`"),
        (
            vec!["--epsilon", "1", "--sensitivity", "-1"],
            "`sensitivity`",
        ),
        (
            vec!["--epsilon", "1", "--sensitivity", "NaN"],
            "`sensitivity`",
        ),
        (
            vec!["--epsilon", "1", "--delta", "2", "--sensitivity", "1"],
            "`delta`",
        ),
    ] {
        let mut a = vec!["--mechanism", "gaussian"];
        if needle != "`delta`" {
            a.extend(["--delta", "1e-5"]);
        }
        a.extend(args);
        let o = mosaic(&a, "1\n");
        assert!(!o.status.success());
        let err = text(&o.stderr);
        assert!(err.contains(needle), "{a:?}: {err}");
    }
    let o = mosaic(
        &[
            "--mechanism",
            "nope",
            "--epsilon",
            "1",
            "--sensitivity",
            "1",
        ],
        "1\n",
    );
    assert!(text(&o.stderr).contains("nope"));
}
