//! `cargo xtask bench mf-noise`: one step of streaming matrix-factorization noise
//! ([`MfStream::privatize`]) on a 2^16-value step, for 1, 16 and 64 bands, with the noise off
//! (the banded recursions alone) and with the exact discrete Gaussian (sampling included).
//! Memory per stream is (2·bands − 1)·dim values whatever the horizon.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mosaic_dp::continual::{BandedToeplitz, MfStream, OptimizeOptions, Participation};
use mosaic_dp::noise::Noise;

const DIM: usize = 1 << 16;
const HORIZON: usize = 1 << 40;

fn stream(bands: usize, noise: Noise) -> MfStream {
    let mf = if bands == 1 {
        BandedToeplitz::identity()
    } else {
        // Coefficients optimised for a 4096-step horizon; the stream itself runs far longer.
        BandedToeplitz::optimal(4096, bands, &OptimizeOptions::default())
            .unwrap()
            .0
    };
    mf.stream(HORIZON, DIM, 1.0, Participation::single(), noise)
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mf_stream_step");
    group.throughput(Throughput::Elements(DIM as u64));
    group.sample_size(20);
    let x: Vec<f64> = (0..DIM).map(|i| (i % 7) as f64 * 0.25).collect();
    for bands in [1usize, 16, 64] {
        for (label, noise) in [
            ("noise_off", Noise::Off),
            ("discrete_gaussian", Noise::gaussian_fixed_seed(1.0, 7)),
        ] {
            let mut s = stream(bands, noise);
            // Fill the history so every step uses all bands.
            let mut step = x.clone();
            for _ in 0..bands {
                step.copy_from_slice(&x);
                s.privatize(&mut step).unwrap();
            }
            group.bench_function(BenchmarkId::new(label, bands), |b| {
                b.iter(|| {
                    step.copy_from_slice(&x);
                    s.privatize(&mut step).unwrap();
                    std::hint::black_box(step[0])
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
