//! AdamP/SGDP's projection (Heo et al., "AdamP: Slowing Down the Slowdown for Momentum
//! Optimizers on Scale-invariant Weights", ICLR 2021, Algorithm 1 and §3.3).
//!
//! A weight is taken to be scale invariant when its gradient is nearly orthogonal to it: the
//! cosine between the gradient and the weight, per output channel (each row of the
//! `shape[0] × rest` view) and then for the whole layer, is below `delta / sqrt(d)` (`d` the
//! view's row length). The first view that passes the test has the radial part of the update
//! removed row by row: `u ← u - (w/‖w‖)·⟨w/‖w‖, u⟩`, with `‖w‖ + eps` in the division as in
//! pytorch-optimizer, and the weight decay of that step is scaled by `wd_ratio`.
//! One-dimensional groups (biases, gains) are never projected.

use mosaic_abi::{AlgorithmDescriptor, ParamSpec};

/// Add the parameters AdamP and SGDP share: weight decay (and how it is applied), the test's
/// threshold, the decay ratio on projected weights, Nesterov momentum.
pub fn add_specs(d: AlgorithmDescriptor) -> AlgorithmDescriptor {
    [
        ParamSpec::f64("weight_decay", Some(0.0), "Weight decay λ.").min(0.0),
        ParamSpec::bool(
            "weight_decouple",
            Some(true),
            "Decoupled weight decay; false adds λw to the gradient.",
        ),
        ParamSpec::bool(
            "fixed_decay",
            Some(false),
            "Decoupled decay not scaled by the learning rate.",
        ),
        ParamSpec::f64(
            "delta",
            Some(0.1),
            "Cosine threshold δ of the scale-invariance test (δ/√d).",
        )
        .min(0.0),
        ParamSpec::f64(
            "wd_ratio",
            Some(0.1),
            "Relative weight decay on projected (scale-invariant) weights.",
        )
        .range(0.0, 1.0),
        ParamSpec::bool("nesterov", Some(false), "Nesterov momentum."),
    ]
    .into_iter()
    .fold(d, AlgorithmDescriptor::param)
}

/// The multiplicative decay of a step: `1 − λ·γ·ratio` for decoupled decay (`1 − λ·ratio`
/// with `fixed_decay`), else 1. `(λ, weight_decouple, fixed_decay)`.
pub fn decay_factor(
    (weight_decay, decouple, fixed): (f64, bool, bool),
    lr: f64,
    ratio: f64,
) -> f32 {
    if decouple && weight_decay != 0.0 {
        let scale = if fixed { 1.0 } else { lr };
        (1.0 - weight_decay * scale * ratio) as f32
    } else {
        1.0
    }
}

/// The output channels of a weight of `shape` (its first dimension), or `None` for a
/// one-dimensional weight, which is never projected.
pub fn channels(shape: &[u64]) -> Option<usize> {
    (shape.len() > 1).then(|| shape[0] as usize)
}

/// The rows × row length of the view whose radial part is removed, or `None` when the weight
/// fails both tests (or is one-dimensional: `channels` is `None`).
pub fn scale_invariant_view(
    weight: &[f32],
    grad: &[f32],
    channels: Option<usize>,
    delta: f64,
    eps: f32,
) -> Option<(usize, usize)> {
    let n = weight.len();
    let channels = channels?.max(1);
    if n == 0 {
        return None;
    }
    for (rows, cols) in [(channels, n / channels), (1, n)] {
        let mut max_cos = 0.0f32;
        for r in 0..rows {
            let w = &weight[r * cols..(r + 1) * cols];
            let g = &grad[r * cols..(r + 1) * cols];
            let (mut dot, mut ww, mut gg) = (0.0f64, 0.0f64, 0.0f64);
            for (&wi, &gi) in w.iter().zip(g) {
                dot += f64::from(wi) * f64::from(gi);
                ww += f64::from(wi) * f64::from(wi);
                gg += f64::from(gi) * f64::from(gi);
            }
            // torch.nn.functional.cosine_similarity: each norm clamped below by eps.
            let denom =
                f64::from((ww.sqrt() as f32).max(eps)) * f64::from((gg.sqrt() as f32).max(eps));
            max_cos = max_cos.max((dot / denom).abs() as f32);
        }
        if f64::from(max_cos) < delta / (cols as f64).sqrt() {
            return Some((rows, cols));
        }
    }
    None
}

/// Apply an update `u` (given elementwise by `update(i, w_i)`, `w_i` the weight before the
/// step) to every parameter through `apply(&mut w_i, u_i)`, with the radial part removed per
/// row of `view` when it is `Some`. `update` must be a pure function of its arguments (it is
/// evaluated twice on projected rows).
pub fn apply_projected(
    weight: &mut [f32],
    view: Option<(usize, usize)>,
    eps: f32,
    mut update: impl FnMut(usize, f32) -> f32,
    mut apply: impl FnMut(&mut f32, f32),
) {
    let Some((rows, cols)) = view else {
        for (i, w) in weight.iter_mut().enumerate() {
            let u = update(i, *w);
            apply(w, u);
        }
        return;
    };
    for r in 0..rows {
        let range = r * cols..(r + 1) * cols;
        let row_norm = weight[range.clone()]
            .iter()
            .map(|&w| f64::from(w) * f64::from(w))
            .sum::<f64>()
            .sqrt() as f32
            + eps;
        let mut radial = 0.0f32;
        for i in range.clone() {
            radial += (weight[i] / row_norm) * update(i, weight[i]);
        }
        for i in range {
            let unit = weight[i] / row_norm;
            let u = update(i, weight[i]) - unit * radial;
            apply(&mut weight[i], u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dimensional_weights_are_never_projected() {
        assert_eq!(
            scale_invariant_view(&[1.0, 0.0], &[0.0, 1.0], channels(&[2]), 0.1, 1e-8),
            None
        );
    }

    #[test]
    fn orthogonal_gradients_select_the_channel_view() {
        // Rows (1, 0) and (0, 1) with gradients (0, 1) and (1, 0): cosines 0 < 0.1/√2.
        let w = [1.0, 0.0, 0.0, 1.0];
        let g = [0.0, 1.0, 1.0, 0.0];
        assert_eq!(
            scale_invariant_view(&w, &g, Some(2), 0.1, 1e-8),
            Some((2, 2))
        );
        // Aligned gradients fail both tests.
        assert_eq!(scale_invariant_view(&w, &w, Some(2), 0.1, 1e-8), None);
    }

    #[test]
    fn projected_update_has_no_radial_part() {
        let mut w = [3.0, 4.0, 1.0, -2.0];
        let u = [1.0, 1.0, 2.0, 0.5];
        let before = w;
        let mut applied = [0.0; 4];
        let mut k = 0;
        apply_projected(
            &mut w,
            Some((2, 2)),
            0.0,
            |i, _| u[i],
            |_, ui| {
                applied[k] = ui;
                k += 1;
            },
        );
        for r in 0..2 {
            let dot: f32 = (0..2).map(|j| before[r * 2 + j] * applied[r * 2 + j]).sum();
            assert!(dot.abs() < 1e-6, "row {r}: ⟨w, u⟩ = {dot}");
        }
        assert_eq!(w, before);
    }
}
