//! Read throughput and selection benchmarks.
//!
//! `cargo bench -p mosaic-tensor --bench read`
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use half::bf16;
use mosaic_tensor::kernels;
use mosaic_tensor::safetensors::{write_file, Checkpoint};
use mosaic_tensor::Tensor;

fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

fn read(c: &mut Criterion) {
    // ~64 MB of bf16 in 4 tensors.
    const PER: usize = 8 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let tensors: Vec<(String, Tensor)> = (0..4)
        .map(|i| {
            let v: Vec<bf16> = pseudo_random(PER, i + 1)
                .into_iter()
                .map(bf16::from_f32)
                .collect();
            (
                format!("layer.{i}.weight"),
                Tensor::from_vec([PER], v).unwrap(),
            )
        })
        .collect();
    let views: Vec<(&str, _)> = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.view()))
        .collect();
    write_file(&path, &views, None).unwrap();
    drop(views);
    drop(tensors);
    let bytes = std::fs::metadata(&path).unwrap().len();

    let mut g = c.benchmark_group("read_64MB_bf16");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("checkpoint_open_to_f32", |b| {
        let mut out = vec![0f32; PER];
        b.iter(|| {
            let ck = Checkpoint::open(&path).unwrap();
            for n in ck.names() {
                ck.tensor(&n).unwrap().read_f32_into(&mut out).unwrap();
                black_box(&out);
            }
        })
    });
    g.bench_function("std_fs_read", |b| {
        b.iter(|| black_box(std::fs::read(&path).unwrap()))
    });
    g.finish();
}

fn select(c: &mut Criterion) {
    const N: usize = 4 << 20;
    let x = pseudo_random(N, 7);
    let k = N / 5;
    let mut g = c.benchmark_group("kth_largest_abs_4M");
    g.sample_size(10);
    g.bench_function("radix_select", |b| {
        b.iter(|| black_box(kernels::kth_largest_abs(&x, k)))
    });
    g.bench_function("full_sort", |b| {
        b.iter(|| {
            let mut v: Vec<f32> = x.iter().map(|v| v.abs()).collect();
            v.sort_unstable_by(|a, b| b.total_cmp(a));
            black_box(v[k - 1])
        })
    });
    g.finish();
}

criterion_group!(benches, read, select);
criterion_main!(benches);
