use super::*;
use crate::shared::projection::channels;
use crate::testing::{cases, hyper_bool, hyper_f64, problem, replay};

/// Every trajectory of `papers.json` (pytorch-optimizer's SGDP), within 1e-4 relative.
#[test]
fn matches_pytorch_optimizer_trajectories() {
    for case in cases("sgdp") {
        let opt = Sgdp {
            momentum: hyper_f64(&case, "momentum", 0.0),
            weight_decay: hyper_f64(&case, "weight_decay", 0.0),
            nesterov: hyper_bool(&case, "nesterov", false),
            ..Sgdp::default()
        };
        let lr = hyper_f64(&case, "lr", 1e-3);
        let shape = problem(&case.problem).shape();
        let mut b = vec![0.0; shape.iter().product::<u64>() as usize];
        let (dx, dl) = replay(&case, |x, g, _| {
            opt.update(x, g, channels(&shape), &mut b, lr)
        });
        assert!(
            dx < 1e-4 && dl < 1e-4,
            "{}: iterate {dx:e}, loss {dl:e}",
            case.problem
        );
    }
}

/// A hand-checked step: momentum 0.5 from b = (2, 0), gradient (1, -2), decoupled decay 0.1
/// on a 1-D group (no projection): b = (2, -2), w ← w (1 - 0.1·0.1/0.5) - 0.1 b.
#[test]
fn hand_checked_momentum_step() {
    let opt = Sgdp {
        momentum: 0.5,
        weight_decay: 0.1,
        ..Sgdp::default()
    };
    let mut b = [2.0f32, 0.0];
    let mut w = [1.0f32, 1.0];
    opt.update(&mut w, &[1.0, -2.0], None, &mut b, 0.1);
    assert_eq!(b, [2.0, -2.0]);
    assert!(
        (w[0] - (0.98 - 0.2)).abs() < 1e-6 && (w[1] - (0.98 + 0.2)).abs() < 1e-6,
        "{w:?}"
    );
}

/// On a matrix whose rows are orthogonal to their gradients the update keeps each row's
/// norm to first order: ⟨Δw_r, w_r⟩ = 0 per row.
#[test]
fn projected_rows_lose_their_radial_update() {
    let opt = Sgdp {
        momentum: 0.9,
        ..Sgdp::default()
    };
    let w0 = [1.0f32, 0.0, 0.0, 2.0];
    let g = [0.0f32, 1.0, 3.0, 0.0];
    let mut b = [0.5f32, 0.5, 0.5, 0.5];
    let mut w = w0;
    opt.update(&mut w, &g, Some(2), &mut b, 0.1);
    for r in 0..2 {
        let dot: f32 = (0..2)
            .map(|j| (w[2 * r + j] - w0[2 * r + j]) * w0[2 * r + j])
            .sum();
        assert!(dot.abs() < 1e-6, "row {r}: {dot}");
    }
}
