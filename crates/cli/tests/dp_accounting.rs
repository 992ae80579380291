//! `mosaic dp epsilon` / `noise-multiplier` / `max-steps` through the binary with the built
//! plugins: the JSON contract, agreement with dp-accounting's fixture, and errors naming the
//! option with exit status 2 (usage) or 3 (input).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mosaic"))
        .env_remove("MOSAIC_PLUGIN_PATH")
        .arg("dp")
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .output()
        .expect("run mosaic")
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn fixture_row() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dp/accounting.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["dpsgd"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sampling_rate"] == 0.01 && r["steps"] == 10000)
        .unwrap()
        .clone()
}

const DPSGD: [&str; 8] = [
    "--sampling-rate",
    "0.01",
    "--noise-multiplier",
    "1.1",
    "--steps",
    "10000",
    "--delta",
    "1e-5",
];

#[test]
fn epsilon_json_contract_and_values() {
    let row = fixture_row();
    let mut args = vec!["epsilon"];
    args.extend(DPSGD);
    args.push("--json");
    let v = json(&run(&args));
    assert_eq!(v["accountant"], "rdp");
    assert_eq!(v["delta"], 1e-5);
    assert_eq!(v["order"], row["rdp_order"]);
    let e = v["epsilon"].as_f64().unwrap();
    assert!(
        (e / row["rdp_epsilon"].as_f64().unwrap() - 1.0).abs() < 5e-3,
        "{v}"
    );
    args.extend(["--accountant", "pld"]);
    let v = json(&run(&args));
    assert_eq!(v["accountant"], "pld");
    assert!(v["order"].is_null());
    let e = v["epsilon"].as_f64().unwrap();
    let want = row["pld_epsilon"].as_f64().unwrap();
    assert!((-5e-3..=2e-2).contains(&(e / want - 1.0)), "{v}");
    // Text mode: one line naming the accountant and the order.
    let mut text = vec!["epsilon"];
    text.extend(DPSGD);
    let o = run(&text);
    let line = String::from_utf8(o.stdout).unwrap();
    assert!(
        line.starts_with("epsilon = 5.63") && line.contains("order 4.7"),
        "{line}"
    );
}

#[test]
fn noise_multiplier_inverts_epsilon() {
    let v = json(&run(&[
        "noise-multiplier",
        "--epsilon",
        "2",
        "--delta",
        "1e-5",
        "--sampling-rate",
        "0.01",
        "--steps",
        "1000",
        "--json",
    ]));
    let sigma = v["noise_multiplier"].as_f64().unwrap();
    assert!(v["epsilon"].as_f64().unwrap() <= 2.0, "{v}");
    let s = sigma.to_string();
    let back = json(&run(&[
        "epsilon",
        "--sampling-rate",
        "0.01",
        "--noise-multiplier",
        &s,
        "--steps",
        "1000",
        "--delta",
        "1e-5",
        "--json",
    ]));
    assert_eq!(back["epsilon"], v["epsilon"]);
    let steps = json(&run(&[
        "max-steps",
        "--epsilon",
        "2",
        "--delta",
        "1e-5",
        "--sampling-rate",
        "0.01",
        "--noise-multiplier",
        &s,
        "--json",
    ]));
    assert!(steps["steps"].as_u64().unwrap() >= 1000, "{steps}");
}

fn with(args: &[&str], option: &str, value: &str) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let i = v.iter().position(|a| a == option).unwrap();
    v[i + 1] = value.to_string();
    v
}

#[test]
fn bad_options_are_named() {
    let nm = [
        "noise-multiplier",
        "--epsilon",
        "1",
        "--delta",
        "1e-5",
        "--sampling-rate",
        "0.01",
        "--steps",
        "100",
        "--json",
    ];
    let mut eps: Vec<&str> = vec!["epsilon"];
    eps.extend(DPSGD);
    eps.push("--json");
    for (args, option, value) in [
        (&nm[..], "--epsilon", "0"),
        (&nm[..], "--epsilon", "-1"),
        (&eps[..], "--delta", "0"),
        (&eps[..], "--delta", "1"),
        (&eps[..], "--sampling-rate", "0"),
        (&eps[..], "--sampling-rate", "1.5"),
        (&eps[..], "--steps", "0"),
        (&eps[..], "--noise-multiplier", "0"),
    ] {
        let a = with(args, option, value);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(&refs);
        assert_eq!(o.status.code(), Some(2), "{a:?}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["error"]["option"], option, "{v}");
    }
    let mut unknown = eps.clone();
    unknown.extend(["--accountant", "nonesuch"]);
    let o = run(&unknown);
    assert_eq!(o.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("nonesuch"),
        "{v}"
    );
    // An event the accountant cannot analyse is an input error naming it.
    let mut basic = eps.clone();
    basic.extend(["--accountant", "basic"]);
    let o = run(&basic);
    assert_eq!(o.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`gaussian`"),
        "{v}"
    );
}
