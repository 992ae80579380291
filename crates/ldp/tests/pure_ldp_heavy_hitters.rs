//! PEM against pure-ldp 1.2.0's `PEMServer` on the same population of 16-bit values, with the
//! same levels (start length 2, fragment length 2: seven groups of users, prefixes of 4..16
//! bits) and OLH at the same ε (`tests/fixtures/ldp/pure_ldp_hh.json`, made by
//! `tests/fixtures/ldp/make_hh_fixture.py`). The randomness differs, so the comparison is of
//! outcomes: the top 5 found and the estimated counts, over seeded runs on both sides.

use mosaic_ldp::heavy_hitters::{pem, precision_recall, PrefixTree};
use mosaic_ldp::{Oracle, ParamMap, RngSeed};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/ldp/pure_ldp_hh.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn pem_matches_pure_ldp_on_a_fixed_population() {
    let fx = fixture();
    let eps = fx["epsilon"].as_f64().unwrap();
    let k = fx["k"].as_u64().unwrap() as usize;
    let bits = fx["bits"].as_u64().unwrap() as u32;
    let start = fx["start_length"].as_u64().unwrap() as u32;
    let step = fx["fragment_length"].as_u64().unwrap() as u32;
    let heavy: Vec<(u64, u64)> = fx["heavy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
        .collect();
    let mut values = Vec::new();
    for &(v, c) in &heavy {
        values.extend(std::iter::repeat_n(v, c as usize));
    }
    let noise = fx["noise_users"].as_u64().unwrap();
    values.extend((0..noise).map(|i| (i * 40503 + 12345) % 65536));
    let truth: Vec<u64> = heavy[..k].iter().map(|h| h.0).collect();
    let true_count = |v: u64| heavy.iter().find(|h| h.0 == v).map_or(1, |h| h.1) as f64;

    // pure-ldp's levels: the first at start + step bits, then + step.
    let tree = PrefixTree {
        bits,
        k,
        start_bits: start + step,
        step,
        z: 0.0,
        max_candidates: k,
        final_fraction: 0.0,
    };
    let groups = tree.levels().len() as f64;
    assert_eq!(groups, ((bits - start) as f64 / step as f64).ceil());
    let olh = |d: u64| {
        let p = ParamMap::new()
            .with("epsilon", eps)
            .with("domain_size", d as i64);
        Oracle::from_module(mosaic_plugin_ldp_freq::plugin_module(), "olh", &p)
    };
    // Sd of one scaled count: OLH's noise in a group of n/g users, scaled by g, and the
    // binomial spread of the item's users over the groups.
    let n = values.len() as f64;
    let g_hash = (eps.exp().round() + 1.0).max(2.0);
    let (p, q) = (eps.exp() / (eps.exp() + g_hash - 1.0), 1.0 / g_hash);
    let sd = |c: f64| {
        (groups * groups * (n / groups) * q * (1.0 - q) / ((p - q) * (p - q)) + c * (groups - 1.0))
            .sqrt()
    };

    let mut ours = 0.0;
    let runs = 3;
    for seed in 0..runs {
        let h = pem(&values, &tree, &olh, RngSeed::from_u64(seed)).unwrap();
        let (_, recall) = precision_recall(&h.items, &truth);
        ours += recall / runs as f64;
        for (item, count) in h.items.iter().zip(&h.counts) {
            let c = true_count(*item);
            assert!(
                (count - c).abs() < 6.0 * sd(c),
                "item {item}: {count} vs {c}"
            );
        }
    }
    let theirs = fx["mean_recall"].as_f64().unwrap();
    assert!(
        ours >= theirs - 0.2,
        "recall: mosaic {ours}, pure-ldp {theirs}"
    );
    // pure-ldp's own estimates obey the same bound (the fixture is sane).
    for run in fx["runs"].as_array().unwrap() {
        for (item, count) in run["found"]
            .as_array()
            .unwrap()
            .iter()
            .zip(run["counts"].as_array().unwrap())
        {
            let c = true_count(item.as_u64().unwrap());
            assert!(
                (count.as_f64().unwrap() - c).abs() < 6.0 * sd(c),
                "pure-ldp item {item}"
            );
        }
    }
}
