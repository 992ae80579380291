//! `mosaic dp train` through the binary with the built plugins: the JSON contract, the
//! accountant's ε equal to `mosaic dp epsilon` for the same q, σ and steps, learning, and
//! errors with their exit codes.

use std::process::{Command, Output};

use serde_json::Value;

fn mosaic(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mosaic"))
        .env_remove("MOSAIC_PLUGIN_PATH")
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .output()
        .expect("run mosaic")
}

fn train(args: &[&str]) -> Output {
    let mut all = vec!["dp", "train"];
    all.extend_from_slice(args);
    mosaic(&all)
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON document")
}

#[test]
fn private_run_reports_the_contract_and_the_cli_epsilon() {
    let o = train(&[
        "--epochs",
        "3",
        "--epsilon",
        "4",
        "--delta",
        "1e-5",
        "--batch",
        "64",
        "--seed",
        "1",
        "--noise-seed",
        "2",
        "--json",
    ]);
    let d = json(&o);
    for key in [
        "epsilon",
        "delta",
        "noise_multiplier",
        "test_accuracy",
        "epochs",
    ] {
        assert!(d.get(key).is_some(), "missing {key}: {d}");
    }
    assert_eq!(d["epochs"], 3);
    assert_eq!(d["per_epoch"].as_array().unwrap().len(), 3);
    let eps = d["epsilon"].as_f64().unwrap();
    assert!(eps > 0.0 && eps <= 4.0, "{eps}");
    // ε per epoch grows.
    let per: Vec<f64> = d["per_epoch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epsilon"].as_f64().unwrap())
        .collect();
    assert!(per.windows(2).all(|w| w[0] < w[1]), "{per:?}");
    // The same q, σ and steps through `mosaic dp epsilon`.
    let (q, sigma, steps) = (
        d["sampling_rate"].as_f64().unwrap(),
        d["noise_multiplier"].as_f64().unwrap(),
        d["steps"].as_u64().unwrap(),
    );
    let e = json(&mosaic(&[
        "dp",
        "epsilon",
        "--sampling-rate",
        &q.to_string(),
        "--noise-multiplier",
        &sigma.to_string(),
        "--steps",
        &steps.to_string(),
        "--delta",
        "1e-5",
        "--json",
    ]));
    assert_eq!(e["epsilon"].as_f64().unwrap(), eps, "{e}");
}

#[test]
fn the_non_private_baseline_learns_digits() {
    let d = json(&train(&["--epochs", "10", "--epsilon", "inf", "--json"]));
    assert!(d["epsilon"].is_null());
    assert_eq!(d["noise_multiplier"], 0.0);
    // A 64-64-10 MLP reaches well above 90 % on digits in 10 epochs (chance is 10 %).
    assert!(d["test_accuracy"].as_f64().unwrap() > 0.9, "{d}");
}

#[test]
fn a_given_noise_multiplier_stops_at_the_target_epsilon() {
    let d = json(&train(&[
        "--epochs",
        "50",
        "--epsilon",
        "1",
        "--noise-multiplier",
        "2.0",
        "--noise-seed",
        "3",
        "--json",
    ]));
    assert!(d["epsilon"].as_f64().unwrap() <= 1.0);
    assert!(d["epochs"].as_u64().unwrap() < 50, "{d}");
}

#[test]
fn pld_and_shuffling_and_the_per_example_engine_run() {
    let d = json(&train(&[
        "--epochs",
        "1",
        "--epsilon",
        "8",
        "--accountant",
        "pld",
        "--sampling",
        "shuffle",
        "--engine",
        "per-example",
        "--noise-seed",
        "1",
        "--json",
    ]));
    assert_eq!(d["accountant"], "pld");
    assert_eq!(d["sampling"], "shuffle");
    assert!(d["epsilon"].as_f64().unwrap() <= 8.0);
}

fn error(o: &Output) -> (i32, Value) {
    let code = o.status.code().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).expect("a JSON error");
    (code, v["error"].clone())
}

#[test]
fn errors_have_their_exit_codes() {
    for (args, code, needle) in [
        (vec!["--max-grad-norm", "0"], 2, "--max-grad-norm"),
        (vec!["--max-grad-norm=-1"], 2, "--max-grad-norm"),
        (vec!["--batch", "0"], 2, "--batch"),
        (vec!["--dataset", "cifar"], 3, "cifar"),
        (
            vec!["--epsilon", "1e-3", "--noise-multiplier", "0.5"],
            3,
            "cannot be met",
        ),
        (vec!["--optimizer", "nope"], 3, "nope"),
    ] {
        let mut all = vec!["--epochs", "1", "--json"];
        if !args.contains(&"--epsilon") {
            all.extend(["--epsilon", "3"]);
        }
        all.extend(args.iter().copied());
        let o = train(&all);
        let (got, e) = error(&o);
        assert_eq!(got, code, "{args:?}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{args:?}: {e}"
        );
    }
    // Text mode: one line on stderr, nothing on stdout.
    let o = train(&["--epochs", "1", "--epsilon", "3", "--batch", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: "));
}
