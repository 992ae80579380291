use proptest::prelude::*;

use super::*;
use crate::shared::projection::channels;
use crate::testing::{cases, hyper_betas, hyper_bool, hyper_f64, problem, replay};

fn from_case(case: &crate::testing::Case) -> AdamP {
    AdamP {
        betas: hyper_betas(case, (0.9, 0.999)),
        weight_decay: hyper_f64(case, "weight_decay", 0.0),
        nesterov: hyper_bool(case, "nesterov", false),
        ..AdamP::default()
    }
}

/// Every trajectory of `papers.json` (pytorch-optimizer's AdamP), within 1e-4 relative.
#[test]
fn matches_pytorch_optimizer_trajectories() {
    for case in cases("adamp") {
        let opt = from_case(&case);
        let lr = hyper_f64(&case, "lr", 1e-3);
        let shape = problem(&case.problem).shape();
        let n = shape.iter().product::<u64>() as usize;
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        let (dx, dl) = replay(&case, |x, g, t| {
            let state = AdamPState {
                exp_avg: &mut m,
                exp_avg_sq: &mut v,
            };
            opt.update(x, g, channels(&shape), state, t, lr);
        });
        assert!(
            dx < 1e-4 && dl < 1e-4,
            "{}: iterate {dx:e}, loss {dl:e}",
            case.problem
        );
    }
}

/// A hand-checked first step on a 1-D group: m = 0.1 g, v = 0.001 g², the bias-corrected
/// update is sign(g) · |g| / (|g| + ε/√(1-β₂)) ≈ sign(g), times lr.
#[test]
fn first_step_is_a_signed_learning_rate() {
    let opt = AdamP::default();
    let (mut m, mut v) = ([0.0f32; 2], [0.0f32; 2]);
    let mut w = [1.0f32, -2.0];
    let g = [0.5f32, -4.0];
    opt.update(
        &mut w,
        &g,
        None,
        AdamPState {
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
        },
        1,
        0.1,
    );
    assert_eq!(m, [0.05, -0.4]);
    assert!((v[0] - 0.00025).abs() < 1e-10 && (v[1] - 0.016).abs() < 1e-9);
    assert!(
        (w[0] - 0.9).abs() < 1e-6 && (w[1] + 1.9).abs() < 1e-6,
        "{w:?}"
    );
}

/// Loss of a scale-invariant function f(W) = ⟨A, W⟩ / ‖W‖: its gradient is orthogonal to W.
fn scale_invariant_grad(a: &[f32], w: &[f32]) -> Vec<f32> {
    let nw = crate::shared::matrix::norm(w);
    let dot: f32 = a.iter().zip(w).map(|(x, y)| x * y).sum();
    a.iter()
        .zip(w)
        .map(|(ai, wi)| ai / nw - dot * wi / (nw * nw * nw))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On a scale-invariant weight the applied update is orthogonal to the weight (so the
    /// norm grows only to second order), whatever the moments accumulated before.
    #[test]
    fn update_is_orthogonal_on_scale_invariant_weights(
        w in prop::collection::vec(-2.0f32..2.0, 12),
        a in prop::collection::vec(-1.0f32..1.0, 12),
        m0 in prop::collection::vec(-0.5f32..0.5, 12),
        v0 in prop::collection::vec(0.0f32..0.5, 12),
        nesterov in any::<bool>(),
    ) {
        prop_assume!(crate::shared::matrix::norm(&w) > 0.5);
        let g = scale_invariant_grad(&a, &w);
        prop_assume!(crate::shared::matrix::norm(&g) > 1e-3);
        let opt = AdamP { nesterov, ..AdamP::default() };
        let (mut m, mut v) = (m0.clone(), v0.clone());
        let mut w1 = w.clone();
        opt.update(&mut w1, &g, Some(3), AdamPState { exp_avg: &mut m, exp_avg_sq: &mut v }, 5, 0.01);
        let dw: Vec<f32> = w1.iter().zip(&w).map(|(a, b)| a - b).collect();
        let dot: f32 = dw.iter().zip(&w).map(|(a, b)| a * b).sum();
        let scale = crate::shared::matrix::norm(&dw) * crate::shared::matrix::norm(&w);
        prop_assert!(dot.abs() <= 1e-4 * scale + 1e-9, "⟨Δw, w⟩ = {dot}, ‖Δw‖‖w‖ = {scale}");
    }
}

/// Weights whose gradient is aligned with them are not projected: AdamP is Adam there.
#[test]
fn aligned_gradients_leave_adam_unchanged() {
    let opt = AdamP::default();
    let w0 = [1.0f32, 2.0, 3.0, 4.0];
    let g = [1.0f32, 2.0, 3.0, 4.0];
    let (mut m, mut v) = ([0.0f32; 4], [0.0f32; 4]);
    let mut w = w0;
    opt.update(
        &mut w,
        &g,
        Some(2),
        AdamPState {
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
        },
        1,
        0.1,
    );
    let (mut m1, mut v1) = ([0.0f32; 4], [0.0f32; 4]);
    let mut flat = w0;
    opt.update(
        &mut flat,
        &g,
        None,
        AdamPState {
            exp_avg: &mut m1,
            exp_avg_sq: &mut v1,
        },
        1,
        0.1,
    );
    assert_eq!(w, flat);
}
