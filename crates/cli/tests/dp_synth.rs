//! `mosaic dp synth` through the binary with the built plugins: the JSON contract, the
//! distance falling as ε grows, the accountant's ε within each target, and errors naming the
//! option.

use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mosaic"))
        .env_remove("MOSAIC_PLUGIN_PATH")
        .args(["dp", "synth"])
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .output()
        .expect("run mosaic")
}

#[test]
fn distance_falls_as_epsilon_grows() {
    // Seeds fixed (noise included), so the run is deterministic.
    let o = run(&[
        "--epsilon",
        "0.05,0.5,inf",
        "--private",
        "2000",
        "--population",
        "200",
        "--iterations",
        "8",
        "--repeats",
        "3",
        "--seed",
        "3",
        "--noise-seed",
        "4",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["noise_seed"], "fixed");
    assert_eq!(v["accountant"], "rdp");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let d: Vec<f64> = runs
        .iter()
        .map(|r| r["frechet_distance"].as_f64().unwrap())
        .collect();
    assert!(d[0] > d[1] && d[1] > d[2], "{d:?}");
    // Every run improves on the random start.
    assert!(d[0] < v["initial_distance"].as_f64().unwrap(), "{v}");
    for r in &runs[..2] {
        let target = r["epsilon"].as_f64().unwrap();
        let spent = r["epsilon_spent"].as_f64().unwrap();
        assert!(spent <= target && spent > 0.99 * target, "{r}");
        assert!(r["noise_multiplier"].as_f64().unwrap() > 0.0);
        assert_eq!(r["frechet_distances"].as_array().unwrap().len(), 3);
    }
    // The non-private run: epsilon null, no noise.
    assert!(runs[2]["epsilon"].is_null() && runs[2]["noise_multiplier"].is_null());
}

#[test]
fn text_output_names_the_setting() {
    let o = run(&[
        "--epsilon",
        "1",
        "--private",
        "200",
        "--population",
        "50",
        "--iterations",
        "2",
        "--repeats",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("Private Evolution") && text.contains("frechet_distance"),
        "{text}"
    );
}

#[test]
fn bad_options_are_named() {
    for (option, value) in [
        ("--epsilon", "0"),
        ("--epsilon", "-1"),
        ("--delta", "1"),
        ("--population", "1"),
        ("--iterations", "0"),
        ("--nearest-neighbors", "0"),
        ("--component-std", "0"),
        ("--threshold", "-1"),
        ("--repeats", "0"),
    ] {
        let o = run(&[&format!("{option}={value}"), "--json"]);
        assert_eq!(o.status.code(), Some(2), "{option} {value}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["error"]["option"], option, "{v}");
    }
    let o = run(&["--accountant", "nonesuch", "--json"]);
    assert_eq!(o.status.code(), Some(3));
    // An accountant that cannot analyse the Gaussian events is an input error naming them.
    let o = run(&["--accountant", "basic", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("gaussian"),
        "{v}"
    );
}
