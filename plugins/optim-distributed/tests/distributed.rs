//! The plugins through the ABI and the host-side orchestration of `mosaic_optim::distributed`
//! they serve: a single worker/replica through the optimizer interface is the one-worker
//! case of the orchestration, bit for bit.

use mosaic_abi::{ParamMap, RError, RngSeed, TensorRef};
use mosaic_optim::distributed::{DiLoCo, Ef21, ReplicaSet};
use mosaic_optim::problems::Problem;
use mosaic_optim::{Driver, LrSchedule, OptimizerBox, Param};
use mosaic_plugin_optim_distributed::{compress, spsa::Spsa};

fn new(plugin: mosaic_abi::PluginModRef, name: &str, params: &ParamMap) -> OptimizerBox {
    (plugin.new_optimizer())(name.into(), params)
        .into_result()
        .unwrap()
}

fn ours(name: &str, params: &ParamMap) -> OptimizerBox {
    new(
        mosaic_plugin_optim_distributed::plugin_module(),
        name,
        params,
    )
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `mosaic optim minimize --optimizer spsa` through the loss oracle is replica 0 of a
/// one-replica set, bit for bit, and minimises the problem.
#[test]
fn spsa_through_the_oracle_is_a_single_replica() {
    let problem = Problem::parse("quadratic:5").unwrap();
    let params = ParamMap::new().with("clip", 10.0).with("n_samples", 4i64);
    let mut driver = Driver::flat(ours("spsa", &params), 5, 0.02, LrSchedule::Constant)
        .unwrap()
        .with_seed(RngSeed::from_u64(9));
    let mut x = problem.start();
    let oracle =
        |t: &[TensorRef<'_>]| -> Result<f64, RError> { Ok(problem.loss(&t[0].to_f32_vec())) };
    for _ in 0..400 {
        driver
            .step_with_oracle(
                &mut [Param {
                    values: &mut x,
                    grads: None,
                }],
                &oracle,
            )
            .unwrap();
    }
    let rule = Spsa {
        clip: 10.0,
        n_samples: 4,
        ..Spsa::default()
    };
    let mut set = ReplicaSet::new(rule, 1, &problem.start(), RngSeed::from_u64(9)).unwrap();
    for _ in 0..400 {
        set.step(0.02, |_, p| Ok(problem.loss(p))).unwrap();
    }
    assert_eq!(bits(&x), bits(set.params(0)));
    assert!(
        problem.loss(&x) < 0.05 * problem.loss(&problem.start()),
        "loss {}",
        problem.loss(&x)
    );
}

/// A step without an oracle, or a loss oracle that fails, is an error and changes nothing.
#[test]
fn spsa_errors_leave_parameters_unchanged() {
    let mut driver =
        Driver::flat(ours("spsa", &ParamMap::new()), 3, 0.1, LrSchedule::Constant).unwrap();
    let mut x = vec![1.0f32, 2.0, 3.0];
    let g = [0.0f32; 3];
    let e = driver.step_flat(&mut x, &g).unwrap_err();
    assert!(e.to_string().contains("oracle"), "{e}");
    let nan = |_: &[TensorRef<'_>]| -> Result<f64, RError> { Ok(f64::NAN) };
    let e = driver
        .step_with_oracle(
            &mut [Param {
                values: &mut x,
                grads: None,
            }],
            &nan,
        )
        .unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    assert_eq!(x, [1.0, 2.0, 3.0]);
    assert_eq!(driver.steps_taken(), 0);
}

/// The `ef21` plugin is one worker of `Ef21` (same compressor, same seeds), bit for bit, for
/// deterministic and randomized compressors.
#[test]
fn ef21_plugin_is_a_single_worker() {
    let problem = Problem::parse("lsq:4x3").unwrap();
    for (name, scaled) in [
        ("top_k", false),
        ("rand_k", false),
        ("quantize", false),
        ("identity", false),
    ] {
        let params = ParamMap::new()
            .with("compressor", name)
            .with("density", 0.25)
            .with("levels", 8i64)
            .with("scaled", scaled);
        let mut driver = Driver::new(
            ours("ef21", &params),
            &[("w", &[4, 3])],
            0.05,
            LrSchedule::Constant,
        )
        .unwrap()
        .with_seed(RngSeed::from_u64(4));
        let mut x = problem.start();
        let mut g = vec![0.0; 12];
        for _ in 0..100 {
            problem.grad(&x, &mut g);
            driver.step(&mut [Param::new(&mut x, &g)]).unwrap();
        }
        let resolved = ParamMap::new()
            .with("compressor", name)
            .with("density", 0.25)
            .with("levels", 8i64)
            .with("scaled", scaled);
        let c = compress::from_params(&resolved).unwrap();
        let mut cluster = Ef21::new(&*c, 1, &problem.start(), RngSeed::from_u64(4)).unwrap();
        for _ in 0..100 {
            cluster.step(0.05, |_, x, g| problem.grad(x, g)).unwrap();
        }
        assert_eq!(bits(&x), bits(cluster.x()), "{name}");
    }
}

/// EF21 over 4 workers with f_i = ½‖x − cᵢ‖²: with the identity compressor it is gradient
/// descent on the mean (minimiser: the mean of the cᵢ); with Top-2 of 8 it converges to the
/// same point while sending a quarter of the coordinates. Same bits on 1 and 4 threads.
#[test]
fn ef21_cluster_converges_to_the_average_minimiser() {
    let centers: Vec<Vec<f32>> = (0..4)
        .map(|i| (0..8).map(|j| ((i * 8 + j) as f32 * 0.37).sin()).collect())
        .collect();
    let mean: Vec<f32> = (0..8)
        .map(|j| centers.iter().map(|c| c[j]).sum::<f32>() / 4.0)
        .collect();
    let grad = |i: usize, x: &[f32], g: &mut [f32]| {
        for ((gj, xj), cj) in g.iter_mut().zip(x).zip(&centers[i]) {
            *gj = xj - cj;
        }
    };
    let start = vec![0.0f32; 8];
    let identity = compress::Identity;
    let mut gd = Ef21::new(&identity, 4, &start, RngSeed::from_u64(0)).unwrap();
    let mut x = start.clone();
    for _ in 0..50 {
        gd.step(0.3, grad).unwrap();
        let avg: Vec<f32> = (0..8)
            .map(|j| (0..4).map(|i| x[j] - centers[i][j]).sum::<f32>() / 4.0)
            .collect();
        for (xj, aj) in x.iter_mut().zip(&avg) {
            *xj -= 0.3 * aj;
        }
    }
    for (a, b) in gd.x().iter().zip(&x) {
        assert!((a - b).abs() < 1e-5, "{:?} vs {x:?}", gd.x());
    }
    let topk = compress::TopK { density: 0.25 };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut c = Ef21::new(&topk, 4, &start, RngSeed::from_u64(0)).unwrap();
            for _ in 0..600 {
                c.step(0.3, grad).unwrap();
            }
            (c.x().to_vec(), c.bits_sent())
        })
    };
    let (x1, sent) = run(1);
    assert_eq!(bits(&x1), bits(&run(4).0));
    for (a, b) in x1.iter().zip(&mean) {
        assert!((a - b).abs() < 1e-4, "{x1:?} vs {mean:?}");
    }
    assert_eq!(sent, 600 * 4 * 2 * 64);
    // A non-finite gradient is reported and not applied.
    let mut c = Ef21::new(&topk, 2, &start, RngSeed::from_u64(0)).unwrap();
    let e = c
        .step(0.1, |i, _, g| g.fill(if i == 1 { f32::NAN } else { 1.0 }))
        .unwrap_err();
    assert!(e.to_string().contains("worker 1"), "{e}");
    assert_eq!(c.x(), &start[..]);
    assert!(c.worker_estimate(0).iter().all(|&v| v == 0.0));
}

fn sgd(momentum: f64, nesterov: bool) -> OptimizerBox {
    let p = ParamMap::new()
        .with("momentum", momentum)
        .with("nesterov", nesterov);
    new(mosaic_plugin_optim_basic::plugin_module(), "sgd", &p)
}

/// DiLoCo's orchestration with plain SGD inside (H = 3) and SGD + Nesterov outside, over 3
/// workers with f_i = ½‖x − cᵢ‖², against the rounds written out by hand; then the same
/// bits on 1 and 3 threads.
#[test]
fn diloco_rounds_match_the_algorithm() {
    let centers = [[1.0f32, -1.0], [0.5, 2.0], [-2.0, 0.0]];
    let grad = |i: usize, _: u64, x: &[f32], g: &mut [f32]| {
        for j in 0..2 {
            g[j] = x[j] - centers[i][j];
        }
    };
    let build = || {
        let inner = (0..3)
            .map(|_| Driver::flat(sgd(0.0, false), 2, 0.1, LrSchedule::Constant).unwrap())
            .collect();
        let outer = Driver::flat(sgd(0.9, true), 2, 0.7, LrSchedule::Constant).unwrap();
        DiLoCo::new(inner, outer, &[0.0, 0.0], 3).unwrap()
    };
    let mut d = build();
    let (mut theta, mut b) = ([0.0f32; 2], [0.0f32; 2]);
    for round in 0..20 {
        d.round(grad).unwrap();
        let mut delta = [0.0f32; 2];
        for c in &centers {
            let mut w = theta;
            for _ in 0..3 {
                for j in 0..2 {
                    w[j] -= 0.1 * (w[j] - c[j]);
                }
            }
            for j in 0..2 {
                delta[j] += theta[j] - w[j];
            }
        }
        for j in 0..2 {
            let dj = delta[j] / 3.0;
            b[j] = if round == 0 { dj } else { 0.9 * b[j] + dj };
            theta[j] -= 0.7 * (dj + 0.9 * b[j]);
        }
        assert_eq!(bits(d.params()), bits(&theta), "round {round}");
    }
    let threaded = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| {
            let mut d = build();
            for _ in 0..20 {
                d.round(grad).unwrap();
            }
            d.params().to_vec()
        });
    assert_eq!(bits(&threaded), bits(d.params()));
    // It settles at the average of the workers' minimisers.
    for _ in 0..300 {
        d.round(grad).unwrap();
    }
    let mean = [-0.5f32 / 3.0, 1.0 / 3.0];
    assert!((d.params()[0] - mean[0]).abs() < 1e-3 && (d.params()[1] - mean[1]).abs() < 1e-3);
}

/// The `diloco` plugin is DiLoCo with one worker: `adamw` (optim-basic) inside and `sgd` with
/// Nesterov momentum outside, bit for bit.
#[test]
fn diloco_plugin_is_a_single_worker() {
    let problem = Problem::parse("lsq:4x3").unwrap();
    let h = 5u64;
    let params = ParamMap::new().with("inner_steps", h as i64);
    let mut driver = Driver::new(
        ours("diloco", &params),
        &[("w", &[4, 3])],
        0.01,
        LrSchedule::Constant,
    )
    .unwrap();
    let mut x = problem.start();
    let mut g = vec![0.0; 12];
    for _ in 0..(8 * h) {
        problem.grad(&x, &mut g);
        driver.step(&mut [Param::new(&mut x, &g)]).unwrap();
    }
    let adamw = new(
        mosaic_plugin_optim_basic::plugin_module(),
        "adamw",
        &ParamMap::new(),
    );
    let inner = vec![Driver::flat(adamw, 12, 0.01, LrSchedule::Constant).unwrap()];
    let outer = Driver::flat(sgd(0.9, true), 12, 0.7, LrSchedule::Constant).unwrap();
    let mut d = DiLoCo::new(inner, outer, &problem.start(), h as usize).unwrap();
    for _ in 0..8 {
        d.round(|_, _, x, g| problem.grad(x, g)).unwrap();
    }
    assert_eq!(bits(&x), bits(d.params()));
}
