//! Throughput of exact Gaussian noise (`cargo xtask bench dp-noise`, or
//! `cargo bench -p mosaic-dp --features parallel --bench dp-noise`).
//!
//! - `gaussian_noise/add_to_f32`: `GaussianNoise::add_to_f32` on 2^20 coordinates, one thread
//!   (round to the grid, exact discrete Gaussian with a 41-bit lattice σ, back to f32);
//! - `gaussian_noise/par_add_to_f32`: the same over rayon's pool (with `parallel`);
//! - `samplers/*`: one lattice sample at σ = 2^40 + 12345 from the band sampler (the one in
//!   use) and from CKS 2020 Algorithm 3 (the reference), per 2^16 draws;
//! - `baselines/*`: the ChaCha20 stream alone (2 words per coordinate) and an insecure
//!   float Box–Muller normal from the same stream — what exactness costs, not alternatives.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mosaic_dp::sampling::{discrete_gaussian_cks, Bits, DiscreteGaussian, Rational};
use mosaic_dp::{GaussianNoise, RngSeed};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const N: usize = 1 << 20;

fn gaussian_noise(c: &mut Criterion) {
    let noise = GaussianNoise::calibrated(1.1, 1.0, N as u64).unwrap();
    let seed = RngSeed::from_u64(1);
    let grads: Vec<f32> = (0..N).map(|i| ((i % 1000) as f32 - 500.0) * 1e-3).collect();
    let mut g = c.benchmark_group("gaussian_noise");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("add_to_f32", |b| {
        b.iter_batched_ref(
            || grads.clone(),
            |v| noise.add_to_f32(&seed, v).unwrap(),
            BatchSize::LargeInput,
        )
    });
    #[cfg(feature = "parallel")]
    g.bench_function("par_add_to_f32", |b| {
        b.iter_batched_ref(
            || grads.clone(),
            |v| noise.par_add_to_f32(&seed, v).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn samplers(c: &mut Criterion) {
    let s = (1u64 << 40) + 12_345;
    let m = 1u64 << 16;
    let mut g = c.benchmark_group("samplers");
    g.throughput(Throughput::Elements(m));
    g.sample_size(10);
    let banded = DiscreteGaussian::new(Rational::integer(s)).unwrap();
    g.bench_function("band_rejection", |b| {
        let mut bits = Bits::from_seed(&RngSeed::from_u64(2));
        b.iter(|| (0..m).map(|_| banded.sample(&mut bits)).sum::<i128>())
    });
    g.bench_function("cks_algorithm_3", |b| {
        let mut bits = Bits::from_seed(&RngSeed::from_u64(2));
        b.iter(|| {
            (0..m)
                .map(|_| discrete_gaussian_cks(&mut bits, s).unwrap())
                .sum::<i128>()
        })
    });
    g.finish();
}

fn baselines(c: &mut Criterion) {
    let mut g = c.benchmark_group("baselines");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("chacha20_two_words", |b| {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        b.iter(|| (0..N).fold(0u64, |a, _| a ^ rng.next_u64() ^ rng.next_u64()))
    });
    g.bench_function("float_box_muller_insecure", |b| {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut v = vec![0f32; N];
        b.iter(|| {
            for pair in v.chunks_mut(2) {
                let u1 = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) + 1e-300;
                let u2 = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                let r = (-2.0 * u1.ln()).sqrt();
                let t = std::f64::consts::TAU * u2;
                pair[0] += (r * t.cos()) as f32;
                if let Some(x) = pair.get_mut(1) {
                    *x += (r * t.sin()) as f32;
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, gaussian_noise, samplers, baselines);
criterion_main!(benches);
