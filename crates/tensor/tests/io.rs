//! safetensors round trips, sharding and corruption handling.
use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};
use mosaic_tensor::safetensors::{
    parse_size, write_file, Checkpoint, SafetensorsFile, ShardedWriter, INDEX_FILE,
};
use mosaic_tensor::{DType, Shape, Tensor, TensorError};
use proptest::prelude::*;

const DTYPES: [DType; 7] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::U8,
    DType::Bool,
];

/// A random tensor of a random dtype from raw random bytes (any bit pattern is valid for the
/// Pod types; Bool is normalised to 0/1).
fn arb_tensor() -> impl Strategy<Value = Tensor> {
    (
        0usize..DTYPES.len(),
        prop::collection::vec(0usize..5, 0..3),
        any::<u64>(),
    )
        .prop_map(|(d, dims, seed)| {
            let dtype = DTYPES[d];
            let n: usize = dims.iter().product();
            let mut s = seed | 1;
            let bytes: Vec<u8> = (0..n * dtype.size_of())
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    s as u8
                })
                .collect();
            Tensor::from_bytes(dtype, dims, &bytes).unwrap()
        })
}

fn arb_tensors() -> impl Strategy<Value = Vec<(String, Tensor)>> {
    prop::collection::vec(arb_tensor(), 0..6).prop_map(|ts| {
        ts.into_iter()
            .enumerate()
            .map(|(i, t)| (format!("layer.{i}.w"), t))
            .collect()
    })
}

/// Naive HF greedy rule, written independently of the library.
fn reference_shard_count(sizes: &[u64], max: u64) -> usize {
    let mut count = 0;
    let mut cur = 0u64;
    let mut cur_nonempty = false;
    for &s in sizes {
        if s > max {
            count += 1;
            continue;
        }
        if cur + s > max {
            count += 1;
            cur = 0;
        }
        cur += s;
        cur_nonempty = true;
    }
    count + cur_nonempty as usize
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn write_file_round_trip(ts in arb_tensors(), meta in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        let views: Vec<(&str, _)> = ts.iter().map(|(n, t)| (n.as_str(), t.view())).collect();
        let md: BTreeMap<String, String> = [("format".to_string(), "pt".to_string())].into();
        write_file(&path, &views, meta.then_some(&md)).unwrap();
        let f = SafetensorsFile::open(&path).unwrap();
        let names: Vec<&str> = ts.iter().map(|(n, _)| n.as_str()).collect();
        prop_assert_eq!(f.names(), names);
        prop_assert_eq!(f.metadata().is_some(), meta);
        for (n, t) in &ts {
            let v = f.tensor(n).unwrap();
            prop_assert_eq!(v.dtype(), t.dtype());
            prop_assert_eq!(v.dims(), t.shape().dims());
            prop_assert_eq!(v.as_bytes(), t.as_bytes());
            prop_assert_eq!(&v.to_owned(), t);
        }
        // Hugging Face's crate accepts the file too.
        let bytes = std::fs::read(&path).unwrap();
        let st = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
        prop_assert_eq!(st.len(), ts.len());
        // The header is padded to a multiple of 8.
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        prop_assert_eq!(n % 8, 0);
    }

    #[test]
    fn sharded_round_trip(ts in arb_tensors(), max in 1u64..200) {
        let dir = tempfile::tempdir().unwrap();
        let entries: Vec<(String, DType, Shape)> = ts
            .iter()
            .map(|(n, t)| (n.clone(), t.dtype(), t.shape().clone()))
            .collect();
        let w = ShardedWriter::create(dir.path(), entries, max, None).unwrap();
        // Write in reverse order, from two threads.
        std::thread::scope(|s| {
            let (a, b) = ts.split_at(ts.len() / 2);
            let w = &w;
            s.spawn(move || for (n, t) in a.iter().rev() { w.write(n, t.as_bytes()).unwrap() });
            s.spawn(move || for (n, t) in b.iter().rev() { w.write(n, t.as_bytes()).unwrap() });
        });
        let out = w.finish().unwrap();
        let sizes: Vec<u64> = ts.iter().map(|(_, t)| t.as_bytes().len() as u64).collect();
        let expect = reference_shard_count(&sizes, max).max(1);
        let ck = Checkpoint::open(dir.path()).unwrap();
        prop_assert_eq!(ck.files().len(), expect);
        prop_assert_eq!(ck.is_sharded(), expect > 1);
        prop_assert_eq!(out.len(), expect + (expect > 1) as usize);
        prop_assert_eq!(ck.total_size(), sizes.iter().sum::<u64>());
        let mut names: Vec<String> = ts.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        prop_assert_eq!(ck.names(), names);
        for (n, t) in &ts {
            prop_assert!(ck.contains(n));
            prop_assert_eq!(ck.tensor(n).unwrap().to_owned(), t.clone());
        }
        if expect > 1 {
            let idx: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.path().join(INDEX_FILE)).unwrap()).unwrap();
            prop_assert_eq!(idx["metadata"]["total_size"].as_u64(), Some(sizes.iter().sum::<u64>()));
            prop_assert_eq!(idx["weight_map"].as_object().unwrap().len(), ts.len());
            for p in &out[..expect] {
                let f = p.file_name().unwrap().to_str().unwrap();
                prop_assert!(f.starts_with("model-0000") && f.ends_with(&format!("-of-{expect:05}.safetensors")), "{}", f);
            }
        }
        // No temp files left behind.
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let p = e.unwrap().path();
            prop_assert!(!p.to_string_lossy().ends_with(".tmp"), "{}", p.display());
        }
    }
}

fn write_sample(path: &Path) {
    let a = Tensor::from_f32([2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
    let b = Tensor::from_vec([4], vec![1i64, -2, 3, -4]).unwrap();
    write_file(path, &[("a", a.view()), ("b", b.view())], None).unwrap();
}

fn assert_corrupt(path: &Path, what: &str) {
    let err = SafetensorsFile::open(path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, TensorError::Corrupt { .. }),
        "{what}: {err:?}"
    );
    assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
    let err = Checkpoint::open(path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{what}: {err}");
}

fn with_header(path: &Path, header: &str, data_len: usize) {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend(std::iter::repeat_n(0u8, data_len));
    std::fs::write(path, b).unwrap();
}

#[test]
fn truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    write_sample(&good);
    let bytes = std::fs::read(&good).unwrap();
    let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for (cut, what) in [
        (4, "inside the length"),
        (8 + hlen / 2, "inside the header"),
        (8 + hlen + 5, "inside the data"),
        (bytes.len() - 1, "one byte short"),
    ] {
        let p = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert_corrupt(&p, what);
    }
    // Trailing garbage is rejected too.
    let p = dir.path().join("long.safetensors");
    let mut b = bytes.clone();
    b.push(0);
    std::fs::write(&p, b).unwrap();
    assert_corrupt(&p, "trailing byte");
}

#[test]
fn corrupt_headers() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("badjson", "{\"a\": {", 0),
        ("notobj", "[1, 2]", 0),
        (
            "pastend",
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            4,
        ),
        (
            "unknown",
            r#"{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#,
            8,
        ),
        (
            "wrongsize",
            r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            8,
        ),
        (
            "hole",
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            8,
        ),
        (
            "overlap",
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            8,
        ),
        ("badmeta", r#"{"__metadata__":{"x":1}}"#, 0),
    ];
    for (name, header, data) in cases {
        let p = dir.path().join(format!("{name}.safetensors"));
        with_header(&p, header, data);
        assert_corrupt(&p, name);
    }
    // Header length far past the end.
    let p = dir.path().join("hugelen.safetensors");
    let mut b = 1000u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"{}");
    std::fs::write(&p, b).unwrap();
    assert_corrupt(&p, "header length past end");
}

#[test]
fn missing_tensor_names_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    write_sample(&p);
    let f = SafetensorsFile::open(&p).unwrap();
    let e = f.tensor("nope").unwrap_err().to_string();
    assert!(
        e.contains("nope") && e.contains(&p.display().to_string()),
        "{e}"
    );
    let ck = Checkpoint::open(dir.path()).unwrap();
    assert!(!ck.is_sharded());
    assert_eq!(ck.names(), vec!["a", "b"]);
    assert_eq!(ck.file_of("a"), Some(p.as_path()));
    assert_eq!(ck.total_size(), 24 + 32);
    assert!(ck.tensor("nope").is_err());
}

#[test]
fn checkpoint_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    let e = Checkpoint::open(&missing).unwrap_err();
    assert!(matches!(e, TensorError::Io { .. }));
    assert!(e.to_string().contains("does-not-exist"));

    // Index naming a missing shard.
    let d = dir.path().join("ck");
    std::fs::create_dir(&d).unwrap();
    write_sample(&d.join("model-00001-of-00002.safetensors"));
    std::fs::write(
        d.join(INDEX_FILE),
        r#"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let e = Checkpoint::open(&d).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, TensorError::BadIndex { .. }), "{e:?}");
    assert!(
        msg.contains("model-00002-of-00002.safetensors") && msg.contains(INDEX_FILE),
        "{msg}"
    );

    // Index naming a tensor its shard lacks.
    std::fs::write(
        d.join(INDEX_FILE),
        r#"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","zz":"model-00001-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let msg = Checkpoint::open(&d).unwrap_err().to_string();
    assert!(msg.contains("zz") && msg.contains(INDEX_FILE), "{msg}");

    // Exactly one *.safetensors in a folder without index/model.safetensors.
    let d2 = dir.path().join("one");
    std::fs::create_dir(&d2).unwrap();
    write_sample(&d2.join("weights.safetensors"));
    assert_eq!(Checkpoint::open(&d2).unwrap().names(), vec!["a", "b"]);
    write_sample(&d2.join("other.safetensors"));
    assert!(Checkpoint::open(&d2).is_err());
}

#[test]
fn sharded_writer_errors() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        ("a".to_string(), DType::F32, Shape::new([4])),
        ("b".to_string(), DType::BF16, Shape::new([8])),
    ];
    let w = ShardedWriter::create(dir.path(), entries, 16, None).unwrap();
    let e = w.write("zz", &[0; 16]).unwrap_err().to_string();
    assert!(e.contains("zz"), "{e}");
    let e = w.write("a", &[0; 15]).unwrap_err().to_string();
    assert!(e.contains("`a`"), "{e}");
    w.write("a", &[0; 16]).unwrap();
    let e = w.write("a", &[0; 16]).unwrap_err().to_string();
    assert!(e.contains("`a`") && e.contains("twice"), "{e}");
    let e = w.finish().unwrap_err().to_string();
    assert!(e.contains('b'), "{e}");
    // Dropped unfinished: temp files removed, nothing final written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn sharded_layout_matches_hf() {
    // Sizes 8, 40, 8, 8 bytes with limit 16: [b] alone first, then [a, c], then [d].
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        ("a".to_string(), DType::F32, Shape::new([2])),
        ("b".to_string(), DType::F64, Shape::new([5])),
        ("c".to_string(), DType::BF16, Shape::new([4])),
        ("d".to_string(), DType::U8, Shape::new([9])),
    ];
    let w = ShardedWriter::create(dir.path(), entries.clone(), 16, None).unwrap();
    for (n, d, s) in &entries {
        w.write(n, &vec![1u8; s.numel() * d.size_of()]).unwrap();
    }
    w.finish().unwrap();
    let ck = Checkpoint::open(dir.path()).unwrap();
    let f = |n: &str| {
        ck.file_of(n)
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(f("b"), "model-00001-of-00003.safetensors");
    assert_eq!(f("a"), "model-00002-of-00003.safetensors");
    assert_eq!(f("c"), "model-00002-of-00003.safetensors");
    assert_eq!(f("d"), "model-00003-of-00003.safetensors");
    let text = std::fs::read_to_string(dir.path().join(INDEX_FILE)).unwrap();
    assert!(
        text.starts_with(
            "{\n  \"metadata\": {\n    \"total_size\": 65\n  },\n  \"weight_map\": {\n    \"a\""
        ),
        "{text}"
    );
}

#[test]
fn checkpoint_is_send_sync_and_parallel() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Checkpoint>();
    assert_send_sync::<ShardedWriter>();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let t = Tensor::from_vec([3], vec![bf16::from_f32(1.5), bf16::ONE, bf16::ZERO]).unwrap();
    let h = Tensor::from_vec([2], vec![f16::from_f32(0.5), f16::NEG_ONE]).unwrap();
    write_file(&p, &[("t", t.view()), ("h", h.view())], None).unwrap();
    let ck = Checkpoint::open(&p).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                assert_eq!(ck.tensor("t").unwrap().to_f32_vec(), vec![1.5, 1.0, 0.0]);
                assert_eq!(ck.tensor("h").unwrap().to_f32_vec(), vec![0.5, -1.0]);
            });
        }
    });
    assert_eq!(parse_size("1KiB").unwrap(), 1024);
}

/// Releasing a tensor's pages loses nothing: it reads back the same, and so do its
/// neighbours (which may share a page with it).
#[test]
fn released_tensors_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let big: Vec<u8> = (0..3 * 65536 + 13).map(|i| (i * 7 % 251) as u8).collect();
    let small: Vec<u8> = (0..10).collect();
    let a = Tensor::from_bytes(DType::U8, vec![small.len()], &small).unwrap();
    let b = Tensor::from_bytes(DType::U8, vec![big.len()], &big).unwrap();
    let c = Tensor::from_bytes(DType::U8, vec![small.len()], &small).unwrap();
    write_file(
        &path,
        &[("a", a.view()), ("b", b.view()), ("c", c.view())],
        None,
    )
    .unwrap();
    let f = SafetensorsFile::open(&path).unwrap();
    assert_eq!(f.tensor("b").unwrap().as_bytes(), &big[..]);
    let before = f.tensor("b").unwrap();
    for name in ["b", "a", "c", "no such tensor"] {
        f.release(name);
    }
    assert_eq!(before.as_bytes(), &big[..]);
    assert_eq!(f.tensor("a").unwrap().as_bytes(), &small[..]);
    assert_eq!(f.tensor("c").unwrap().as_bytes(), &small[..]);
    let ck = Checkpoint::open(dir.path()).unwrap();
    ck.release("b");
    assert_eq!(ck.tensor("b").unwrap().as_bytes(), &big[..]);
}
