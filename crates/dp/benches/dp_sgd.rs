//! `cargo xtask bench dp-sgd`: time per DP-SGD step ÷ time per non-private step, for an MLP
//! 784-512-256-10 (ReLU) on synthetic inputs, batch 256, plain SGD (`optim-basic`) through the
//! dfdx adapter in both.
//!
//! - non-private: one dfdx forward and backward of the mean cross-entropy, one optimizer step;
//! - DP-SGD (ghost): the same batch size (shuffled batches of 256), ghost norms and ghost
//!   clipping at C = 1, exact discrete Gaussian noise σ = 1 seeded from the OS every step,
//!   the optimizer step;
//! - its parts: the ghost clipped sum alone, the noise alone (535,818 values);
//! - DP-SGD with per-example gradients (dfdx, one backward per example), a few steps only.
//!
//! Not criterion: whole training steps of milliseconds, medians of `REPS` after a warm-up,
//! all in one process so the ratio compares like with like.

use std::time::{Duration, Instant};

use dfdx::prelude::*;
use mosaic_abi::{OptimizerBox, ParamMap, PluginModRef, RngSeed};
use mosaic_dp::train::{
    BatchSampling, Clipping, DpSgd, DpSgdConfig, Ghost, PerExample, PerSampleGradients,
};
use mosaic_dp::{Accounting, GaussianNoise};
use mosaic_optim::dfdx::DfdxOptimizer;
use mosaic_optim::LrSchedule;

type Mlp = (
    Linear<784, 512>,
    ReLU,
    Linear<512, 256>,
    ReLU,
    Linear<256, 10>,
);
const BATCH: usize = 256;
const N: usize = BATCH * 8;
const REPS: usize = 20;

fn sgd() -> OptimizerBox {
    (mosaic_plugin_optim_basic::plugin_module().new_optimizer())("sgd".into(), &ParamMap::new())
        .into_result()
        .expect("sgd")
}

fn median(mut f: impl FnMut(), reps: usize) -> Duration {
    for _ in 0..3.min(reps) {
        f();
    }
    let mut t: Vec<Duration> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[reps / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let dev = Cpu::seed_from_u64(0);
    let x: Vec<[f32; 784]> = (0..N)
        .map(|i| std::array::from_fn(|j| ((i * 31 + j * 17) % 97) as f32 / 97.0))
        .collect();
    let y: Vec<u8> = (0..N).map(|i| (i % 10) as u8).collect();
    let source: Vec<PluginModRef> = vec![mosaic_plugin_dp_accounting::plugin_module()];

    // Non-private: dfdx forward + backward + the same optimizer through the adapter.
    let mut model = dev.build_module::<Mlp, f32>();
    let mut opt = DfdxOptimizer::new(&model, sgd(), 0.01, LrSchedule::Constant).unwrap();
    let mut grads = model.alloc_grads();
    let mut start = 0;
    let plain = median(
        || {
            let rows = &x[start..start + BATCH];
            start = (start + BATCH) % N;
            let flat: Vec<f32> = rows.iter().flatten().copied().collect();
            let mut onehot = vec![0f32; BATCH * 10];
            for (r, &l) in y[..BATCH].iter().enumerate() {
                onehot[r * 10 + l as usize] = 1.0;
            }
            let xb: Tensor<(usize, Const<784>), f32, Cpu> = dev.tensor((flat, (BATCH, Const)));
            let yb: Tensor<(usize, Const<10>), f32, Cpu> = dev.tensor((onehot, (BATCH, Const)));
            let g = std::mem::replace(&mut grads, model.alloc_grads());
            let loss = cross_entropy_with_logits_loss(model.forward(xb.traced(g)), yb);
            grads = loss.backward();
            opt.update(&mut model, &mut grads).unwrap();
            model.zero_grads(&mut grads);
        },
        REPS,
    );

    // DP-SGD with ghost clipping, OS-seeded exact noise.
    let mut model = dev.build_module::<Mlp, f32>();
    let opt = DfdxOptimizer::new(&model, sgd(), 0.01, LrSchedule::Constant).unwrap();
    let config = DpSgdConfig::new(BatchSampling::Shuffle { batch_size: BATCH }, 1.0, 1.0, 1e-5);
    let mut trainer = DpSgd::new(config, opt, Accounting::new(&source), N).unwrap();
    let private = median(
        || {
            trainer
                .step::<_, _, 784, 10>(&mut model, &Ghost, &x, &y)
                .unwrap();
        },
        REPS,
    );

    // The parts.
    let batch = &x[..BATCH];
    let clip = median(
        || {
            PerSampleGradients::<_, 784, 10>::clipped_sum(
                &Ghost,
                &model,
                batch,
                &y[..BATCH],
                &Clipping::Flat(1.0),
            )
            .unwrap();
        },
        REPS,
    );
    let len: usize = mosaic_optim::dfdx::tensors(&model)
        .iter()
        .map(|(_, s)| s.iter().product::<u64>() as usize)
        .sum();
    let noise = GaussianNoise::calibrated(1.0, 1.0, len as u64).unwrap();
    let mut values = vec![0.01f32; len];
    let noise_time = median(
        || {
            noise
                .par_add_to_f32(&RngSeed::from_os(), &mut values)
                .unwrap()
        },
        REPS,
    );

    // Per-example gradients (one dfdx backward per example): a few steps.
    let mut model2 = dev.build_module::<Mlp, f32>();
    let opt = DfdxOptimizer::new(&model2, sgd(), 0.01, LrSchedule::Constant).unwrap();
    let config = DpSgdConfig::new(BatchSampling::Shuffle { batch_size: BATCH }, 1.0, 1.0, 1e-5);
    let mut trainer = DpSgd::new(config, opt, Accounting::new(&source), N).unwrap();
    let per_example = median(
        || {
            trainer
                .step::<_, _, 784, 10>(&mut model2, &PerExample, &x, &y)
                .unwrap();
        },
        3,
    );

    println!(
        "dp-sgd: MLP 784-512-256-10, batch {BATCH}, {len} parameters, sgd, medians of {REPS} steps ({} threads available)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("  non-private step             {:>9.2} ms", ms(plain));
    println!(
        "  DP-SGD step (ghost clipping) {:>9.2} ms   ratio {:.2}x",
        ms(private),
        private.as_secs_f64() / plain.as_secs_f64()
    );
    println!("    ghost clipped sum alone    {:>9.2} ms", ms(clip));
    println!("    exact noise alone          {:>9.2} ms", ms(noise_time));
    println!(
        "  DP-SGD step (per-example)    {:>9.2} ms   ratio {:.1}x (median of 3)",
        ms(per_example),
        per_example.as_secs_f64() / plain.as_secs_f64()
    );
}
