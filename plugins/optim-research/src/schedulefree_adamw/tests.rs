use super::*;
use crate::testing::{cases, floats, hyper_f64, problem, rel_diff, replay};

fn from_case(case: &crate::testing::Case) -> ScheduleFreeAdamW {
    ScheduleFreeAdamW {
        weight_decay: hyper_f64(case, "weight_decay", 0.0),
        r: hyper_f64(case, "r", 0.0),
        warmup_steps: hyper_f64(case, "warmup_steps", 0.0) as u64,
        ..ScheduleFreeAdamW::default()
    }
}

/// Every trajectory of `papers.json` (pytorch-optimizer's ScheduleFreeAdamW): the training
/// point y and the evaluation point x within 1e-4 relative.
#[test]
fn matches_pytorch_optimizer_trajectories() {
    for case in cases("schedulefree_adamw") {
        let opt = from_case(&case);
        let lr = hyper_f64(&case, "lr", 2.5e-3);
        let n = problem(&case.problem).shape().iter().product::<u64>() as usize;
        let (mut z, mut v) = (vec![0.0; n], vec![0.0; n]);
        let (mut weight_sum, mut lr_max) = (0.0, 0.0);
        let mut worst_eval = 0.0f64;
        let mut snaps = case.snapshots.iter().peekable();
        let (dx, dl) = replay(&case, |y, g, t| {
            let state = ScheduleFreeState {
                z: &mut z,
                exp_avg_sq: &mut v,
                max_exp_avg_sq: None,
                weight_sum: &mut weight_sum,
                lr_max: &mut lr_max,
            };
            opt.update(y, g, state, t, t > 1, lr);
            if snaps.peek().is_some_and(|s| s["step"].as_u64() == Some(t)) {
                let s = snaps.next().unwrap();
                let mut x = y.to_vec();
                opt.eval_point(&mut x, &z);
                worst_eval = worst_eval.max(rel_diff(&x, &floats(&s["eval"])));
            }
        });
        assert!(
            dx < 1e-4 && dl < 1e-4,
            "{}: iterate {dx:e}, loss {dl:e}",
            case.problem
        );
        assert!(
            worst_eval < 1e-4,
            "{}: evaluation point {worst_eval:e}",
            case.problem
        );
    }
}

/// A hand-checked first step: z = y₀, W = γ², c = 1, so y ← z - γ·(1 - 0)·u... with
/// β₁(1 - c) - 1 = -1: y₁ = y₀ - γ u and z₁ = y₀ - γ u, u = g/(|g| + ε) ≈ sign(g).
#[test]
fn first_step_moves_y_and_z_together() {
    let opt = ScheduleFreeAdamW::default();
    let mut y = [1.0f32, -1.0];
    let (mut z, mut v) = ([0.0f32; 2], [0.0f32; 2]);
    let (mut ws, mut lm) = (0.0, 0.0);
    let state = ScheduleFreeState {
        z: &mut z,
        exp_avg_sq: &mut v,
        max_exp_avg_sq: None,
        weight_sum: &mut ws,
        lr_max: &mut lm,
    };
    opt.update(&mut y, &[0.5, -2.0], state, 1, false, 0.1);
    assert!(
        (y[0] - 0.9).abs() < 1e-6 && (y[1] + 0.9).abs() < 1e-6,
        "{y:?}"
    );
    assert_eq!(y, z);
    assert_eq!((ws, lm), (0.1f64.powi(2), 0.1));
    // The evaluation point of y = z is that point.
    let mut x = y;
    opt.eval_point(&mut x, &z);
    assert_eq!(x, y);
}

/// On a quadratic, the evaluation point converges to the minimiser without any schedule.
#[test]
fn evaluation_point_converges_on_a_quadratic() {
    let opt = ScheduleFreeAdamW::default();
    let problem = problem("quadratic:4");
    let mut y = problem.start();
    let (mut z, mut v) = (vec![0.0; 4], vec![0.0; 4]);
    let (mut ws, mut lm) = (0.0, 0.0);
    let mut g = vec![0.0; 4];
    for t in 1..=3000 {
        problem.grad(&y, &mut g);
        let state = ScheduleFreeState {
            z: &mut z,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: None,
            weight_sum: &mut ws,
            lr_max: &mut lm,
        };
        opt.update(&mut y, &g, state, t, t > 1, 0.05);
    }
    let mut x = y.clone();
    opt.eval_point(&mut x, &z);
    assert!(problem.loss(&x) < 1e-4, "loss at x {}", problem.loss(&x));
}
