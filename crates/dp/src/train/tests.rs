use dfdx::prelude::*;
use mosaic_abi::{OptimizerBox, ParamMap, PluginModRef};
use mosaic_optim::dfdx::DfdxOptimizer;
use mosaic_optim::LrSchedule;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use super::*;
use crate::{Accounting, DpError};

type Small = (Linear<5, 7>, ReLU, Linear<7, 3>);
type Deep = (Linear<4, 6>, Tanh, Linear<6, 5>, Sigmoid, Linear<5, 3>);

fn sgd() -> OptimizerBox {
    (mosaic_plugin_optim_basic::plugin_module().new_optimizer())("sgd".into(), &ParamMap::new())
        .into_result()
        .expect("sgd")
}

fn accountants() -> Vec<PluginModRef> {
    vec![mosaic_plugin_dp_accounting::plugin_module()]
}

fn data<const I: usize>(n: usize, classes: u8, seed: u64) -> (Vec<[f32; I]>, Vec<u8>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut unit = move || (rng.next_u32() as f64 / u32::MAX as f64 * 2.0 - 1.0) as f32;
    let x: Vec<[f32; I]> = (0..n)
        .map(|_| std::array::from_fn(|_| 3.0 * unit()))
        .collect();
    let y = (0..n)
        .map(|i| ((x[i][0] > 0.0) as u8 + (x[i][1] > 0.0) as u8) % classes)
        .collect();
    (x, y)
}

fn norm(v: &[Vec<f32>]) -> f64 {
    v.iter()
        .flatten()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-3)
}

/// Ghost norms equal the norms of the per-example gradients dfdx computes one by one, and
/// the ghost-clipped sum equals the sum of clipped per-example gradients.
fn ghost_matches_per_example<M, const I: usize, const K: usize>(model: &M, seed: u64, n: usize)
where
    M: GhostForward<Rows<I>, Out = Rows<K>>
        + Module<Rows<I>, Output = Rows<K>>
        + TensorCollection<f32, Cpu>
        + ZeroGrads<f32, Cpu>,
{
    let (x, y) = data::<I>(n, K as u8, seed);
    let tensors = mosaic_optim::dfdx::tensors(model).len();
    for clipping in [
        Clipping::Flat(f64::INFINITY),
        Clipping::Flat(0.3),
        Clipping::PerLayer((0..tensors).map(|t| 0.1 + 0.2 * t as f64).collect()),
    ] {
        let ghost =
            PerSampleGradients::<M, I, K>::clipped_sum(&Ghost, model, &x, &y, &clipping).unwrap();
        let (per, losses, correct) = per_example_gradients::<M, I, K>(model, &x, &y).unwrap();
        assert_eq!(ghost.correct, correct);
        assert!(close(ghost.loss_sum, losses.iter().sum(), 1e-5));
        for (i, g) in per.iter().enumerate() {
            assert!(
                close(ghost.norms[i], norm(g), 1e-4),
                "example {i}: ghost norm {} vs per-example {}",
                ghost.norms[i],
                norm(g)
            );
            for t in 0..tensors {
                assert!(close(ghost.squared[t][i].sqrt(), norm(&g[t..t + 1]), 1e-4));
            }
        }
        let reference =
            PerSampleGradients::<M, I, K>::clipped_sum(&PerExample, model, &x, &y, &clipping)
                .unwrap();
        for (a, b) in ghost
            .sums
            .iter()
            .flatten()
            .zip(reference.sums.iter().flatten())
        {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

#[test]
fn ghost_norms_equal_per_example_norms_on_random_mlps() {
    for seed in 0..6u64 {
        let dev = Cpu::seed_from_u64(seed);
        let n = 1 + (seed as usize * 5) % 11;
        ghost_matches_per_example::<_, 5, 3>(&dev.build_module::<Small, f32>(), seed, n);
        ghost_matches_per_example::<_, 4, 3>(&dev.build_module::<Deep, f32>(), seed + 100, n);
    }
}

#[test]
fn an_empty_batch_sums_to_zero() {
    let dev = Cpu::seed_from_u64(0);
    let model = dev.build_module::<Small, f32>();
    let b =
        PerSampleGradients::<_, 5, 3>::clipped_sum(&Ghost, &model, &[], &[], &Clipping::Flat(1.0))
            .unwrap();
    assert!(b.sums.iter().flatten().all(|&v| v == 0.0));
    assert_eq!(b.sums.len(), 4);
}

#[test]
fn clipping_bounds_every_per_example_contribution() {
    let dev = Cpu::seed_from_u64(7);
    let model = dev.build_module::<Deep, f32>();
    let (x, y) = data::<4>(24, 3, 7);
    let (per, _, _) = per_example_gradients::<_, 4, 3>(&model, &x, &y).unwrap();
    let tensors = per[0].len();
    for c in [1e-4, 0.01, 0.1, 1.0, 10.0] {
        for clipping in [
            Clipping::Flat(c),
            Clipping::PerLayer(vec![c / (tensors as f64).sqrt(); tensors]),
        ] {
            let batch =
                PerSampleGradients::<_, 4, 3>::clipped_sum(&Ghost, &model, &x, &y, &clipping)
                    .unwrap();
            for (i, g) in per.iter().enumerate() {
                // The example's contribution, as the sum receives it: c_t,i · g_t,i in f32.
                let scaled: Vec<Vec<f32>> = g
                    .iter()
                    .enumerate()
                    .map(|(t, gt)| gt.iter().map(|v| v * batch.factors[t][i]).collect())
                    .collect();
                assert!(
                    norm(&scaled) <= clipping.sensitivity(),
                    "C = {c}: example {i} contributes {} > {}",
                    norm(&scaled),
                    clipping.sensitivity()
                );
                if let Clipping::PerLayer(cs) = &clipping {
                    for t in 0..tensors {
                        assert!(norm(&scaled[t..t + 1]) <= cs[t]);
                    }
                }
                // Gradients already inside the bound are left alone.
                if norm(g) < c * 0.9 && matches!(clipping, Clipping::Flat(_)) {
                    assert!(batch.factors.iter().all(|t| t[i] == 1.0));
                }
            }
        }
    }
}

fn plain_config(batch_size: usize) -> DpSgdConfig {
    let mut config = DpSgdConfig::new(
        BatchSampling::Shuffle { batch_size },
        f64::INFINITY,
        0.0,
        1e-5,
    );
    config.sampling_seed = Some(3);
    config
}

#[test]
fn without_noise_and_clipping_dp_sgd_is_plain_sgd_step_for_step() {
    let dev = Cpu::seed_from_u64(11);
    let mut private = dev.build_module::<Small, f32>();
    let mut plain = private.clone();
    let (x, y) = data::<5>(40, 3, 11);
    let source = accountants();
    let lr = 0.5;
    let opt = DfdxOptimizer::new(&private, sgd(), lr, LrSchedule::Constant).unwrap();
    let mut dpsgd = DpSgd::new(plain_config(8), opt, Accounting::new(&source), x.len()).unwrap();
    // The same batches, from a second sampler with the same seed.
    let opt = DfdxOptimizer::new(&plain, sgd(), lr, LrSchedule::Constant).unwrap();
    let mut batches = DpSgd::new(plain_config(8), opt, Accounting::new(&source), x.len()).unwrap();
    let mut plain_opt = DfdxOptimizer::new(&plain, sgd(), lr, LrSchedule::Constant).unwrap();
    let mut grads = plain.alloc_grads();
    for step in 0..12 {
        dpsgd
            .step::<_, _, 5, 3>(&mut private, &Ghost, &x, &y)
            .unwrap();
        let batch = batches.next_batch();
        let flat: Vec<f32> = batch.iter().flat_map(|&i| x[i]).collect();
        let mut onehot = vec![0f32; batch.len() * 3];
        for (r, &i) in batch.iter().enumerate() {
            onehot[r * 3 + y[i] as usize] = 1.0;
        }
        let xb: Tensor<(usize, Const<5>), f32, Cpu> = dev.tensor((flat, (batch.len(), Const)));
        let yb: Tensor<(usize, Const<3>), f32, Cpu> = dev.tensor((onehot, (batch.len(), Const)));
        let loss = cross_entropy_with_logits_loss(plain.forward(xb.traced(grads)), yb);
        grads = loss.backward();
        plain_opt.update(&mut plain, &mut grads).unwrap();
        plain.zero_grads(&mut grads);
        let a = mosaic_optim::dfdx::parameters(&private);
        let b = mosaic_optim::dfdx::parameters(&plain);
        for ((name, va), (_, vb)) in a.iter().zip(&b) {
            for (p, q) in va.iter().zip(vb) {
                assert!((p - q).abs() <= 1e-5, "step {step}, {name}: {p} vs {q}");
            }
        }
    }
    assert_eq!(dpsgd.epsilon().unwrap(), f64::INFINITY);
}

#[test]
fn noise_has_standard_deviation_sigma_c_over_the_batch() {
    // One step from a model whose gradient is known (a zero batch is impossible to force
    // under Poisson sampling, so compare against the noiseless step instead).
    type Wide = (Linear<30, 30>, ReLU, Linear<30, 3>);
    let dev = Cpu::seed_from_u64(5);
    let start = dev.build_module::<Wide, f32>();
    let (x, y) = data::<30>(50, 3, 5);
    let source = accountants();
    let (sigma, c, batch_size, lr) = (1.3, 0.7, 10usize, 1.0);
    let run = |noise: f64| {
        let mut model = start.clone();
        let opt = DfdxOptimizer::new(&model, sgd(), lr, LrSchedule::Constant).unwrap();
        let mut config = DpSgdConfig::new(BatchSampling::Shuffle { batch_size }, c, noise, 1e-5);
        config.sampling_seed = Some(1);
        config.noise_seed = Some(2);
        let mut t = DpSgd::new(config, opt, Accounting::new(&source), x.len()).unwrap();
        t.step::<_, _, 30, 3>(&mut model, &Ghost, &x, &y).unwrap();
        mosaic_optim::dfdx::parameters(&model)
    };
    let noisy = run(sigma);
    let clean = run(0.0);
    let diffs: Vec<f64> = noisy
        .iter()
        .zip(&clean)
        .flat_map(|((_, a), (_, b))| a.iter().zip(b).map(|(p, q)| f64::from(p - q)))
        .collect();
    let n = diffs.len() as f64;
    let var = diffs.iter().map(|d| d * d).sum::<f64>() / n;
    let expected = sigma * c * lr / batch_size as f64;
    // The sample standard deviation of n = 1023 normal values has relative standard error
    // 1/√(2n) ≈ 2.2 %; allow 6 of them (plus the grid's 2^-40).
    let rel = (var.sqrt() / expected - 1.0).abs();
    assert!(
        rel < 6.0 / (2.0 * n).sqrt(),
        "std {} vs {expected}",
        var.sqrt()
    );
}

#[test]
fn poisson_batches_have_the_expected_size() {
    let dev = Cpu::seed_from_u64(0);
    let model = dev.build_module::<Small, f32>();
    let source = accountants();
    let (n, q) = (2000usize, 0.05);
    let opt = DfdxOptimizer::new(&model, sgd(), 0.1, LrSchedule::Constant).unwrap();
    let mut config = DpSgdConfig::new(BatchSampling::Poisson { sampling_rate: q }, 1.0, 1.0, 1e-5);
    config.sampling_seed = Some(9);
    let mut t = DpSgd::new(config, opt, Accounting::new(&source), n).unwrap();
    let draws = 200;
    let sizes: Vec<usize> = (0..draws).map(|_| t.next_batch().len()).collect();
    let total: usize = sizes.iter().sum();
    // Σ sizes ~ Binomial(draws·n, q): mean 20 000, standard deviation ≈ 137.8; 6 of them.
    let mean = (draws * n) as f64 * q;
    let sd = (mean * (1.0 - q)).sqrt();
    assert!((total as f64 - mean).abs() < 6.0 * sd, "{total} vs {mean}");
    assert!(
        sizes.iter().any(|&s| s != sizes[0]),
        "the batch size varies"
    );
    assert_eq!(t.steps_per_epoch(), 20);
}

#[test]
fn the_accountant_reports_the_composed_dpsgd_epsilon() {
    let dev = Cpu::seed_from_u64(1);
    let mut model = dev.build_module::<Small, f32>();
    let (x, y) = data::<5>(60, 3, 1);
    let source = accountants();
    for accountant in ["rdp", "pld"] {
        let opt = DfdxOptimizer::new(&model, sgd(), 0.1, LrSchedule::Constant).unwrap();
        let mut config = DpSgdConfig::new(
            BatchSampling::Poisson { sampling_rate: 0.1 },
            1.0,
            1.1,
            1e-5,
        );
        config.noise_seed = Some(4);
        let accounting = Accounting::new(&source).accountant(accountant);
        let mut t = DpSgd::new(config, opt, accounting, x.len()).unwrap();
        let e = t.epoch::<_, _, 5, 3>(&mut model, &Ghost, &x, &y).unwrap();
        assert_eq!(e.steps, 10);
        let want = Accounting::new(&source)
            .accountant(accountant)
            .dpsgd_epsilon(0.1, 1.1, 10, 1e-5)
            .unwrap()
            .epsilon;
        assert_eq!(e.epsilon, want);
    }
}

#[test]
fn training_stops_at_the_target_epsilon_and_calibration_meets_it() {
    let dev = Cpu::seed_from_u64(2);
    let mut model = dev.build_module::<Small, f32>();
    let (x, y) = data::<5>(50, 3, 2);
    let source = accountants();
    let accounting = Accounting::new(&source);
    let sampling = BatchSampling::Poisson { sampling_rate: 0.2 };
    let cal = calibrate_noise_multiplier(&accounting, 2.0, 1e-5, sampling, x.len(), 3).unwrap();
    assert!(cal.epsilon <= 2.0);
    let opt = DfdxOptimizer::new(&model, sgd(), 0.1, LrSchedule::Constant).unwrap();
    let mut config = DpSgdConfig::new(sampling, 1.0, 1.5, 1e-5);
    config.target_epsilon = Some(2.0);
    config.noise_seed = Some(1);
    let mut t = DpSgd::new(config, opt, Accounting::new(&source), x.len()).unwrap();
    let max = t.max_steps().unwrap();
    let mut epochs = 0;
    while t.can_step() {
        t.epoch::<_, _, 5, 3>(&mut model, &Ghost, &x, &y).unwrap();
        epochs += 1;
        assert!(epochs < 1000);
    }
    assert_eq!(t.steps(), max);
    assert!(t.epsilon().unwrap() <= 2.0);
    let next = Accounting::new(&source)
        .dpsgd_epsilon(0.2, 1.5, max + 1, 1e-5)
        .unwrap();
    assert!(next.epsilon > 2.0);
    assert!(t.step::<_, _, 5, 3>(&mut model, &Ghost, &x, &y).is_err());
}

fn param_of(e: DpError) -> String {
    match e {
        DpError::InvalidParameter { name, .. } => name,
        other => panic!("expected a parameter error, got {other}"),
    }
}

#[test]
fn bad_configurations_are_errors_naming_the_parameter() {
    let dev = Cpu::seed_from_u64(0);
    let model = dev.build_module::<Small, f32>();
    let source = accountants();
    let make = |config: DpSgdConfig| {
        let opt = DfdxOptimizer::new(&model, sgd(), 0.1, LrSchedule::Constant).unwrap();
        DpSgd::new(config, opt, Accounting::new(&source), 100).map(|_| ())
    };
    let poisson = BatchSampling::Poisson { sampling_rate: 0.1 };
    for c in [0.0, -1.0, f64::NAN] {
        let e = make(DpSgdConfig::new(poisson, c, 1.0, 1e-5)).unwrap_err();
        assert_eq!(param_of(e), "max_grad_norm");
    }
    let e = make(DpSgdConfig::new(poisson, f64::INFINITY, 1.0, 1e-5)).unwrap_err();
    assert_eq!(param_of(e), "max_grad_norm");
    let mut per_layer = DpSgdConfig::new(poisson, 1.0, 1.0, 1e-5);
    per_layer.clipping = Clipping::PerLayer(vec![1.0; 3]);
    assert_eq!(param_of(make(per_layer).unwrap_err()), "max_grad_norm");
    for b in [0, 101] {
        let e = make(DpSgdConfig::new(
            BatchSampling::Shuffle { batch_size: b },
            1.0,
            1.0,
            1e-5,
        ));
        assert_eq!(param_of(e.unwrap_err()), "batch_size");
    }
    let e = make(DpSgdConfig::new(
        BatchSampling::Poisson { sampling_rate: 0.0 },
        1.0,
        1.0,
        1e-5,
    ));
    assert_eq!(param_of(e.unwrap_err()), "sampling_rate");
    let mut unreachable = DpSgdConfig::new(poisson, 1.0, 0.5, 1e-5);
    unreachable.target_epsilon = Some(1e-3);
    let e = make(unreachable).unwrap_err();
    assert!(e.to_string().contains("cannot be met"), "{e}");
    assert_eq!(param_of(e), "epsilon");
    let e = make(DpSgdConfig::new(poisson, 1.0, 1.0, 0.0)).unwrap_err();
    assert_eq!(param_of(e), "delta");
    let accounting = Accounting::new(&source);
    let e = calibrate_noise_multiplier(&accounting, 1e-9, 1e-5, poisson, 100, 1000).unwrap_err();
    assert_eq!(param_of(e), "epsilon");
}

#[test]
fn models_without_the_ghost_identity_train_per_example() {
    // Layer norm has parameters of its own: no ghost forward, so the per-example engine.
    type Normed = (Linear<5, 6>, LayerNorm1D<6>, ReLU, Linear<6, 3>);
    let dev = Cpu::seed_from_u64(3);
    let mut model = dev.build_module::<Normed, f32>();
    let before = mosaic_optim::dfdx::parameters(&model);
    let (x, y) = data::<5>(30, 3, 3);
    let source = accountants();
    let opt = DfdxOptimizer::new(&model, sgd(), 0.1, LrSchedule::Constant).unwrap();
    let mut config = DpSgdConfig::new(BatchSampling::Shuffle { batch_size: 6 }, 0.5, 1.0, 1e-5);
    config.noise_seed = Some(8);
    let mut t = DpSgd::new(config, opt, Accounting::new(&source), x.len()).unwrap();
    let e = t
        .epoch::<_, _, 5, 3>(&mut model, &PerExample, &x, &y)
        .unwrap();
    assert_eq!((e.steps, e.examples), (5, 30));
    assert!(e.epsilon.is_finite() && e.epsilon > 0.0);
    let after = mosaic_optim::dfdx::parameters(&model);
    assert_eq!(after.len(), 6);
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        assert!(a != b, "{name} was updated");
        assert!(b.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn private_fine_tuning_clips_noises_and_updates_only_the_selected_tensors() {
    let dev = Cpu::seed_from_u64(4);
    let mut model = dev.build_module::<Deep, f32>();
    let before = mosaic_optim::dfdx::parameters(&model);
    let (x, y) = data::<4>(40, 3, 4);
    // Fine-tune the last layer only (weight and bias).
    let mask = vec![false, false, false, false, true, true];
    // The norms count the selected tensors only.
    let all =
        PerSampleGradients::<_, 4, 3>::clipped_sum(&Ghost, &model, &x, &y, &Clipping::Flat(0.05))
            .unwrap();
    let sub = PerSampleGradients::<_, 4, 3>::clipped_sum_of(
        &Ghost,
        &model,
        &x,
        &y,
        &Clipping::Flat(0.05),
        Some(&mask),
    )
    .unwrap();
    for i in 0..x.len() {
        let want = (all.squared[4][i] + all.squared[5][i]).sqrt();
        assert!(close(sub.norms[i], want, 1e-9));
    }
    assert!(sub.sums[..4].iter().flatten().all(|&v| v == 0.0));
    let per = PerSampleGradients::<_, 4, 3>::clipped_sum_of(
        &PerExample,
        &model,
        &x,
        &y,
        &Clipping::Flat(0.05),
        Some(&mask),
    )
    .unwrap();
    for (a, b) in sub.sums.iter().flatten().zip(per.sums.iter().flatten()) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()));
    }

    let source = accountants();
    let opt = DfdxOptimizer::new(&model, sgd(), 0.5, LrSchedule::Constant).unwrap();
    let mut config = DpSgdConfig::new(BatchSampling::Shuffle { batch_size: 8 }, 1.0, 1.0, 1e-5);
    config.noise_seed = Some(5);
    config.trainable = Some(mask.clone());
    let mut t = DpSgd::new(config, opt, Accounting::new(&source), x.len()).unwrap();
    t.epoch::<_, _, 4, 3>(&mut model, &Ghost, &x, &y).unwrap();
    let after = mosaic_optim::dfdx::parameters(&model);
    for (k, ((name, a), (_, b))) in before.iter().zip(&after).enumerate() {
        assert_eq!(a != b, mask[k], "{name}");
    }
    let mut bad = DpSgdConfig::new(BatchSampling::Shuffle { batch_size: 8 }, 1.0, 1.0, 1e-5);
    bad.trainable = Some(vec![false; 6]);
    let opt = DfdxOptimizer::new(&model, sgd(), 0.5, LrSchedule::Constant).unwrap();
    let e = DpSgd::new(bad, opt, Accounting::new(&source), x.len())
        .map(|_| ())
        .unwrap_err();
    assert_eq!(param_of(e), "trainable");
}
