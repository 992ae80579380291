//! `mosaic ldp`: the client and server halves as separate programs, state merging, the
//! simulation's JSON contract and the errors, through the binary and the built plugins.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn mosaic(args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mosaic"));
    cmd.env_remove("MOSAIC_PLUGIN_PATH").args(args);
    // merge-state needs no plugin: states merge by their own structure.
    if args.get(1) != Some(&"merge-state") {
        cmd.arg("--plugin-dir")
            .arg(mosaic_testkit::built_plugin_dir());
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mosaic");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(o: Output) -> Vec<u8> {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn json(o: Output) -> Value {
    serde_json::from_slice(&ok(o)).expect("one JSON document")
}

const OLH: [&str; 6] = ["--oracle", "olh", "--epsilon", "2", "--domain", "50"];

fn with<'a>(cmd: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["ldp"];
    v.extend_from_slice(cmd);
    v.extend_from_slice(extra);
    v
}

fn values(n: usize, salt: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!("{}\n", (i * i + salt) % 50))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn perturb_and_estimate_are_separate_programs_and_states_merge() {
    let a = ok(mosaic(
        &with(&["perturb"], &[&OLH[..], &["--seed", "1"]].concat()),
        &values(3000, 0),
    ));
    let again = ok(mosaic(
        &with(&["perturb"], &[&OLH[..], &["--seed", "1"]].concat()),
        &values(3000, 0),
    ));
    assert_eq!(a, again, "same seed, same reports");
    // 3000 reports of 32 + 3 bits: compact.
    assert!(a.len() < 3000 * 35 / 8 + 400, "{} bytes", a.len());
    let b = ok(mosaic(
        &with(
            &["perturb"],
            &[&OLH[..], &["--seed", "2", "--format", "json"]].concat(),
        ),
        &values(2000, 7),
    ));
    // Everything at once: a binary batch and a JSON batch on one stream.
    let both = json(mosaic(
        &with(&["estimate"], &[&OLH[..], &["--json"]].concat()),
        &[a.clone(), b.clone()].concat(),
    ));
    assert_eq!(both["reports"], 5000);
    assert_eq!(both["counts"].as_array().unwrap().len(), 50);
    // Two servers, then merge-state, then estimate from the merged state: the same estimate.
    let sa = ok(mosaic(&with(&["aggregate"], &OLH), &a));
    let sb = ok(mosaic(
        &with(&["aggregate"], &[&OLH[..], &["--format", "json"]].concat()),
        &b,
    ));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.state"), dir.path().join("b.state"));
    std::fs::write(&pa, &sa).unwrap();
    std::fs::write(&pb, &sb).unwrap();
    let merged = ok(mosaic(
        &[
            "ldp",
            "merge-state",
            pa.to_str().unwrap(),
            pb.to_str().unwrap(),
        ],
        b"",
    ));
    let from_state = json(mosaic(
        &with(&["estimate"], &[&OLH[..], &["--json"]].concat()),
        &merged,
    ));
    assert_eq!(from_state["counts"], both["counts"]);
    assert_eq!(from_state["variance"], both["variance"]);
    // Candidates and post-processing.
    let c = json(mosaic(
        &with(
            &["estimate"],
            &[
                &OLH[..],
                &["--json", "--candidates", "3,9", "--postprocess", "clip"],
            ]
            .concat(),
        ),
        &merged,
    ));
    assert_eq!(c["items"], serde_json::json!([3, 9]));
    assert_eq!(c["unbiased"][0], both["counts"][3]);
    assert!(c["counts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x.as_f64().unwrap() >= 0.0));
    let text = String::from_utf8(ok(mosaic(
        &with(&["estimate"], &[&OLH[..], &["--top", "3"]].concat()),
        &merged,
    )))
    .unwrap();
    assert!(
        text.contains("5000 reports") && text.lines().count() == 5,
        "{text}"
    );
}

#[test]
fn simulate_prints_the_contract_fields() {
    let v = json(mosaic(
        &[
            "ldp",
            "simulate",
            "--oracle",
            "oue",
            "--epsilon",
            "1",
            "--domain",
            "64",
            "--users",
            "20000",
            "--distribution",
            "zipf:1.1",
            "--seed",
            "3",
            "--runs",
            "4",
            "--json",
        ],
        b"",
    ));
    assert_eq!(v["oracle"], "oue");
    for k in ["mse", "variance", "reports_per_second"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
    // 4 runs × 64 items: the ratio is within 6 standard errors of 1 (about 0.09 each).
    let r = v["mse_over_variance"].as_f64().unwrap();
    assert!((r - 1.0).abs() < 0.55, "mse/variance {r}");
    let again = json(mosaic(
        &[
            "ldp",
            "simulate",
            "--oracle",
            "oue",
            "--epsilon",
            "1",
            "--domain",
            "64",
            "--users",
            "20000",
            "--distribution",
            "zipf:1.1",
            "--seed",
            "3",
            "--runs",
            "4",
            "--json",
        ],
        b"",
    ));
    assert_eq!(again["mse"], v["mse"], "seeded: the same errors");
    let u = json(mosaic(
        &[
            "ldp",
            "simulate",
            "--oracle",
            "hcms",
            "--epsilon",
            "4",
            "--domain",
            "100",
            "--users",
            "5000",
            "--distribution",
            "uniform",
            "--param",
            "hashes=16",
            "--param",
            "width=64",
            "--json",
        ],
        b"",
    ));
    assert_eq!(u["users"], 5000);
}

fn json_error(o: &Output, code: i32) -> Value {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("a JSON error");
    v["error"].clone()
}

#[test]
fn errors_name_the_parameter_value_line_and_oracle() {
    let e = json_error(
        &mosaic(
            &[
                "ldp",
                "simulate",
                "--oracle",
                "olh",
                "--epsilon",
                "0",
                "--domain",
                "50",
                "--users",
                "10",
                "--json",
            ],
            b"",
        ),
        3,
    );
    assert_eq!(e["parameter"], "epsilon", "{e}");
    let e = json_error(
        &mosaic(
            &[
                "ldp",
                "simulate",
                "--oracle",
                "olh",
                "--epsilon",
                "1",
                "--domain",
                "0",
                "--users",
                "10",
                "--json",
            ],
            b"",
        ),
        3,
    );
    assert!(
        e["message"].as_str().unwrap().contains("domain_size"),
        "{e}"
    );
    let o = mosaic(&with(&["perturb"], &OLH), b"1 2\n3 77\n");
    assert_eq!(o.status.code(), Some(3));
    let m = String::from_utf8_lossy(&o.stderr);
    assert!(m.contains("line 2") && m.contains("value 77"), "{m}");
    let o = mosaic(&with(&["perturb"], &OLH), b"1 x\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("`x`"));
    // Reports of ε = 2 refused by a server of ε = 3, naming both.
    let r = ok(mosaic(&with(&["perturb"], &OLH), &values(10, 0)));
    let e = json_error(
        &mosaic(
            &[
                "ldp",
                "estimate",
                "--oracle",
                "olh",
                "--epsilon",
                "3",
                "--domain",
                "50",
                "--json",
            ],
            &r,
        ),
        3,
    );
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("epsilon = 2") && m.contains("epsilon = 3"),
        "{m}"
    );
    // A truncated batch.
    let e = json_error(
        &mosaic(
            &with(&["estimate"], &[&OLH[..], &["--json"]].concat()),
            &r[..r.len() - 3],
        ),
        3,
    );
    assert!(e["message"].as_str().unwrap().contains("truncated"), "{e}");
    let e = json_error(
        &mosaic(
            &[
                "ldp",
                "simulate",
                "--oracle",
                "nope",
                "--epsilon",
                "1",
                "--domain",
                "5",
                "--users",
                "1",
                "--json",
            ],
            b"",
        ),
        3,
    );
    assert_eq!(e["algorithm"], "nope");
    let o = mosaic(
        &with(&["estimate"], &[&OLH[..], &["--param", "gg=3"]].concat()),
        b"",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`gg`"));
}

#[test]
fn mean_prints_the_contract_fields_for_every_mechanism() {
    for mech in ["duchi", "piecewise", "hybrid"] {
        let d = json(mosaic(
            &[
                "ldp",
                "mean",
                "--mechanism",
                mech,
                "--epsilon",
                "1",
                "--users",
                "20000",
                "--json",
            ],
            b"",
        ));
        assert_eq!(d["mechanism"], mech);
        let (mse, var) = (d["mse"].as_f64().unwrap(), d["variance"].as_f64().unwrap());
        // One run: the squared error of one mean is var·χ²₁, below 30·var but for 3e-8.
        assert!(var > 0.0 && mse < 30.0 * var, "{mech}: {mse} vs {var}");
        assert!(d["reports_per_second"].as_f64().unwrap() > 0.0);
        assert!(d["worst_variance"].as_f64().unwrap() >= var * (1.0 - 1e-9));
    }
    let d = json(mosaic(
        &[
            "ldp",
            "mean",
            "--mechanism",
            "piecewise",
            "--epsilon",
            "4",
            "--users",
            "5000",
            "--dims",
            "6",
            "--k",
            "2",
            "--json",
        ],
        b"",
    ));
    assert_eq!(d["means"].as_array().unwrap().len(), 6);
    let o = mosaic(
        &[
            "ldp",
            "mean",
            "--mechanism",
            "piecewise",
            "--epsilon",
            "0",
            "--users",
            "10",
            "--json",
        ],
        b"",
    );
    let e = json_error(&o, 3);
    assert_eq!(e["parameter"], "epsilon", "{e}");
    assert_eq!(e["algorithm"], "piecewise", "{e}");
}

#[test]
fn heavy_hitters_prints_precision_and_recall() {
    for proto in ["pem", "treehist"] {
        let d = json(mosaic(
            &[
                "ldp",
                "heavy-hitters",
                "--protocol",
                proto,
                "--epsilon",
                "64",
                "--users",
                "20000",
                "--bits",
                "32",
                "--k",
                "4",
                "--distribution",
                "zipf:2",
                "--json",
            ],
            b"",
        ));
        assert_eq!(d["protocol"], proto);
        // ε = 64: the oracle is exact up to each level's sampling of users.
        assert!(d["recall"].as_f64().unwrap() >= 0.75, "{proto}: {d}");
    }
    let d = json(mosaic(
        &[
            "ldp",
            "heavy-hitters",
            "--protocol",
            "tap",
            "--epsilon",
            "64",
            "--users",
            "30000",
            "--k",
            "4",
            "--parties",
            "3",
            "--distribution",
            "zipf:2",
            "--json",
        ],
        b"",
    ));
    assert!(d["recall"].as_f64().unwrap() >= 0.75, "{d}");
    assert!(d["pem_per_party"]["recall"].as_f64().is_some());
    let o = mosaic(
        &[
            "ldp",
            "heavy-hitters",
            "--protocol",
            "pem",
            "--epsilon",
            "1",
            "--users",
            "100",
            "--parties",
            "2",
            "--json",
        ],
        b"",
    );
    let e = json_error(&o, 2);
    assert!(e["message"].as_str().unwrap().contains("--parties"), "{e}");
}
