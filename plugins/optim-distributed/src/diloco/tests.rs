use mosaic_optim::problems::Problem;

use super::*;

struct Owned {
    m: Vec<f32>,
    v: Vec<f32>,
    anchor: Vec<f32>,
    b: Vec<f32>,
    outer: i64,
}

impl Owned {
    fn new(n: usize) -> Owned {
        Owned {
            m: vec![0.0; n],
            v: vec![0.0; n],
            anchor: vec![0.0; n],
            b: vec![0.0; n],
            outer: 0,
        }
    }

    fn step(&mut self, opt: &DiLoCo, x: &mut [f32], g: &[f32], t: u64, lr: f64) {
        let state = DiLoCoState {
            exp_avg: &mut self.m,
            exp_avg_sq: &mut self.v,
            anchor: &mut self.anchor,
            outer_momentum: &mut self.b,
            outer_steps: &mut self.outer,
        };
        opt.update(x, g, state, t, t > 1, lr);
    }
}

/// A hand-checked round: H = 2 inner AdamW steps with zero decay from x = 1 on ½x² move x by
/// about −lr each (Adam's first steps are ±lr); Δ = 1 − x₂; the first outer step sets b = Δ
/// and the Nesterov update u = Δ + μΔ, so x = 1 − η(1 + μ)Δ.
#[test]
fn hand_checked_round() {
    let opt = DiLoCo {
        inner_steps: 2,
        weight_decay: 0.0,
        ..DiLoCo::default()
    };
    let mut st = Owned::new(1);
    let mut x = [1.0f32];
    st.step(&opt, &mut x, &[1.0], 1, 0.01);
    let x1 = x[0];
    assert!((x1 - 0.99).abs() < 1e-6);
    st.step(&opt, &mut x, &[x1], 2, 0.01);
    // The inner iterate before the outer step is what AdamW alone gives.
    let (m, v) = (0.9 * 0.1 + 0.1 * x1, 0.999 * 0.001 + 0.001 * x1 * x1);
    let inner = x1 - (0.01 / 0.19) as f32 * m / ((v / 0.001999f32).sqrt() + 1e-8);
    let delta = 1.0 - inner;
    assert!((st.b[0] - delta).abs() < 1e-7, "{} vs {delta}", st.b[0]);
    let want = 1.0 - 0.7 * (1.0 + 0.9) * delta;
    assert!(
        (x[0] - want).abs() < 1e-6 && x[0] == st.anchor[0],
        "{} vs {want}",
        x[0]
    );
    assert_eq!(st.outer, 1);
}

/// With an outer step that copies the inner parameters (η = 1, μ = 0), DiLoCo is AdamW.
#[test]
fn unit_outer_step_is_adamw() {
    let problem = Problem::parse("lsq:4x3").unwrap();
    let opt = DiLoCo {
        inner_steps: 3,
        outer_lr: 1.0,
        outer_momentum: 0.0,
        ..DiLoCo::default()
    };
    let plain = DiLoCo {
        inner_steps: u64::MAX,
        ..opt
    };
    let (mut x, mut y) = (problem.start(), problem.start());
    let (mut a, mut b) = (Owned::new(12), Owned::new(12));
    let mut g = vec![0.0; 12];
    for t in 1..=60 {
        problem.grad(&x, &mut g);
        a.step(&opt, &mut x, &g, t, 0.01);
        problem.grad(&y, &mut g);
        b.step(&plain, &mut y, &g, t, 0.01);
    }
    for (p, q) in x.iter().zip(&y) {
        assert!((p - q).abs() <= 1e-5 * q.abs().max(1.0), "{x:?} vs {y:?}");
    }
}

/// DiLoCo reaches the least-squares fit's neighbourhood faster in loss than it started, and
/// the outer momentum keeps it stable over many rounds.
#[test]
fn converges_on_a_quadratic() {
    let problem = Problem::parse("quadratic:8").unwrap();
    let opt = DiLoCo {
        inner_steps: 10,
        ..DiLoCo::default()
    };
    let mut st = Owned::new(8);
    let mut x = problem.start();
    let mut g = vec![0.0; 8];
    for t in 1..=1000 {
        problem.grad(&x, &mut g);
        st.step(&opt, &mut x, &g, t, 0.01);
    }
    assert!(problem.loss(&x) < 1e-3, "loss {}", problem.loss(&x));
}
