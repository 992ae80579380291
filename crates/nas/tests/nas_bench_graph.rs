//! The NAS-Bench-Graph port against the package's own values
//! (`tests/fixtures/nas/nas_bench_graph.json`, made by the script beside it), and the tables
//! when `cargo xtask fetch-benchmarks` has converted them.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use mosaic_nas::nas_bench_graph::{self as nbg, all_archs, Arch, LINKS, OPS};
use mosaic_nas::{NasError, Space, NO_ARCHITECTURE};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/nas/nas_bench_graph.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn fnv(values: impl IntoIterator<Item = u64>) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in values {
        for b in (v as u32).to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h.to_string()
}

fn ops_of(v: &Value) -> [&str; 4] {
    let a = v.as_array().unwrap();
    [0, 1, 2, 3].map(|i| a[i].as_str().unwrap())
}

fn link_of(v: &Value) -> [u8; 4] {
    let a = v.as_array().unwrap();
    [0, 1, 2, 3].map(|i| a[i].as_u64().unwrap() as u8)
}

/// All encodings in the package's nested order: each op tuple in `product(gnn_list, 4)`.
fn op_tuples() -> impl Iterator<Item = [u8; 4]> {
    (0..9u8).flat_map(|a| {
        (0..9u8).flat_map(move |b| (0..9u8).flat_map(move |c| (0..9u8).map(move |d| [a, b, c, d])))
    })
}

/// The 24 link patterns of the package's NNI space, in its order.
fn all_links() -> Vec<[u8; 4]> {
    let mut v = Vec::new();
    for a in 0..2 {
        for b in 0..3 {
            for c in 0..4 {
                v.push([0, a, b, c]);
            }
        }
    }
    v
}

#[test]
fn valid_hash_matches_the_package_on_every_encoding_of_the_24_link_patterns() {
    let f = fixture();
    assert_eq!(f["package_version"], nbg::PACKAGE_VERSION);
    let mut hashes = Vec::new();
    for link in all_links() {
        for ops in op_tuples() {
            hashes.push(Arch { link, ops }.valid_hash().unwrap());
        }
    }
    assert_eq!(
        hashes.len() as u64,
        f["valid_hash_all_24_links"]["count"].as_u64().unwrap()
    );
    assert_eq!(
        fnv(hashes),
        f["valid_hash_all_24_links"]["fnv64"].as_str().unwrap()
    );
}

#[test]
fn hash_arch_check_isomorph_and_all_archs_match_the_package() {
    let f = fixture();
    let mut h = Vec::new();
    let mut iso = Vec::new();
    for link in LINKS {
        for ops in op_tuples() {
            let a = Arch { link, ops };
            h.push(a.hash_arch().unwrap());
            iso.push(a.check_isomorph() as u64);
        }
    }
    assert_eq!(
        fnv(h),
        f["hash_arch_table_links"]["fnv64"].as_str().unwrap()
    );
    assert_eq!(
        iso.iter().sum::<u64>(),
        f["check_isomorph_table_links"]["count"].as_u64().unwrap()
    );
    assert_eq!(
        fnv(iso),
        f["check_isomorph_table_links"]["fnv64"].as_str().unwrap()
    );
    let canon: Vec<u64> = all_archs().iter().map(|a| a.hash_arch().unwrap()).collect();
    assert_eq!(canon.len(), 26206);
    assert_eq!(
        fnv(canon.iter().copied()),
        f["all_archs"]["fnv64_in_order"].as_str().unwrap()
    );
    let mut sorted = canon.clone();
    sorted.sort_unstable();
    assert_eq!(
        fnv(sorted),
        f["all_archs"]["fnv64_sorted"].as_str().unwrap()
    );
    // Canonical architectures are fixed points of valid_hash.
    for a in all_archs() {
        assert_eq!(a.valid_hash(), a.hash_arch(), "{a:?}");
    }
}

#[test]
fn each_canonicalization_step_matches_the_package_on_the_samples() {
    let f = fixture();
    let samples = f["samples"].as_array().unwrap();
    assert!(samples.len() > 200);
    for s in samples {
        let a = Arch::new(link_of(&s["link"]), ops_of(&s["ops"])).unwrap();
        let step = |a: Arch, v: &Value| {
            assert_eq!(a.link, link_of(&v[0]), "{s}");
            assert_eq!(a.op_names(), ops_of(&v[1]), "{s}");
        };
        let r = a.regularize();
        step(r, &s["regularize"]);
        let mut m = r;
        m.move_skip_op();
        step(m, &s["move_skip_op"]);
        let mut e = m;
        e.equalpart_sort();
        step(e, &s["equalpart_sort"]);
        assert_eq!(a.valid_hash(), s["valid_hash"].as_u64(), "{s}");
        if let Some(h) = s.get("hash_arch") {
            assert_eq!(a.hash_arch(), h.as_u64(), "{s}");
            assert_eq!(
                Some(a.check_isomorph()),
                s["check_isomorph"].as_bool(),
                "{s}"
            );
        }
    }
}

#[test]
fn the_space_class_table_is_the_package_s_valid_hash_and_its_ids_are_the_table_keys() {
    let f = fixture();
    for dataset in nbg::DATASETS {
        let sp = nbg::space(dataset).unwrap();
        let view = Space::new(&sp).unwrap();
        let n_ops = if dataset == "proteins" { 5 } else { 9 };
        assert_eq!(view.encodings(), 9 * n_ops * n_ops * n_ops * n_ops);
        let want = nbg::table_size(dataset).unwrap();
        assert_eq!(view.architectures(), Some(want as u128));
        // The enumeration is one encoding per architecture, and the id is a bijection onto
        // the package's table keys (checked through their checksum).
        let ids: Vec<u64> = view
            .enumerate()
            .unwrap()
            .map(|a| view.arch_id(&a).unwrap())
            .collect();
        let set: BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(set.len(), want);
        assert_eq!(ids.len(), want);
        assert_eq!(
            fnv(set.iter().copied()),
            f["tables"][dataset]["keys_fnv64_sorted"].as_str().unwrap(),
            "{dataset}"
        );
        // Every encoding's id is its package valid_hash; only the 9 all-skip encodings are
        // invalid.
        let mut invalid = 0;
        for i in 0..view.encodings() {
            let enc = view.decode(i);
            let arch = nbg::arch_of(dataset, &enc).unwrap().unwrap();
            match view.arch_id(&enc) {
                Some(id) => assert_eq!(Some(id), arch.valid_hash()),
                None => {
                    assert!(arch.is_all_skip());
                    invalid += 1;
                }
            }
        }
        assert_eq!(invalid, 9);
        assert_eq!(
            sp.classes.iter().filter(|&&c| c == NO_ARCHITECTURE).count(),
            9
        );
    }
}

#[test]
fn encodings_per_architecture_range_from_1_to_54() {
    let sp = nbg::space("cora").unwrap();
    let mut per: HashMap<u64, usize> = HashMap::new();
    for &c in sp.classes.iter().filter(|&&c| c != NO_ARCHITECTURE) {
        *per.entry(c).or_default() += 1;
    }
    let mut hist: HashMap<usize, usize> = HashMap::new();
    for &n in per.values() {
        *hist.entry(n).or_default() += 1;
    }
    // The package's multiplicities (counted with the package when this port was written).
    assert_eq!(hist[&1], 14608);
    assert_eq!(hist[&2], 8416);
    assert_eq!(*hist.keys().max().unwrap(), 54);
    assert_eq!(hist.values().sum::<usize>(), 26206);
    assert_eq!(per.values().sum::<usize>(), 59049 - 9);
}

#[test]
fn encodings_round_trip_through_package_architectures() {
    for dataset in ["cora", "proteins"] {
        let view = Space::new(&nbg::space(dataset).unwrap()).unwrap();
        for i in (0..view.encodings()).step_by(7) {
            let enc = view.decode(i);
            let arch = nbg::arch_of(dataset, &enc).unwrap().unwrap();
            assert_eq!(nbg::encoding_of(dataset, &arch).unwrap(), Some(enc));
        }
        let d = nbg::describe(dataset, &view.decode(1)).unwrap().unwrap();
        assert_eq!(d.link, [0, 0, 0, 0]);
        assert_eq!(d.ops.len(), 4);
    }
    // `sage` is not a proteins operation index beyond the five.
    let gat = Arch::new([0, 0, 0, 0], ["gat", "gcn", "gcn", "gcn"]).unwrap();
    assert_eq!(nbg::encoding_of("proteins", &gat).unwrap(), None);
    assert_eq!(OPS[gat.ops[0] as usize], "gat");
}

#[test]
fn unknown_datasets_and_missing_tables_are_errors_naming_the_fix() {
    let e = nbg::space("imagenet").unwrap_err();
    assert!(matches!(e, NasError::Unknown { .. }), "{e}");
    assert!(
        e.to_string().contains("imagenet") && e.to_string().contains("cora"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let e = nbg::load_from(dir.path(), "cora").unwrap_err();
    assert!(matches!(e, NasError::MissingBenchmark { .. }), "{e}");
    assert!(
        e.to_string().contains("cargo xtask fetch-benchmarks"),
        "{e}"
    );
    assert!(e.to_string().contains("cora.nbg"), "{e}");
    // A file that is not a table, and a table of another data set.
    let path = nbg::table_path(dir.path(), "cora");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"not a table").unwrap();
    let e = nbg::load_from(dir.path(), "cora").unwrap_err();
    assert!(
        e.to_string().contains("cora.nbg") && e.to_string().contains("magic"),
        "{e}"
    );
    let rows = vec![nbg::Row {
        hash: 1111,
        valid: 0.5,
        test: 0.4,
        latency: 0.01,
        params: 1.0,
    }];
    let t = nbg::TableFile {
        dataset: "citeseer".into(),
        source: "test".into(),
        rows,
    };
    t.save(&path).unwrap();
    let e = nbg::load_from(dir.path(), "cora").unwrap_err();
    assert!(e.to_string().contains("citeseer"), "{e}");
    // Truncation is caught by the checksum.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let e = nbg::load_from(dir.path(), "cora").unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
}

#[test]
fn table_files_round_trip_bit_for_bit_and_refuse_unknown_hashes() {
    let rows = vec![
        nbg::Row {
            hash: 1111,
            valid: 0.1 + 0.2,
            test: 1.0 / 3.0,
            latency: 5e-3,
            params: 1.736711,
        },
        nbg::Row {
            hash: 11,
            valid: 0.7,
            test: 0.6,
            latency: 1e-3,
            params: 0.5,
        },
    ];
    let t = nbg::TableFile {
        dataset: "cora".into(),
        source: "test".into(),
        rows,
    };
    let back = nbg::TableFile::from_bytes(&t.to_bytes().unwrap(), "<t>").unwrap();
    assert_eq!(back.rows[0].hash, 11);
    assert_eq!(back.rows[1].valid.to_bits(), (0.1f64 + 0.2).to_bits());
    // 88888 (all skip) is no architecture of the space: a table holding it is refused.
    let bad = mosaic_nas::TabularBenchmark::from_ids(
        "t",
        nbg::space("cora").unwrap(),
        [(88888u64, mosaic_nas::Metrics::new(0.5, 1.0))],
        "<t>",
    )
    .unwrap_err();
    assert!(bad.to_string().contains("88888"), "{bad}");
}

fn bits(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn fetched_tables_hold_the_package_s_values_bit_for_bit() {
    let f = fixture();
    let dir = mosaic_nas::benchmark_dir();
    let mut missing = Vec::new();
    for dataset in nbg::DATASETS {
        let table = match nbg::load_from(&dir, dataset) {
            Ok(t) => t,
            Err(NasError::MissingBenchmark { .. }) => {
                missing.push(dataset);
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let fx = &f["tables"][dataset];
        assert_eq!(table.len() as u64, fx["count"].as_u64().unwrap());
        assert!(table.is_complete());
        for row in fx["rows"]
            .as_array()
            .unwrap()
            .iter()
            .chain([&fx["best_valid"]])
        {
            let m = table.lookup_id(row["hash"].as_u64().unwrap()).unwrap();
            assert_eq!(
                m.valid.to_bits(),
                bits(&row["valid_perf_bits"]),
                "{dataset} {row}"
            );
            assert_eq!(m.test.unwrap().to_bits(), bits(&row["perf_bits"]));
            assert_eq!(m.latency.unwrap().to_bits(), bits(&row["latency_bits"]));
            assert_eq!(m.params.unwrap().to_bits(), bits(&row["para_bits"]));
        }
        let (best_arch, best) = table.best().unwrap();
        assert_eq!(
            best.valid.to_bits(),
            bits(&fx["best_valid"]["valid_perf_bits"])
        );
        assert_eq!(
            table.view().arch_id(best_arch),
            fx["best_valid"]["hash"].as_u64()
        );
        assert_eq!(
            table.best_test().unwrap().to_bits(),
            bits(&fx["best_test_bits"])
        );
    }
    if !missing.is_empty() {
        // Written to stderr directly so it shows even when the harness captures output.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (NAS-Bench-Graph tables not fetched: {}): run `cargo xtask fetch-benchmarks`",
            missing.join(", ")
        );
    }
}
