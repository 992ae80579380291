//! Mosaic's LDP servers against pure-ldp 1.2.0's on fixed reports and aggregates
//! (`tests/fixtures/ldp/pure_ldp.json`, made by `tests/fixtures/ldp/make_fixtures.py`; see its
//! README). pure-ldp's randomness differs from ours, so only the servers are compared.

use mosaic_ldp::{Oracle, ParamMap, PluginModRef, Reports, State, StateKind};
use serde_json::Value;

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/ldp/pure_ldp.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("integer")
}

fn list(v: &Value) -> Vec<u64> {
    v.as_array().expect("array").iter().map(u).collect()
}

fn oracle(module: PluginModRef, name: &str, p: ParamMap) -> Oracle {
    Oracle::from_module(module, name, &p).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn counts_state(o: &Oracle, n: u64, words: Vec<u64>) -> State {
    State {
        oracle: o.id().clone(),
        kind: StateKind::Counts,
        record_len: 0,
        reports: n,
        words: words.into(),
    }
}

fn assert_close(ours: &[f64], theirs: &Value, what: &str) {
    let theirs: Vec<f64> = theirs.as_array().unwrap().iter().map(f).collect();
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let scale = theirs.iter().fold(1.0f64, |a, b| a.max(b.abs()));
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * scale,
            "{what}: item {i}: ours {a}, pure-ldp {b}"
        );
    }
}

fn base(case: &Value) -> ParamMap {
    ParamMap::new()
        .with("epsilon", f(&case["epsilon"]))
        .with("domain_size", u(&case["domain_size"]) as i64)
}

fn freq() -> PluginModRef {
    mosaic_plugin_ldp_freq::plugin_module()
}

#[test]
fn unary_encoding_matches_ue_server() {
    for case in fixtures()["ue"].as_array().unwrap() {
        let name = case["oracle"].as_str().unwrap();
        let o = oracle(freq(), name, base(case));
        let st = counts_state(&o, u(&case["n"]), list(&case["support"]));
        assert_close(&o.estimate(&st).unwrap().counts, &case["estimates"], name);
    }
}

#[test]
fn local_hashing_matches_lh_server_on_support_counts() {
    for case in fixtures()["lh"].as_array().unwrap() {
        let name = case["oracle"].as_str().unwrap();
        let mut p = base(case);
        if name == "olh" {
            p.insert("g", u(&case["g"]) as i64);
        }
        let o = oracle(freq(), name, p);
        let st = counts_state(&o, u(&case["n"]), list(&case["support"]));
        assert_close(&o.estimate(&st).unwrap().counts, &case["estimates"], name);
    }
}

#[test]
fn hadamard_response_matches_pure_ldp_decoders() {
    for case in fixtures()["hr"].as_array().unwrap() {
        let o = oracle(freq(), "hr", base(case));
        assert_eq!(o.state_len(), u(&case["outputs_k"]), "output alphabet");
        let reports = Reports {
            oracle: o.id().clone(),
            report_len: 1,
            data: list(&case["reports"]).into(),
        };
        let st = o.aggregate(&reports).unwrap();
        assert_close(&o.estimate(&st).unwrap().counts, &case["estimates"], "hr");
    }
}

fn sketch_params(case: &Value) -> ParamMap {
    base(case)
        .with("hashes", u(&case["hashes"]) as i64)
        .with("width", u(&case["width"]) as i64)
}

fn check_table(case: &Value) {
    // The fixture's table is Mosaic's hash functions as the script computes them.
    let (k, m) = (u(&case["hashes"]), u(&case["width"]));
    let hashes = mosaic_ldp::sketch::SketchHashes::new(0, k, m);
    for (j, row) in case["table"].as_array().unwrap().iter().enumerate() {
        for (x, b) in list(row).into_iter().enumerate() {
            assert_eq!(hashes.bucket(j as u64, x as u64), b, "h_{j}({x})");
        }
    }
}

#[test]
fn cms_matches_cms_server_with_the_same_hashes() {
    for case in fixtures()["cms"].as_array().unwrap() {
        check_table(case);
        let o = oracle(freq(), "cms", sketch_params(case));
        let m = u(&case["width"]);
        let data: Vec<u64> = case["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let bits = list(&r["bits"]);
                let v = bits.iter().enumerate().fold(0u64, |a, (i, b)| a | b << i);
                v | u(&r["j"]) << m
            })
            .collect();
        let st = o
            .aggregate(&Reports {
                oracle: o.id().clone(),
                report_len: 1,
                data: data.into(),
            })
            .unwrap();
        assert_close(&o.estimate(&st).unwrap().counts, &case["estimates"], "cms");
    }
}

#[test]
fn hcms_matches_cms_server_with_the_same_hashes() {
    for case in fixtures()["hcms"].as_array().unwrap() {
        check_table(case);
        let o = oracle(freq(), "hcms", sketch_params(case));
        let lbits = u(&case["width"]).trailing_zeros();
        let data: Vec<u64> = case["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let sign = (r["sign"].as_i64().unwrap() > 0) as u64;
                sign | u(&r["l"]) << 1 | u(&r["j"]) << (1 + lbits)
            })
            .collect();
        let st = o
            .aggregate(&Reports {
                oracle: o.id().clone(),
                report_len: 1,
                data: data.into(),
            })
            .unwrap();
        assert_close(&o.estimate(&st).unwrap().counts, &case["estimates"], "hcms");
    }
}

#[test]
fn rappor_least_squares_matches_rappor_server() {
    for case in fixtures()["rappor"].as_array().unwrap() {
        let (m, h, c) = (
            u(&case["bloom_bits"]),
            u(&case["hashes"]),
            u(&case["cohorts"]),
        );
        let p = base(case)
            .with("bloom_bits", m as i64)
            .with("hashes", h as i64)
            .with("cohorts", c as i64)
            .with("irr_p", 0.0)
            .with("irr_q", 1.0);
        let o = oracle(mosaic_plugin_ldp_rappor::plugin_module(), "rappor", p);
        // The table is Mosaic's Bloom hashes: hash function c·h + i of family 0.
        for (ci, cohort) in case["table"].as_array().unwrap().iter().enumerate() {
            for (i, row) in cohort.as_array().unwrap().iter().enumerate() {
                let hash = mosaic_ldp::hash::ItemHash::new(0, ci as u64 * h + i as u64);
                for (x, b) in list(row).into_iter().enumerate() {
                    assert_eq!(hash.bucket(x as u64, m), b);
                }
            }
        }
        let mut words: Vec<u64> = case["bit_counts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| f(x) as u64)
                    .collect::<Vec<_>>()
            })
            .collect();
        let per = list(&case["cohort_counts"]);
        let n: u64 = per.iter().sum();
        words.extend(per);
        let st = counts_state(&o, n, words);
        assert_close(
            &o.estimate(&st).unwrap().counts,
            &case["estimates"],
            "rappor",
        );
    }
}
