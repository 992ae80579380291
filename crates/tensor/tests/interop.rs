//! Interop with Python's `safetensors` (fixtures in `tests/fixtures/`, see `readback.py`).
//!
//! Regenerate `mosaic_written.safetensors` with `MOSAIC_REGEN_FIXTURES=1 cargo test -p
//! mosaic-tensor --test interop`, then run `readback.py`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use mosaic_tensor::safetensors::{write_file, Checkpoint, SafetensorsFile};
use mosaic_tensor::{DType, Tensor};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn mosaic_tensors() -> Vec<(&'static str, Tensor)> {
    vec![
        (
            "w.f32",
            Tensor::from_f32([2, 3], vec![0.5, -1.25, 3.0, 1e-3, -0.0, 65504.0]).unwrap(),
        ),
        (
            "w.f16",
            Tensor::from_vec([4], [1.0f32, -2.5, 0.1, 1e-4].map(f16::from_f32).to_vec()).unwrap(),
        ),
        (
            "w.bf16",
            Tensor::from_vec(
                [2, 2],
                [1.0f32, -3.140625, 0.1, 1e20].map(bf16::from_f32).to_vec(),
            )
            .unwrap(),
        ),
        (
            "idx.i64",
            Tensor::from_vec([3], vec![-1i64, 0, 1 << 40]).unwrap(),
        ),
        (
            "mask.u8",
            Tensor::from_vec([5], vec![0u8, 1, 2, 254, 255]).unwrap(),
        ),
    ]
}

fn write_mosaic(path: &Path) {
    let ts = mosaic_tensors();
    let views: Vec<(&str, _)> = ts.iter().map(|(n, t)| (*n, t.view())).collect();
    let md: BTreeMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    write_file(path, &views, Some(&md)).unwrap();
}

#[test]
fn mosaic_writer_is_byte_stable() {
    let fixture = fixtures().join("mosaic_written.safetensors");
    if std::env::var_os("MOSAIC_REGEN_FIXTURES").is_some() {
        write_mosaic(&fixture);
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    write_mosaic(&p);
    assert_eq!(
        std::fs::read(&p).unwrap(),
        std::fs::read(&fixture).unwrap(),
        "Mosaic's writer output changed; regenerate the fixtures (see readback.py)"
    );
}

#[test]
fn python_reads_what_mosaic_wrote() {
    let text = std::fs::read_to_string(fixtures().join("python_readback.json")).unwrap();
    let py: serde_json::Value = serde_json::from_str(&text).unwrap();
    let f = SafetensorsFile::open(fixtures().join("mosaic_written.safetensors")).unwrap();
    assert_eq!(f.metadata().unwrap()["format"], "pt");
    let py = py.as_object().unwrap();
    assert_eq!(py.len(), mosaic_tensors().len());
    for (name, t) in mosaic_tensors() {
        let e = &py[name];
        assert_eq!(
            e["dtype"].as_str().unwrap(),
            t.dtype().safetensors_name(),
            "{name}"
        );
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(shape, t.shape().dims(), "{name}");
        let vals: Vec<f64> = e["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let ours = f.tensor(name).unwrap().to_f64_vec();
        assert_eq!(vals.len(), ours.len());
        // serde_json (without `float_roundtrip`) may parse decimals 1 ulp off.
        for (a, b) in vals.iter().zip(&ours) {
            assert!(
                a == b || (a - b).abs() <= f64::EPSILON * a.abs(),
                "{name}: python {a} vs mosaic {b}"
            );
        }
    }
}

#[test]
fn mosaic_reads_what_python_wrote() {
    let ck = Checkpoint::open(fixtures().join("python_written.safetensors")).unwrap();
    assert_eq!(ck.names(), vec!["a", "b", "c", "d", "e", "f"]);
    let a = ck.tensor("a").unwrap();
    assert_eq!((a.dtype(), a.dims()), (DType::F32, &[2usize, 3][..]));
    assert_eq!(a.to_f32_vec(), vec![-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]);
    let b = ck.tensor("b").unwrap();
    assert_eq!(b.dtype(), DType::F16);
    assert_eq!(
        b.to_f32_vec(),
        [0.5f32, -1.0, 2.0, 1e-3].map(|v| f16::from_f32(v).to_f32())
    );
    let c = ck.tensor("c").unwrap();
    assert_eq!(c.dtype(), DType::I64);
    assert_eq!(c.to_owned().as_slice::<i64>().unwrap(), &[-5, 7, 1 << 40]);
    let d = ck.tensor("d").unwrap();
    assert_eq!(d.dtype(), DType::U8);
    assert_eq!(d.as_bytes(), &[0, 128, 255]);
    let e = ck.tensor("e").unwrap();
    assert_eq!(e.dtype(), DType::Bool);
    assert_eq!(e.to_f32_vec(), vec![1.0, 0.0, 1.0]);
    let f = ck.tensor("f").unwrap();
    assert_eq!(f.dtype(), DType::F64);
    assert_eq!(f.to_f64_vec(), vec![1.0 / 3.0, -2.5]);
}
