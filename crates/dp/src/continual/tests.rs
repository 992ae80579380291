use proptest::prelude::*;

use super::*;
use crate::noise::Noise;
use crate::PrivacyEvent;

/// Deterministic small integers in [-5, 5] (exact in every float sum we form).
fn integer_stream(len: usize, dim: usize, salt: u64) -> Vec<Vec<f64>> {
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 11) as f64 - 5.0
                })
                .collect()
        })
        .collect()
}

fn prefix_sums(stream: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut acc = vec![0.0; stream[0].len()];
    stream
        .iter()
        .map(|x| {
            acc.iter_mut().zip(x).for_each(|(a, v)| *a += v);
            acc.clone()
        })
        .collect()
}

// ---------------------------------------------------------------- tree counter

#[test]
fn tree_without_noise_returns_exact_prefix_sums() {
    for horizon in [1, 2, 7, 8, 9, 100] {
        for dim in [1, 3] {
            let stream = integer_stream(horizon, dim, horizon as u64);
            let exact = prefix_sums(&stream);
            for estimator in [TreeEstimator::Plain, TreeEstimator::Honaker] {
                let mut tree = TreeCounter::new(horizon, dim, 1.0, estimator, Noise::Off).unwrap();
                for (t, x) in stream.iter().enumerate() {
                    assert_eq!(tree.push(x).unwrap(), exact[t], "T {horizon} t {t}");
                }
                assert!(tree.event().is_none());
            }
        }
    }
}

/// The blocks (h, j), covering ((j-1)2^h, j 2^h], that complete by T, as columns per element.
fn tree_columns(horizon: usize) -> Vec<Vec<(usize, usize)>> {
    let levels = TreeCounter::levels(horizon);
    (1..=horizon)
        .map(|t| {
            (0..levels)
                .map(|h| (h, t.div_ceil(1 << h)))
                .filter(|&(h, j)| j << h <= horizon)
                .collect()
        })
        .collect()
}

#[test]
fn each_element_touches_at_most_ceil_log2_t_plus_one_blocks() {
    for horizon in 1..=300usize {
        let levels = TreeCounter::levels(horizon);
        let ceil_log2 = (usize::BITS - (horizon - 1).leading_zeros()) as usize;
        assert!(levels <= ceil_log2 + 1, "T = {horizon}");
        let touched = tree_columns(horizon).iter().map(Vec::len).max().unwrap();
        // The sensitivity √L is attained: some element lies in L released blocks.
        assert_eq!(touched, levels, "T = {horizon}");
    }
}

#[test]
fn honaker_variances_have_the_closed_form() {
    let v = TreeCounter::step_variances(1 << 10, TreeEstimator::Honaker);
    for h in 0..10 {
        let expected = (1u64 << h) as f64 / ((1u64 << (h + 1)) - 1) as f64;
        assert!((v[(1 << h) - 1] - expected).abs() < 1e-15, "h = {h}");
    }
    let plain = TreeCounter::step_variances(1 << 10, TreeEstimator::Plain);
    assert_eq!(plain[6], 3.0); // t = 7 = 0b111
    assert!(v.iter().zip(&plain).all(|(h, p)| h <= p));
}

/// Per step, the sample variance over `samples` independent coordinates and trials of the
/// released prefix sums of a zero stream, divided by the expected variance. Each ratio has
/// standard error √(2 / samples).
fn variance_ratios<F>(horizon: usize, dim: usize, trials: u64, mut run: F) -> Vec<f64>
where
    F: FnMut(u64) -> (Vec<Vec<f64>>, Vec<f64>),
{
    let mut sums = vec![0.0; horizon];
    let mut expected = Vec::new();
    for trial in 0..trials {
        let (released, exp) = run(trial);
        expected = exp;
        for (t, r) in released.iter().enumerate() {
            sums[t] += r.iter().map(|v| v * v).sum::<f64>();
        }
    }
    let n = (trials as usize * dim) as f64;
    sums.iter().zip(&expected).map(|(s, e)| s / n / e).collect()
}

#[test]
fn tree_variances_match_their_formulas() {
    let (horizon, dim, trials, z) = (32usize, 100usize, 40u64, 1.3);
    let levels = TreeCounter::levels(horizon) as f64;
    // 6 standard errors of a sample variance from 4,000 draws: false alarm < 1e-8 per step.
    let tol = 6.0 * (2.0 / (trials as f64 * dim as f64)).sqrt();
    for estimator in [TreeEstimator::Plain, TreeEstimator::Honaker] {
        let ratios = variance_ratios(horizon, dim, trials, |trial| {
            let noise = Noise::gaussian_fixed_seed(z, 1000 + trial);
            let mut tree = TreeCounter::new(horizon, dim, 1.0, estimator, noise).unwrap();
            let sigma2 = tree.node_std_dev().powi(2);
            assert!((sigma2 / (z * z * levels) - 1.0).abs() < 1e-6);
            let released = (0..horizon)
                .map(|_| tree.push(&vec![0.0; dim]).unwrap())
                .collect();
            let expected = TreeCounter::step_variances(horizon, estimator)
                .iter()
                .map(|v| v * sigma2)
                .collect();
            (released, expected)
        });
        for (t, r) in ratios.iter().enumerate() {
            assert!(
                (r - 1.0).abs() < tol,
                "{estimator:?} t = {}: ratio {r}",
                t + 1
            );
        }
    }
}

#[test]
fn tree_event_is_one_gaussian_at_the_noise_multiplier() {
    let tree = TreeCounter::new(
        100,
        10,
        2.0,
        TreeEstimator::Plain,
        Noise::gaussian_fixed_seed(1.5, 3),
    )
    .unwrap();
    let Some(PrivacyEvent::Gaussian {
        noise_multiplier, ..
    }) = tree.event()
    else {
        panic!("expected a Gaussian event");
    };
    // Slightly below 1.5: the grid rounding is charged to the sensitivity.
    assert!(noise_multiplier <= 1.5 * (1.0 + 1e-7) && noise_multiplier > 1.5 * (1.0 - 1e-6));
}

#[test]
fn same_seed_same_releases() {
    let run = |seed| {
        let mut tree = TreeCounter::new(
            16,
            2,
            1.0,
            TreeEstimator::Honaker,
            Noise::gaussian_fixed_seed(1.0, seed),
        )
        .unwrap();
        let mf = BandedToeplitz::square_root(4).unwrap();
        let mut c = mf
            .counter(
                16,
                2,
                1.0,
                Participation::single(),
                Noise::gaussian_fixed_seed(1.0, seed),
            )
            .unwrap();
        (0..16)
            .map(|_| {
                (
                    tree.push(&[1.0, 2.0]).unwrap(),
                    c.push(&[1.0, 2.0]).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

// ---------------------------------------------------------------- matrix mechanism

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn mf_without_noise_returns_exact_prefix_sums() {
    let horizon = 64;
    let optimal = BandedToeplitz::optimal(horizon, 8, &OptimizeOptions::default())
        .unwrap()
        .0;
    for mf in [
        BandedToeplitz::identity(),
        BandedToeplitz::square_root(5).unwrap(),
        BandedToeplitz::square_root(horizon).unwrap(),
        optimal,
    ] {
        let stream = integer_stream(horizon, 3, 9);
        let exact = prefix_sums(&stream);
        let mut counter = mf
            .counter(horizon, 3, 1.0, Participation::single(), Noise::Off)
            .unwrap();
        for (t, x) in stream.iter().enumerate() {
            let got = counter.push(x).unwrap();
            for (g, e) in got.iter().zip(&exact[t]) {
                assert!(
                    close(*g, *e, 1e-10),
                    "bands {} t {t}: {g} vs {e}",
                    mf.bands()
                );
            }
        }
        assert!(counter.event().is_none());
    }
}

/// `C` as a dense row-major `T × T` matrix.
fn dense(mf: &BandedToeplitz, horizon: usize) -> Vec<Vec<f64>> {
    let c = mf.coefs();
    (0..horizon)
        .map(|i| {
            (0..horizon)
                .map(|j| {
                    if i >= j && i - j < c.len() {
                        c[i - j]
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn decoder_and_error_match_a_dense_computation() {
    let horizon = 24;
    for mf in [
        BandedToeplitz::new(vec![1.0, 0.4, -0.2]).unwrap(),
        BandedToeplitz::square_root(6).unwrap(),
        BandedToeplitz::optimal(horizon, 4, &OptimizeOptions::default())
            .unwrap()
            .0,
    ] {
        // B = A C⁻¹ by dense back-substitution on each row of A: B C = A.
        let c = dense(&mf, horizon);
        let mut b = vec![vec![0.0; horizon]; horizon];
        for (i, row) in b.iter_mut().enumerate() {
            for j in (0..horizon).rev() {
                let a = if j <= i { 1.0 } else { 0.0 };
                let acc: f64 = (j + 1..horizon).map(|k| row[k] * c[k][j]).sum();
                row[j] = (a - acc) / c[j][j];
            }
        }
        let rows: Vec<f64> = b
            .iter()
            .map(|r| r.iter().map(|v| v * v).sum::<f64>())
            .collect();
        let v = mf.step_variances(horizon);
        for t in 0..horizon {
            assert!(
                close(rows[t], v[t], 1e-12),
                "row {t}: {} vs {}",
                rows[t],
                v[t]
            );
        }
        let max_col: f64 = (0..horizon)
            .map(|j| c.iter().map(|r| r[j] * r[j]).sum::<f64>())
            .fold(0.0, f64::max);
        let mean = rows.iter().sum::<f64>() / horizon as f64 * max_col;
        let got = mf
            .error(horizon, Participation::single(), Objective::Mean)
            .unwrap();
        assert!(close(got, mean, 1e-12), "{got} vs {mean}");
        let got = mf
            .error(horizon, Participation::single(), Objective::Max)
            .unwrap();
        assert!(close(got, rows[horizon - 1] * max_col, 1e-12));
    }
}

/// Brute force: the largest ‖Σ_{i∈π} s_i C e_i‖² over participation patterns π (at most `k`
/// steps, gaps ≥ `b`) and signs s ∈ {±1}^π, with `columns[i]` the i-th column.
fn brute_force_sensitivity_squared(columns: &[Vec<f64>], k: usize, b: usize) -> f64 {
    fn go(
        columns: &[Vec<f64>],
        k: usize,
        b: usize,
        next: usize,
        acc: &mut Vec<f64>,
        best: &mut f64,
    ) {
        *best = best.max(acc.iter().map(|v| v * v).sum());
        if k == 0 {
            return;
        }
        for i in next..columns.len() {
            for sign in [1.0, -1.0] {
                acc.iter_mut()
                    .zip(&columns[i])
                    .for_each(|(a, c)| *a += sign * c);
                go(columns, k - 1, b, i + b, acc, best);
                acc.iter_mut()
                    .zip(&columns[i])
                    .for_each(|(a, c)| *a -= sign * c);
            }
        }
    }
    let mut best = 0.0;
    let mut acc = vec![0.0; columns[0].len()];
    go(columns, k, b, 0, &mut acc, &mut best);
    best
}

fn toeplitz_columns(mf: &BandedToeplitz, horizon: usize) -> Vec<Vec<f64>> {
    let c = dense(mf, horizon);
    (0..horizon)
        .map(|j| c.iter().map(|r| r[j]).collect())
        .collect()
}

#[test]
fn mf_sensitivity_matches_brute_force_over_participation_patterns() {
    let horizon = 9;
    let strategies = [
        BandedToeplitz::identity(),
        BandedToeplitz::square_root(3).unwrap(),
        BandedToeplitz::square_root(9).unwrap(),
        BandedToeplitz::new(vec![1.0, 0.7, 0.7, 0.1]).unwrap(),
        // Mixed signs: exact only while bands <= min_separation.
        BandedToeplitz::new(vec![1.0, -0.5, 0.3]).unwrap(),
        BandedToeplitz::new(vec![0.5, 0.9, 0.2]).unwrap(),
        BandedToeplitz::optimal(horizon, 3, &OptimizeOptions::default())
            .unwrap()
            .0,
    ];
    for mf in &strategies {
        let columns = toeplitz_columns(mf, horizon);
        let monotone =
            mf.coefs().iter().all(|c| *c >= 0.0) && mf.coefs().windows(2).all(|w| w[1] <= w[0]);
        for k in 1..=3 {
            for b in 1..=4 {
                let brute = brute_force_sensitivity_squared(&columns, k, b);
                let p = Participation::multi_epoch(k, b);
                let got = mf.sensitivity(horizon, p).unwrap().powi(2);
                if monotone || mf.bands() <= b || k == 1 {
                    assert!(
                        close(got, brute, 1e-12),
                        "{:?} k {k} b {b}: {got} vs brute force {brute}",
                        mf.coefs()
                    );
                } else {
                    assert!(got >= brute * (1.0 - 1e-12), "{:?} k {k} b {b}", mf.coefs());
                }
            }
        }
    }
}

#[test]
fn tree_sensitivity_matches_brute_force() {
    for horizon in [1usize, 5, 8, 11] {
        let levels = TreeCounter::levels(horizon);
        let blocks: Vec<(usize, usize)> = (0..levels)
            .flat_map(|h| (1..=horizon >> h).map(move |j| (h, j)))
            .collect();
        let columns: Vec<Vec<f64>> = tree_columns(horizon)
            .iter()
            .map(|col| {
                blocks
                    .iter()
                    .map(|blk| if col.contains(blk) { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        let brute = brute_force_sensitivity_squared(&columns, 1, 1);
        assert_eq!(brute, levels as f64, "T = {horizon}");
    }
}

#[test]
fn mf_variances_match_their_formulas() {
    let (horizon, dim, trials, z) = (24usize, 100usize, 40u64, 0.8);
    let mf = BandedToeplitz::optimal(horizon, 4, &OptimizeOptions::default())
        .unwrap()
        .0;
    let p = Participation::multi_epoch(3, 8);
    let sens = mf.sensitivity(horizon, p).unwrap();
    let tol = 6.0 * (2.0 / (trials as f64 * dim as f64)).sqrt();
    let ratios = variance_ratios(horizon, dim, trials, |trial| {
        let mut counter = mf
            .counter(
                horizon,
                dim,
                1.0,
                p,
                Noise::gaussian_fixed_seed(z, 500 + trial),
            )
            .unwrap();
        let sigma2 = counter.stream().noise_std_dev().powi(2);
        assert!((sigma2 / (z * z * sens * sens) - 1.0).abs() < 1e-6);
        let released = (0..horizon)
            .map(|_| counter.push(&vec![0.0; dim]).unwrap())
            .collect();
        let expected = mf
            .step_variances(horizon)
            .iter()
            .map(|v| v * sigma2)
            .collect();
        (released, expected)
    });
    for (t, r) in ratios.iter().enumerate() {
        assert!((r - 1.0).abs() < tol, "t = {}: ratio {r}", t + 1);
    }
}

#[test]
fn stream_noise_is_correlated_as_c_inverse_says() {
    // Var(u_t) = σ² Σ_{n≤t} r_n² for the per-step noise u_t = (C⁻¹ z)_t.
    let (horizon, dim, trials) = (12usize, 200usize, 20u64);
    let mf = BandedToeplitz::square_root(3).unwrap();
    let r = mf.inverse_coefs(horizon);
    let tol = 6.0 * (2.0 / (trials as f64 * dim as f64)).sqrt();
    let mut sums = vec![0.0; horizon];
    let mut sigma2 = 0.0;
    for trial in 0..trials {
        let mut s = mf
            .stream(
                horizon,
                dim,
                1.0,
                Participation::single(),
                Noise::gaussian_fixed_seed(1.0, trial),
            )
            .unwrap();
        sigma2 = s.noise_std_dev().powi(2);
        for sum in sums.iter_mut() {
            let mut x = vec![0.0; dim];
            s.privatize(&mut x).unwrap();
            *sum += x.iter().map(|v| v * v).sum::<f64>();
        }
    }
    let mut acc = 0.0;
    for t in 0..horizon {
        acc += r[t] * r[t];
        let ratio = sums[t] / (trials as f64 * dim as f64) / (sigma2 * acc);
        assert!((ratio - 1.0).abs() < tol, "t = {t}: {ratio}");
    }
}

#[test]
fn mf_beats_the_tree_at_equal_privacy() {
    // Both are one Gaussian mechanism at the same noise multiplier, hence equally private;
    // errors in units of (noise_multiplier · l2_bound)².
    for horizon in [64usize, 256, 1024] {
        let levels = TreeCounter::levels(horizon) as f64;
        let tree = TreeCounter::step_variances(horizon, TreeEstimator::Honaker)
            .iter()
            .sum::<f64>()
            / horizon as f64
            * levels;
        let (mf, report) =
            BandedToeplitz::optimal(horizon, horizon / 4, &OptimizeOptions::default()).unwrap();
        let mf_err = mf
            .error(horizon, Participation::single(), Objective::Mean)
            .unwrap();
        assert!(mf_err < tree, "T {horizon}: MF {mf_err} vs tree {tree}");
        assert!(report.loss <= report.initial_loss);
    }
}

#[test]
fn optimiser_hand_checked_cases() {
    // One band: C = I, B = A, mean error (T + 1) / 2.
    let (mf, report) = BandedToeplitz::optimal(10, 1, &OptimizeOptions::default()).unwrap();
    assert_eq!(mf.coefs(), &[1.0]);
    assert!(report.converged);
    assert!(close(report.loss, 5.5, 1e-15));
    // More bands never hurt, and the optimum beats its square-root start.
    let mut last = f64::INFINITY;
    for bands in [1, 2, 4, 8, 16, 32] {
        let (mf, report) = BandedToeplitz::optimal(32, bands, &OptimizeOptions::default()).unwrap();
        assert!(report.converged, "bands {bands}: {report:?}");
        assert!(report.loss <= last * (1.0 + 1e-9), "bands {bands}");
        assert!(report.loss <= report.initial_loss * (1.0 + 1e-12));
        assert!(close(
            mf.coefs().iter().map(|c| c * c).sum::<f64>(),
            1.0,
            1e-12
        ));
        last = report.loss;
    }
    // Max-error objective: the optimum's last-step error is at most the square root's.
    let opts = OptimizeOptions {
        objective: Objective::Max,
        ..Default::default()
    };
    let (mf, _) = BandedToeplitz::optimal(32, 32, &opts).unwrap();
    let sqrt = BandedToeplitz::square_root(32).unwrap();
    let single = Participation::single();
    assert!(
        mf.error(32, single, Objective::Max).unwrap()
            <= sqrt.error(32, single, Objective::Max).unwrap() * (1.0 + 1e-9)
    );
}

#[test]
fn multi_epoch_optimum_uses_its_sensitivity() {
    let horizon = 64;
    let p = Participation::multi_epoch(4, 16);
    let opts = OptimizeOptions {
        participation: p,
        ..Default::default()
    };
    let (mf, report) = BandedToeplitz::optimal(horizon, 16, &opts).unwrap();
    assert!(report.converged, "{report:?}");
    let sens = mf.sensitivity(horizon, p).unwrap();
    // Orthogonal columns: k full columns of unit norm.
    assert!(close(sens * sens, 4.0, 1e-12));
    // Correlated noise beats independent noise (bands = 1) in the same setting.
    let identity = BandedToeplitz::identity()
        .error(horizon, p, Objective::Mean)
        .unwrap();
    assert!(report.loss < identity, "{} vs {identity}", report.loss);
}

#[test]
fn errors_name_the_parameter() {
    let opts = OptimizeOptions::default();
    let name =
        |r: Result<(BandedToeplitz, Convergence), crate::DpError>| r.unwrap_err().to_string();
    assert!(name(BandedToeplitz::optimal(0, 1, &opts)).contains("`horizon`"));
    assert!(name(BandedToeplitz::optimal(8, 0, &opts)).contains("`bands`"));
    assert!(name(BandedToeplitz::optimal(8, 9, &opts)).contains("`bands`"));
    let multi = OptimizeOptions {
        participation: Participation::multi_epoch(2, 3),
        ..opts
    };
    assert!(name(BandedToeplitz::optimal(8, 4, &multi)).contains("`bands`"));
    let zero_k = OptimizeOptions {
        participation: Participation::multi_epoch(0, 3),
        ..opts
    };
    assert!(name(BandedToeplitz::optimal(8, 2, &zero_k)).contains("`max_participations`"));
    let zero_b = OptimizeOptions {
        participation: Participation::multi_epoch(1, 0),
        ..opts
    };
    assert!(name(BandedToeplitz::optimal(8, 2, &zero_b)).contains("`min_separation`"));
    assert!(BandedToeplitz::new(vec![])
        .unwrap_err()
        .to_string()
        .contains("`bands`"));
    assert!(BandedToeplitz::new(vec![0.0, 1.0])
        .unwrap_err()
        .to_string()
        .contains("`coefs`"));
    assert!(BandedToeplitz::new(vec![1.0, f64::NAN])
        .unwrap_err()
        .to_string()
        .contains("`coefs`"));
    assert!(BandedToeplitz::square_root(0)
        .unwrap_err()
        .to_string()
        .contains("`bands`"));

    let mf = BandedToeplitz::square_root(3).unwrap();
    let single = Participation::single();
    let err = |r: Result<MfStream, crate::DpError>| r.unwrap_err().to_string();
    assert!(err(mf.stream(0, 1, 1.0, single, Noise::Off)).contains("`horizon`"));
    assert!(err(mf.stream(2, 1, 1.0, single, Noise::Off)).contains("`bands`"));
    assert!(err(mf.stream(8, 0, 1.0, single, Noise::Off)).contains("`dim`"));
    assert!(err(mf.stream(8, 1, 0.0, single, Noise::Off)).contains("`l2_bound`"));
    assert!(
        err(mf.stream(8, 1, 1.0, single, Noise::gaussian_fixed_seed(-1.0, 0)))
            .contains("`noise_multiplier`")
    );
    let mut s = mf.stream(3, 2, 1.0, single, Noise::Off).unwrap();
    assert!(s
        .privatize(&mut [1.0])
        .unwrap_err()
        .to_string()
        .contains("`x`"));
    let e = s.privatize(&mut [1.0, f64::NAN]).unwrap_err().to_string();
    assert!(e.contains("`x`") && e.contains("position 1"), "{e}");
    for _ in 0..3 {
        s.privatize(&mut [1.0, 1.0]).unwrap();
    }
    assert!(s
        .privatize(&mut [1.0, 1.0])
        .unwrap_err()
        .to_string()
        .contains("`step`"));

    let tree = |h, d, l2| TreeCounter::new(h, d, l2, TreeEstimator::Plain, Noise::Off);
    assert!(tree(0, 1, 1.0)
        .unwrap_err()
        .to_string()
        .contains("`horizon`"));
    assert!(tree(4, 0, 1.0).unwrap_err().to_string().contains("`dim`"));
    assert!(tree(4, 1, f64::NAN)
        .unwrap_err()
        .to_string()
        .contains("`l2_bound`"));
    let mut t = tree(1, 1, 1.0).unwrap();
    assert!(t.push(&[1.0, 2.0]).unwrap_err().to_string().contains("`x`"));
    t.push(&[1.0]).unwrap();
    assert!(t.push(&[1.0]).unwrap_err().to_string().contains("`step`"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn tree_counts_exactly_without_noise(
        horizon in 1usize..70,
        dim in 1usize..4,
        salt in any::<u64>(),
        honaker in any::<bool>(),
    ) {
        let estimator = if honaker { TreeEstimator::Honaker } else { TreeEstimator::Plain };
        let stream = integer_stream(horizon, dim, salt);
        let exact = prefix_sums(&stream);
        let mut tree = TreeCounter::new(horizon, dim, 1.0, estimator, Noise::Off).unwrap();
        for (t, x) in stream.iter().enumerate() {
            prop_assert_eq!(tree.push(x).unwrap(), exact[t].clone());
        }
    }

    #[test]
    fn mf_counts_exactly_without_noise(
        horizon in 1usize..60,
        raw in proptest::collection::vec(0.0f64..1.0, 1..8),
        salt in any::<u64>(),
    ) {
        // Non-negative, non-increasing coefficients with c_0 = 1: a stable inverse.
        let mut coefs = raw.clone();
        coefs.sort_by(|a, b| b.partial_cmp(a).unwrap());
        coefs.insert(0, 1.0);
        coefs.truncate(horizon);
        let mf = BandedToeplitz::new(coefs).unwrap();
        let stream = integer_stream(horizon, 2, salt);
        let exact = prefix_sums(&stream);
        let mut counter = mf.counter(horizon, 2, 1.0, Participation::single(), Noise::Off).unwrap();
        for (t, x) in stream.iter().enumerate() {
            let got = counter.push(x).unwrap();
            for (g, e) in got.iter().zip(&exact[t]) {
                // The decode's rounding grows with the inverse's coefficients.
                let scale: f64 = mf.inverse_coefs(horizon).iter().map(|r| r.abs()).sum::<f64>();
                prop_assert!((g - e).abs() <= 1e-12 * scale * horizon as f64 * 10.0, "{} vs {}", g, e);
            }
        }
    }

    #[test]
    fn mf_sensitivity_bounds_brute_force(
        horizon in 2usize..8,
        raw in proptest::collection::vec(-1.0f64..1.0, 0..4),
        k in 1usize..4,
        b in 1usize..4,
    ) {
        let mut coefs = vec![1.0];
        coefs.extend(raw);
        coefs.truncate(horizon);
        let mf = BandedToeplitz::new(coefs).unwrap();
        let brute = brute_force_sensitivity_squared(&toeplitz_columns(&mf, horizon), k, b);
        let got = mf.sensitivity(horizon, Participation::multi_epoch(k, b)).unwrap().powi(2);
        prop_assert!(got >= brute * (1.0 - 1e-12), "{} < {}", got, brute);
        if mf.bands() <= b || k == 1 {
            prop_assert!((got - brute).abs() <= 1e-12 * brute.max(1.0));
        }
    }
}
