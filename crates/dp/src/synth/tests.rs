use proptest::prelude::*;

use super::evolution::resample_for_tests;
use super::*;
use crate::noise::{DiscreteGaussian, NoNoise, Noise};
use crate::{PrivacyEvent, RngSeed};

fn line(xs: &[f64]) -> Points {
    Points::new(1, xs.to_vec()).unwrap()
}

// ---------------------------------------------------------------- Fréchet distance

#[test]
fn frechet_distance_hand_checked_cases() {
    // 1-D: (μ₁ − μ₂)² + (s₁ − s₂)² with sample standard deviations.
    let a = line(&[0.0, 2.0]); // mean 1, variance 2
    let b = line(&[4.0, 12.0]); // mean 8, variance 32
    let want = 49.0 + (2f64.sqrt() - 32f64.sqrt()).powi(2);
    assert!((frechet_distance(&a, &b).unwrap() - want).abs() < 1e-12);
    // Identical sets: 0. Scaling a set by s about its mean: tr Σ (1 − s)².
    let pts = Points::from_rows(&[
        vec![0.0, 1.0, 2.0],
        vec![1.0, -1.0, 0.5],
        vec![3.0, 0.0, -2.0],
        vec![-1.0, 2.0, 1.0],
        vec![0.5, 0.5, 0.5],
    ])
    .unwrap();
    assert!(frechet_distance(&pts, &pts).unwrap() < 1e-12);
    let fit = GaussianFit::of(&pts).unwrap();
    let mean = fit.mean().to_vec();
    let scaled = Points::new(
        3,
        pts.rows()
            .flat_map(|r| {
                r.iter()
                    .zip(&mean)
                    .map(|(x, m)| m + 3.0 * (x - m))
                    .collect::<Vec<_>>()
            })
            .collect(),
    )
    .unwrap();
    let trace: f64 = (0..3).map(|i| fit.covariance()[i * 3 + i]).sum();
    let got = frechet_distance(&pts, &scaled).unwrap();
    assert!(
        (got - 4.0 * trace).abs() < 1e-10 * trace,
        "{got} vs {}",
        4.0 * trace
    );
}

#[test]
fn gaussian_fit_is_numpy_cov() {
    let fit = GaussianFit::of(
        &Points::from_rows(&[vec![1.0, 2.0], vec![3.0, 6.0], vec![5.0, 4.0]]).unwrap(),
    )
    .unwrap();
    assert_eq!(fit.mean(), &[3.0, 4.0]);
    // numpy.cov(rowvar=False): [[4, 2], [2, 4]].
    assert_eq!(fit.covariance(), &[4.0, 2.0, 2.0, 4.0]);
}

// ---------------------------------------------------------------- histogram

#[test]
fn votes_go_to_the_nearest_candidates() {
    let candidates = line(&[0.0, 10.0, 20.0]);
    let private = line(&[1.0, 2.0, 9.0, 11.0, 5.0, 30.0]);
    // 5.0 is equidistant from 0 and 10: the lower index wins.
    assert_eq!(
        nearest_neighbor_votes(&private, &candidates, 1).unwrap(),
        vec![3.0, 2.0, 1.0]
    );
    assert_eq!(
        nearest_neighbor_votes(&private, &candidates, 2).unwrap(),
        vec![4.0, 6.0, 2.0]
    );
    assert_eq!(
        nearest_neighbor_votes(&private, &candidates, 3).unwrap(),
        vec![6.0; 3]
    );
}

#[test]
fn threshold_is_subtracted_and_clipped_at_zero() {
    let candidates = line(&[0.0, 10.0, 20.0]);
    let private = line(&[0.0, 0.0, 0.0, 0.0, 0.0, 10.0]);
    let h = dp_nearest_neighbor_histogram(&private, &candidates, 1, 2.0, &mut NoNoise).unwrap();
    assert_eq!(h, vec![3.0, 0.0, 0.0]);
}

#[test]
fn histogram_noise_has_variance_noise_multiplier_squared_times_k() {
    // One private point, 20,000 candidates far away except the first k: each count gets
    // independent noise of variance (z √k)².
    let (z, k, n) = (1.7, 3usize, 20_000usize);
    let candidates = line(&(0..n).map(|i| i as f64).collect::<Vec<_>>());
    let private = line(&[0.0]);
    let mut noise = DiscreteGaussian::new(z * (k as f64).sqrt(), RngSeed::from_u64(11)).unwrap();
    let votes = nearest_neighbor_votes(&private, &candidates, k).unwrap();
    let h = dp_nearest_neighbor_histogram(&private, &candidates, k, 0.0, &mut noise).unwrap();
    // Without a threshold, max(h, 0) halves the mass of zero-count bins: E[max(Y, 0)²] = σ²/2.
    let var = h[k..].iter().map(|v| v * v).sum::<f64>() / (n - k) as f64 * 2.0;
    let sigma2 = z * z * k as f64;
    // Sample second moment of half-normal squares: relative sd √(2·... ) ≤ √(5/n); 6 sd.
    assert!(
        (var / sigma2 - 1.0).abs() < 6.0 * (5.0 / n as f64).sqrt(),
        "{var} vs {sigma2}"
    );
    assert_eq!(votes.iter().sum::<f64>(), k as f64);
}

// ---------------------------------------------------------------- Private Evolution

fn setup(seed: u64) -> (Points, Points, GaussianGenerator) {
    let mixture = GaussianMixture::random(3, 2, 4.0, 0.5, RngSeed::from_u64(seed)).unwrap();
    let private = mixture.sample(1000, RngSeed::from_u64(100 + seed));
    let fresh = mixture.sample(300, RngSeed::from_u64(200 + seed));
    let generator =
        GaussianGenerator::new(vec![0.0; 2], 4.0, RngSeed::from_u64(300 + seed)).unwrap();
    (private, fresh, generator)
}

fn run(seed: u64, noise: Noise) -> (f64, Vec<f64>, Evolution) {
    let (private, _, mut generator) = setup(seed);
    let config = EvolutionConfig::new(300, 10, 1.0, 0.1, noise);
    let mut distances = Vec::new();
    let evolution = private_evolution(&private, &mut generator, &config, &mut |_, s| {
        distances.push(frechet_distance(&private, s).unwrap())
    })
    .unwrap();
    let last = frechet_distance(&private, &evolution.synthetic).unwrap();
    (last, distances, evolution)
}

#[test]
fn without_noise_evolution_converges_to_the_private_distribution() {
    for seed in 0..3 {
        let (private, fresh, _) = setup(seed);
        let baseline = frechet_distance(&private, &fresh).unwrap();
        let (last, distances, evolution) = run(seed, Noise::Off);
        assert_eq!(distances.len(), 11);
        assert!(evolution.event.is_none() && evolution.events().is_empty());
        // From a broad random start to within a few sampling-noise levels of the private set.
        assert!(last < 0.05 * distances[0], "seed {seed}: {distances:?}");
        assert!(
            last < 4.0 * baseline + 0.05,
            "seed {seed}: {last} vs baseline {baseline}"
        );
    }
}

#[test]
fn more_noise_means_a_worse_distance() {
    // Averaged over three data sets; seeds fixed, so the outcome is deterministic.
    let mean = |noise: &dyn Fn(u64) -> Noise| (0..3).map(|s| run(s, noise(s)).0).sum::<f64>() / 3.0;
    let loud = mean(&|s| Noise::gaussian_fixed_seed(100.0, s));
    let medium = mean(&|s| Noise::gaussian_fixed_seed(30.0, s));
    let quiet = mean(&|s| Noise::gaussian_fixed_seed(3.0, s));
    assert!(loud > medium && medium > quiet, "{loud} {medium} {quiet}");
}

#[test]
fn a_run_is_t_gaussian_events() {
    let (_, _, evolution) = run(0, Noise::gaussian_fixed_seed(2.5, 7));
    let events = evolution.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, 10);
    let PrivacyEvent::Gaussian {
        noise_multiplier, ..
    } = events[0].0
    else {
        panic!("{:?}", events[0]);
    };
    assert!(noise_multiplier <= 2.5 * (1.0 + 1e-7) && noise_multiplier > 2.5 * (1.0 - 1e-6));
    assert!(evolution.iterations.iter().all(|it| it.candidates_kept > 0));
}

#[test]
fn same_seeds_same_synthetic_data() {
    let a = run(1, Noise::gaussian_fixed_seed(2.0, 9)).2.synthetic;
    let b = run(1, Noise::gaussian_fixed_seed(2.0, 9)).2.synthetic;
    let c = run(1, Noise::gaussian_fixed_seed(2.0, 10)).2.synthetic;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn lookahead_and_several_votes_run() {
    let (private, _, mut generator) = setup(2);
    let mut config = EvolutionConfig::new(100, 4, 1.0, 0.2, Noise::gaussian_fixed_seed(1.0, 1));
    config.lookahead = 3;
    config.nearest_neighbors = 2;
    config.threshold = 1.0;
    let run = private_evolution(&private, &mut generator, &config, &mut |_, _| {}).unwrap();
    assert_eq!(run.synthetic.len(), 100);
    let want = iteration_event(&config.noise, 2).unwrap();
    assert_eq!(run.event, want);
}

#[test]
fn errors_name_the_parameter() {
    let (private, _, mut generator) = setup(0);
    let base = EvolutionConfig::new(50, 3, 1.0, 0.1, Noise::Off);
    let check = |config: EvolutionConfig, generator: &mut GaussianGenerator, needle: &str| {
        let e = private_evolution(&private, generator, &config, &mut |_, _| {}).unwrap_err();
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    };
    check(
        EvolutionConfig {
            population: 0,
            ..base.clone()
        },
        &mut generator,
        "`population`",
    );
    check(
        EvolutionConfig {
            variation_degrees: vec![],
            ..base.clone()
        },
        &mut generator,
        "`iterations`",
    );
    check(
        EvolutionConfig {
            variation_degrees: vec![1.0, -1.0],
            ..base.clone()
        },
        &mut generator,
        "`variation_degrees`",
    );
    check(
        EvolutionConfig {
            threshold: -1.0,
            ..base.clone()
        },
        &mut generator,
        "`threshold`",
    );
    check(
        EvolutionConfig {
            nearest_neighbors: 0,
            ..base.clone()
        },
        &mut generator,
        "`nearest_neighbors`",
    );
    check(
        EvolutionConfig {
            nearest_neighbors: 51,
            ..base.clone()
        },
        &mut generator,
        "`nearest_neighbors`",
    );
    check(
        EvolutionConfig {
            noise: Noise::gaussian_fixed_seed(0.0, 1),
            ..base.clone()
        },
        &mut generator,
        "`noise_multiplier`",
    );
    let mut wrong_dim = GaussianGenerator::new(vec![0.0; 3], 1.0, RngSeed::from_u64(0)).unwrap();
    check(base.clone(), &mut wrong_dim, "`private`");
    assert!(Points::new(0, vec![])
        .unwrap_err()
        .to_string()
        .contains("`dim`"));
    assert!(Points::new(2, vec![1.0])
        .unwrap_err()
        .to_string()
        .contains("`points`"));
    let e = Points::new(2, vec![1.0, 2.0, f64::NAN, 0.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("point 1"), "{e}");
    assert!(GaussianFit::of(&line(&[1.0]))
        .unwrap_err()
        .to_string()
        .contains("`points`"));
    assert!(GaussianGenerator::new(vec![0.0], 0.0, RngSeed::from_u64(0))
        .unwrap_err()
        .to_string()
        .contains("`scale`"));
    assert!(generator
        .variation(&line(&[1.0, 2.0]), 1.0)
        .unwrap_err()
        .to_string()
        .contains("`points`"));
    let two = Points::new(2, vec![0.0; 4]).unwrap();
    assert!(generator
        .variation(&two, -1.0)
        .unwrap_err()
        .to_string()
        .contains("`variation_degree`"));
    assert!(frechet_distance(&two, &line(&[1.0, 2.0]))
        .unwrap_err()
        .to_string()
        .contains("`dim`"));
    assert!(
        GaussianMixture::random(0, 2, 1.0, 1.0, RngSeed::from_u64(0))
            .unwrap_err()
            .to_string()
            .contains("`components`")
    );
    assert!(
        GaussianMixture::random(2, 2, 1.0, 0.0, RngSeed::from_u64(0))
            .unwrap_err()
            .to_string()
            .contains("`std`")
    );
}

#[test]
fn schedules() {
    assert_eq!(geometric_schedule(1.0, 0.01, 3), vec![1.0, 0.1, 0.01]);
    assert_eq!(geometric_schedule(0.0, 1.0, 3), vec![0.0, 0.5, 1.0]);
    assert_eq!(geometric_schedule(2.0, 1.0, 1), vec![2.0]);
    assert!(geometric_schedule(2.0, 1.0, 0).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_private_point_casts_k_votes(
        private in proptest::collection::vec(-10.0f64..10.0, 1..40),
        candidates in proptest::collection::vec(-10.0f64..10.0, 1..20),
        k in 1usize..5,
    ) {
        let k = k.min(candidates.len());
        let votes = nearest_neighbor_votes(&line(&private), &line(&candidates), k).unwrap();
        prop_assert_eq!(votes.iter().sum::<f64>(), (private.len() * k) as f64);
        prop_assert!(votes.iter().all(|v| *v <= private.len() as f64));
    }

    #[test]
    fn frechet_distance_is_symmetric_non_negative_and_zero_on_itself(
        a in proptest::collection::vec(-5.0f64..5.0, 6..30),
        b in proptest::collection::vec(-5.0f64..5.0, 6..30),
    ) {
        let a = Points::new(3, a[..a.len() / 3 * 3].to_vec()).unwrap();
        let b = Points::new(3, b[..b.len() / 3 * 3].to_vec()).unwrap();
        let ab = frechet_distance(&a, &b).unwrap();
        let ba = frechet_distance(&b, &a).unwrap();
        // Rank-deficient covariances (fewer points than dimensions) put eigenvalues at the
        // rounding level, whose square roots are ~1e-8 of the trace.
        let scale = [&a, &b]
            .iter()
            .map(|p| {
                let c = GaussianFit::of(p).unwrap();
                (0..3).map(|i| c.covariance()[i * 3 + i]).sum::<f64>()
            })
            .sum::<f64>()
            .max(1.0);
        prop_assert!(ab >= 0.0);
        prop_assert!((ab - ba).abs() <= 1e-6 * scale, "{} vs {}", ab, ba);
        prop_assert!(frechet_distance(&a, &a).unwrap() <= 1e-6 * scale);
    }

    #[test]
    fn resampling_picks_only_weighted_candidates(
        weights in proptest::collection::vec(prop_oneof![Just(0.0), 0.0f64..5.0], 1..30),
        seed in any::<u64>(),
    ) {
        let chosen = resample_for_tests(&weights, 200, seed);
        prop_assert_eq!(chosen.len(), 200);
        let total: f64 = weights.iter().sum();
        for i in chosen {
            prop_assert!(i < weights.len());
            if total > 0.0 {
                // A weight quantized to 0 (below 2^-33 of the total) is never picked.
                prop_assert!(weights[i] / total >= 2f64.powi(-33));
            }
        }
    }
}
