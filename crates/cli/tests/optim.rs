//! `mosaic optim minimize` and `mosaic optim compare` through the binary, on the built plugins:
//! the JSON contract, `--set` with PyTorch's names, the same bits as the library, errors.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mosaic"))
        .env_remove("MOSAIC_PLUGIN_PATH")
        .args(args)
        .arg("--plugin-dir")
        .arg(mosaic_testkit::built_plugin_dir())
        .output()
        .expect("run mosaic")
}

fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("one JSON document")
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn minimize_prints_the_contract_and_the_library_bits() {
    let o = run(&[
        "optim",
        "minimize",
        "--optimizer",
        "adamw",
        "--problem",
        "lsq:3x2",
        "--steps",
        "50",
        "--lr",
        "0.05",
        "--set",
        "betas=0.9,0.99",
        "--set",
        "weight_decay=0.01",
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(v["optimizer"], "adamw");
    assert_eq!(v["problem"], "lsq:3x2");
    assert_eq!(v["steps"], 50);
    let x = f32s(&v["x"]);
    assert_eq!(x.len(), 6);
    // The same run through the library, with the plugin linked statically.
    let p = mosaic_abi::ParamMap::new()
        .with("betas", vec![0.9, 0.99])
        .with("weight_decay", 0.01);
    let opt = (mosaic_plugin_optim_basic::plugin_module().new_optimizer())("adamw".into(), &p)
        .into_result()
        .unwrap();
    let problem = mosaic_optim::problems::Problem::parse("lsq:3x2").unwrap();
    let want = mosaic_optim::problems::minimize(
        opt,
        &problem,
        &problem.start(),
        &mosaic_optim::problems::MinimizeOptions::new(50, 0.05),
    )
    .unwrap();
    assert_eq!(x, want.x, "JSON floats parse back to the same f32 bits");
    assert_eq!(v["loss"].as_f64().unwrap(), want.loss);
    // Text mode names the optimizer, the loss and the point.
    let o = run(&[
        "optim",
        "minimize",
        "--optimizer",
        "sgd",
        "--problem",
        "rosenbrock",
        "--start",
        "-1,1",
        "--steps",
        "10",
        "--lr",
        "0.001",
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success() && text.contains("sgd on rosenbrock") && text.contains("loss"));
}

#[test]
fn default_learning_rate_is_pytorchs() {
    let v = json(&run(&[
        "optim",
        "minimize",
        "--optimizer",
        "rmsprop",
        "--problem",
        "quadratic:3",
        "--steps",
        "5",
        "--json",
    ]));
    assert_eq!(v["lr"].as_f64(), Some(0.01));
}

#[test]
fn compare_prints_a_table_json_and_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("curves.svg");
    let o = run(&[
        "optim",
        "compare",
        "--problem",
        "quadratic:4",
        "--optimizers",
        "sgd,adam,lion",
        "--steps",
        "30",
        "--lr",
        "0.05",
        "--plot",
        svg.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&o);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        assert_eq!(r["losses"].as_array().unwrap().len(), 31);
        assert!(r["loss"].as_f64().unwrap() < 2.5, "{r}");
    }
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.starts_with("<svg") && drawn.contains("lion") && drawn.contains("polyline"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    let o = run(&[
        "optim",
        "compare",
        "--problem",
        "rosenbrock",
        "--optimizers",
        "adam,adagrad",
        "--steps",
        "10",
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success() && text.contains("adagrad") && text.contains("final loss"));
}

#[test]
fn errors_name_what_is_wrong() {
    let cases: [(&[&str], i32, &str); 7] = [
        (&["--problem", "rosen"], 2, "--problem"),
        (&["--problem", "lsq:3"], 2, "--problem"),
        (&["--set", "bettas=0.9,0.99"], 2, "bettas"),
        (&["--set", "betas=0.9,x"], 2, "betas"),
        (&["--set", "betas=0.9"], 3, "betas"),
        (&["--lr", "-1"], 2, "--lr"),
        (&["--start", "1,2,3"], 2, "--start"),
    ];
    for (extra, code, needle) in cases {
        let mut args = vec!["optim", "minimize", "--optimizer", "adam", "--steps", "3"];
        if !extra.contains(&"--problem") {
            args.extend(["--problem", "rosenbrock"]);
        }
        args.extend(extra);
        args.push("--json");
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{args:?}: {msg}");
    }
    let o = run(&[
        "optim",
        "minimize",
        "--optimizer",
        "nosuch",
        "--problem",
        "rosenbrock",
        "--steps",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let o = run(&[
        "optim",
        "compare",
        "--problem",
        "rosenbrock",
        "--optimizers",
        "sgd",
        "--steps",
        "1",
        "--plot",
        Path::new("x.png").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}
