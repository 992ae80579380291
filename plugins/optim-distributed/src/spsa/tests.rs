use mosaic_optim::distributed::zeroth_order::{replay, ReplicaSet};

use super::*;

fn half_sq(x: &[f32]) -> Result<f64, RError> {
    Ok(x.iter().map(|&v| 0.5 * f64::from(v) * f64::from(v)).sum())
}

/// The mean of `k` one-byte estimates ĝ z at x (each from its own step seed), and the 6σ
/// bound per coordinate from the exact variance of ĝ zᵢ plus the rounding's.
fn mean_estimate(opt: &Spsa, x: &[f32], k: u64, var: impl Fn(usize) -> f64) {
    let mut sum = vec![0.0f64; x.len()];
    let mut scratch = vec![0.0f32; x.len()];
    let mut z = vec![0.0f32; x.len()];
    let mut out = Vec::new();
    for t in 0..k {
        out.clear();
        let round = Round {
            replica: 0,
            step: t + 1,
            seed: RngSeed::from_u64(5).derive(t),
        };
        opt.estimate(x, &[], round, &mut half_sq, &mut scratch, &mut out)
            .unwrap();
        let m = out[0];
        opt.fill(opt.perturbation(m.seed, 0), &mut z);
        for (s, zi) in sum.iter_mut().zip(&z) {
            *s += opt.dequantize(m.byte) * f64::from(*zi);
        }
    }
    let rounding = (opt.clip / 127.0).powi(2) / 4.0;
    for (i, (s, &xi)) in sum.iter().zip(x).enumerate() {
        let mean = s / k as f64;
        let sd = ((var(i) + rounding) / k as f64).sqrt();
        assert!(
            (mean - f64::from(xi)).abs() <= 6.0 * sd,
            "coordinate {i}: {mean} vs {xi} (σ {sd})"
        );
    }
}

/// SPSA's mean estimate approaches ∇(½‖x‖²) = x: 20 000 one-byte estimates are within 6σ
/// of x in every coordinate, for Gaussian (Var ĝzᵢ = ‖x‖² + xᵢ²) and Rademacher
/// (‖x‖² − xᵢ²) perturbations. (False-alarm rate of the bound: about 2e-9 per coordinate.)
#[test]
fn mean_estimate_approaches_the_gradient() {
    let x = [1.0f32, -2.0, 0.5, 3.0];
    let norm2: f64 = x.iter().map(|v| f64::from(*v).powi(2)).sum();
    let gauss = Spsa {
        eps: 1e-2,
        clip: 30.0,
        ..Spsa::default()
    };
    mean_estimate(&gauss, &x, 20_000, |i| norm2 + f64::from(x[i]).powi(2));
    let rade = Spsa {
        distribution: Distribution::Rademacher,
        ..gauss
    };
    mean_estimate(&rade, &x, 20_000, |i| norm2 - f64::from(x[i]).powi(2));
}

/// A hand-checked step with Rademacher perturbations on ½‖x‖²: ĝ = zᵀx exactly (central
/// difference of a quadratic), its byte is ⌊127 ĝ/c⌋ or ⌈·⌉, and x ← x − γ (c b/127) z.
#[test]
fn hand_checked_step() {
    let opt = Spsa {
        distribution: Distribution::Rademacher,
        clip: 8.0,
        eps: 0.5,
        ..Spsa::default()
    };
    let x = [1.0f32, 2.0, -1.0];
    let mut scratch = [0.0f32; 3];
    let mut out = Vec::new();
    let round = Round {
        replica: 0,
        step: 1,
        seed: RngSeed::from_u64(1),
    };
    opt.estimate(&x, &[], round, &mut half_sq, &mut scratch, &mut out)
        .unwrap();
    let mut z = [0.0f32; 3];
    opt.fill(opt.perturbation(out[0].seed, 0), &mut z);
    assert!(z.iter().all(|v| v.abs() == 1.0));
    let g: f64 = z.iter().zip(&x).map(|(a, b)| f64::from(a * b)).sum();
    let r = 127.0 * g / 8.0;
    let b = f64::from(out[0].byte as i8);
    assert!(b == r.floor() || b == r.ceil(), "byte {b} for 127ĝ/c = {r}");
    let mut y = x;
    let mut s = [0.0f32; 3];
    opt.apply(&mut y, &mut [], &out, 0.1, &mut s);
    for i in 0..3 {
        let want = x[i] - (0.1 * b * 8.0 / 127.0) as f32 * z[i];
        assert!((y[i] - want).abs() < 1e-6, "{y:?}");
    }
}

fn replica_loss(i: usize, x: &[f32]) -> Result<f64, RError> {
    // Replica i's data: ½‖x − cᵢ‖², cᵢ = (i, −i, ...)/4.
    Ok(x.iter()
        .enumerate()
        .map(|(j, &v)| {
            let c = (i as f64) * if j % 2 == 0 { 0.25 } else { -0.25 };
            0.5 * (f64::from(v) - c).powi(2)
        })
        .sum())
}

/// N replicas replaying the same ordered messages are bit-identical, a replica replaying the
/// log from the start reaches the same bits, and the bits do not depend on the thread count.
#[test]
fn replicas_replaying_the_same_messages_are_bit_identical() {
    for opt in [
        Spsa {
            n_samples: 2,
            weight_decay: 0.01,
            ..Spsa::default()
        },
        Spsa {
            seed_pool: 16,
            importance: true,
            pool_seed: 3,
            ..Spsa::default()
        },
    ] {
        let start: Vec<f32> = (0..10).map(|i| (i as f32 * 0.3).cos()).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut set = ReplicaSet::new(opt, 4, &start, RngSeed::from_u64(11)).unwrap();
                for _ in 0..60 {
                    set.step(0.05, replica_loss).unwrap();
                    assert!(set.in_sync());
                }
                set
            })
        };
        let (one, four) = (run(1), run(4));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(one.params(0)), bits(four.params(3)));
        assert_eq!(one.log(), four.log());
        assert_eq!(one.log()[0].1.len(), 4 * opt.n_samples);
        let mut late = start.clone();
        let mut state = vec![0.0; opt.state_len()];
        replay(&opt, &mut late, &mut state, one.log());
        assert_eq!(bits(&late), bits(one.params(0)));
        assert_eq!(bits(&state), bits(one.state(2)));
        // They also made progress on the average loss.
        let avg = |x: &[f32]| (0..4).map(|i| replica_loss(i, x).unwrap()).sum::<f64>();
        assert!(
            avg(one.params(0)) < avg(&start),
            "{} vs {}",
            avg(one.params(0)),
            avg(&start)
        );
        if opt.seed_pool > 0 {
            assert!(one.log().iter().flat_map(|(_, m)| m).all(|m| m.seed < 16));
            let counts: f32 = one.state(0)[16..].iter().sum();
            assert_eq!(counts, 60.0 * 4.0);
        }
    }
}
