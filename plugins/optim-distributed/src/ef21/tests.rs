use mosaic_optim::problems::Problem;

use super::*;
use crate::compress::{Identity, TopK};

fn run(opt: &Ef21, problem: &Problem, steps: u64, lr: f64) -> Vec<f32> {
    let mut x = problem.start();
    let mut g = vec![0.0; x.len()];
    let mut e = vec![0.0; x.len()];
    let mut m = Compressed::default();
    for t in 1..=steps {
        problem.grad(&x, &mut g);
        opt.update(&mut x, &g, &mut e, lr, RngSeed::from_u64(t), &mut m);
    }
    x
}

/// With the identity compressor EF21 is gradient descent: the estimate is the gradient (to
/// the rounding of g + (∇f − g)), so the iterates agree to 1e-6 relative over 200 steps.
#[test]
fn identity_compressor_is_gradient_descent() {
    for spec in ["quadratic:6", "lsq:4x3", "rosenbrock"] {
        let problem = Problem::parse(spec).unwrap();
        let lr = if spec == "rosenbrock" { 1e-4 } else { 0.05 };
        let got = run(&Ef21::new(Box::new(Identity)), &problem, 200, lr);
        let mut x = problem.start();
        let mut g = vec![0.0; x.len()];
        for _ in 0..200 {
            problem.grad(&x, &mut g);
            for (xi, gi) in x.iter_mut().zip(&g) {
                *xi -= lr as f32 * gi;
            }
        }
        let top = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        for (a, b) in got.iter().zip(&x) {
            assert!(
                (a - b).abs() <= 1e-6 * top.max(1e-3),
                "{spec}: {got:?} vs {x:?}"
            );
        }
    }
}

/// A hand-checked first two steps with Top-1 on a 3-vector: g₁ = C(∇f) keeps the largest
/// entry; the second correction keeps the largest entry of ∇f − g₁.
#[test]
fn hand_checked_top_1() {
    let opt = Ef21::new(Box::new(TopK { density: 0.34 }));
    let mut x = [0.0f32; 3];
    let mut e = [0.0f32; 3];
    let mut m = Compressed::default();
    opt.update(
        &mut x,
        &[1.0, -4.0, 2.0],
        &mut e,
        0.5,
        RngSeed::from_u64(0),
        &mut m,
    );
    assert_eq!(e, [0.0, -4.0, 0.0]);
    assert_eq!(x, [0.0, 2.0, 0.0]);
    // ∇f − g = (1, 0, 2): keep 2.
    opt.update(
        &mut x,
        &[1.0, -4.0, 2.0],
        &mut e,
        0.5,
        RngSeed::from_u64(0),
        &mut m,
    );
    assert_eq!(e, [0.0, -4.0, 2.0]);
    assert_eq!(x, [0.0, 4.0, -1.0]);
}

/// EF21 with Top-1 of 6 still converges on a strongly convex quadratic (the estimate
/// catches up with the gradient: error feedback), to the closed-form minimiser 0.
#[test]
fn top_k_converges_on_a_quadratic() {
    let problem = Problem::parse("quadratic:6").unwrap();
    let x = run(
        &Ef21::new(Box::new(TopK { density: 1.0 / 6.0 })),
        &problem,
        3000,
        0.02,
    );
    assert!(problem.loss(&x) < 1e-6, "loss {}", problem.loss(&x));
}
