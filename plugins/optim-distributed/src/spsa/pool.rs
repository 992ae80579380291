//! FedKSeed's finite seed pool (Qin et al., "Federated Full-Parameter Tuning of Billion-Sized
//! Language Models with Communication Cost under 18 Kilobytes", ICML 2024, §4): perturbations
//! come from `K` candidate seeds, so a message names a seed by its index. With
//! probability-differentiated sampling (FedKSeed-Pro), seed `k` is drawn with probability
//! `softmax(â)ₖ`, where `aₖ` is the mean of `|clip(ĝ, −c, c)|` over the projected gradients
//! `ĝ` seen for seed `k` (its history starts with one 0, the reference code's initial value)
//! and `â = (a − min a)/(max a − min a + 1e-10)`: directions that moved the loss more are
//! explored more. The statistics (`K` sums, `K` counts) are updated by every applied
//! message, so all replicas hold the same probabilities.

/// The sampling probabilities from the statistics `sums` and `counts` (length `K`).
pub fn probabilities(sums: &[f32], counts: &[f32], importance: bool) -> Vec<f64> {
    let k = sums.len();
    if !importance || k == 0 {
        return vec![1.0 / k.max(1) as f64; k];
    }
    let amps: Vec<f64> = sums
        .iter()
        .zip(counts)
        .map(|(&s, &c)| f64::from(s) / (f64::from(c) + 1.0))
        .collect();
    let (lo, hi) = amps
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &a| (l.min(a), h.max(a)));
    let norm: Vec<f64> = amps.iter().map(|a| (a - lo) / (hi - lo + 1e-10)).collect();
    let top = norm.iter().cloned().fold(f64::MIN, f64::max);
    let exps: Vec<f64> = norm.iter().map(|a| (a - top).exp()).collect();
    let z: f64 = exps.iter().sum();
    exps.iter().map(|e| e / z).collect()
}

/// The index drawn by the uniform `u ∈ [0, 1)` from `probs` (inverse CDF).
pub fn draw(probs: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    probs.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_follow_the_amplitudes() {
        let uniform = probabilities(&[0.0; 4], &[0.0; 4], true);
        assert!(uniform.iter().all(|p| (p - 0.25).abs() < 1e-12));
        // Seed 1 saw large projected gradients: amplitudes (0, 1, 0.5) normalise to
        // (0, 1, 0.5), softmax → e^0, e^1, e^0.5 over their sum.
        let p = probabilities(&[0.0, 2.0, 1.0], &[1.0, 1.0, 1.0], true);
        let z = 1.0 + 1f64.exp() + 0.5f64.exp();
        assert!(
            (p[1] - 1f64.exp() / z).abs() < 1e-9 && (p[0] - 1.0 / z).abs() < 1e-9,
            "{p:?}"
        );
        assert_eq!(probabilities(&[0.0, 2.0], &[1.0, 1.0], false), [0.5, 0.5]);
        assert_eq!(draw(&[0.2, 0.5, 0.3], 0.1), 0);
        assert_eq!(draw(&[0.2, 0.5, 0.3], 0.69), 1);
        assert_eq!(draw(&[0.2, 0.5, 0.3], 0.999_999), 2);
    }
}
