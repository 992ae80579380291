//! The RMSE table of docs/algorithms/banded-mf.md: prefix-sum error of the tree counter
//! (plain and Honaker) and of optimised banded Toeplitz factorizations at equal privacy (one
//! Gaussian mechanism at the same noise multiplier), from the closed forms and, as a check,
//! from real noisy runs.
//!
//! `cargo run --release -p mosaic-dp --example continual_rmse`

use mosaic_dp::continual::{
    BandedToeplitz, Objective, OptimizeOptions, Participation, TreeCounter, TreeEstimator,
};
use mosaic_dp::noise::Noise;

/// RMSE over the T prefix sums of noisy runs on a zero stream (`dim` independent coordinates,
/// `trials` runs), in units of the noise multiplier times the bound.
fn empirical<F: FnMut(u64) -> Vec<Vec<f64>>>(
    horizon: usize,
    dim: usize,
    trials: u64,
    mut run: F,
) -> f64 {
    let mut sum = 0.0;
    for trial in 0..trials {
        sum += run(trial).iter().flatten().map(|v| v * v).sum::<f64>();
    }
    (sum / (trials as f64 * dim as f64 * horizon as f64)).sqrt()
}

fn main() {
    let (dim, trials, z) = (16usize, 8u64, 1.0);
    println!("| T | tree | tree + Honaker | banded MF, 16 bands | banded MF, 64 bands | banded MF, T bands | tree / MF(T bands) |");
    println!("|---|---|---|---|---|---|---|");
    for horizon in [64usize, 256, 1024, 4096] {
        let levels = TreeCounter::levels(horizon) as f64;
        let tree = |e| {
            let v = TreeCounter::step_variances(horizon, e);
            (v.iter().sum::<f64>() / horizon as f64 * levels).sqrt()
        };
        let tree_run = |e| {
            empirical(horizon, dim, trials, |t| {
                let mut c =
                    TreeCounter::new(horizon, dim, 1.0, e, Noise::gaussian_fixed_seed(z, t))
                        .unwrap();
                (0..horizon)
                    .map(|_| c.push(&vec![0.0; dim]).unwrap())
                    .collect()
            })
        };
        let mut cells = vec![
            format!(
                "{:.3} ({:.3})",
                tree(TreeEstimator::Plain),
                tree_run(TreeEstimator::Plain)
            ),
            format!(
                "{:.3} ({:.3})",
                tree(TreeEstimator::Honaker),
                tree_run(TreeEstimator::Honaker)
            ),
        ];
        let mut full = 0.0;
        for bands in [16, 64, horizon] {
            let (mf, report) =
                BandedToeplitz::optimal(horizon, bands.min(horizon), &OptimizeOptions::default())
                    .unwrap();
            assert!(report.converged);
            let rmse = mf
                .error(horizon, Participation::single(), Objective::Mean)
                .unwrap()
                .sqrt();
            let run = empirical(horizon, dim, trials, |t| {
                let mut c = mf
                    .counter(
                        horizon,
                        dim,
                        1.0,
                        Participation::single(),
                        Noise::gaussian_fixed_seed(z, t),
                    )
                    .unwrap();
                (0..horizon)
                    .map(|_| c.push(&vec![0.0; dim]).unwrap())
                    .collect()
            });
            cells.push(format!("{rmse:.3} ({run:.3})"));
            full = rmse;
        }
        cells.push(format!("{:.2}x", tree(TreeEstimator::Honaker) / full));
        println!("| {horizon} | {} |", cells.join(" | "));
    }
    println!();
    println!("Multi-epoch, T = 1024 steps, k epochs of 1024/k steps (min separation 1024/k):");
    println!();
    println!("| k | independent noise (1 band) | banded MF, 1024/k bands | ratio |");
    println!("|---|---|---|---|");
    for k in [2usize, 4, 16] {
        let horizon = 1024;
        let p = Participation::multi_epoch(k, horizon / k);
        let opts = OptimizeOptions {
            participation: p,
            ..Default::default()
        };
        let (mf, report) = BandedToeplitz::optimal(horizon, horizon / k, &opts).unwrap();
        assert!(report.converged);
        let banded = mf.error(horizon, p, Objective::Mean).unwrap().sqrt();
        let identity = BandedToeplitz::identity()
            .error(horizon, p, Objective::Mean)
            .unwrap()
            .sqrt();
        println!(
            "| {k} | {identity:.3} | {banded:.3} | {:.2}x |",
            identity / banded
        );
    }
}
