use mosaic_abi::{ErrorKind, ParamMap};

use super::*;
use crate::testing::{close, make, trajectory};

/// The documented algorithm in `f64`, one scalar, for comparison.
fn reference(
    x0: f64,
    grads: &[f64],
    lr: f64,
    (b1, b2): (f64, f64),
    wd: f64,
    decoupled: bool,
    amsgrad: bool,
) -> Vec<f64> {
    let (mut x, mut m, mut v, mut vmax) = (x0, 0.0, 0.0, 0.0f64);
    let mut out = Vec::new();
    for (i, &g0) in grads.iter().enumerate() {
        let t = (i + 1) as f64;
        let mut g = g0;
        if decoupled {
            x *= 1.0 - lr * wd;
        } else {
            g += wd * x;
        }
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        vmax = vmax.max(v);
        let second = if amsgrad { vmax } else { v };
        let mhat = m / (1.0 - b1.powf(t));
        let vhat = second / (1.0 - b2.powf(t));
        x -= lr * mhat / (vhat.sqrt() + 1e-8);
        out.push(x);
    }
    out
}

/// With a constant gradient Adam moves by the learning rate each step: θ₁ = 1 − 0.1·0.5 /
/// (0.5 + 1e-8) ≈ 0.9, θ₂ ≈ 0.8 (m̂ = 0.5 and v̂ = 0.25 at every step).
#[test]
fn hand_computed_constant_gradient() {
    let (xs, state) = trajectory("adam", &ParamMap::new(), &[1.0], 3, 0.1, |_, _| vec![0.5]);
    for (t, x) in xs.iter().enumerate() {
        assert!(close(x[0], 1.0 - 0.1 * (t + 1) as f64, 1e-6), "{xs:?}");
    }
    let t = &state.tensors()[0];
    assert_eq!(t.steps(), 3);
    // m₃ = 0.5·(1 − 0.9³) = 0.1355, v₃ = 0.25·(1 − 0.999³).
    let view = AdamState::of(t).unwrap();
    assert!(close(view.exp_avg[0], 0.1355, 1e-6));
    assert!(close(
        view.exp_avg_sq[0],
        0.25 * (1.0 - 0.999f64.powi(3)),
        1e-6
    ));
    assert!(view.max_exp_avg_sq.is_none());
}

/// AdamW's first step: θ = 1·(1 − 0.1·0.1) − 0.1 ≈ 0.89.
#[test]
fn adamw_decays_before_the_update() {
    let p = ParamMap::new().with("weight_decay", 0.1);
    let (xs, _) = trajectory("adamw", &p, &[1.0], 1, 0.1, |_, _| vec![0.5]);
    assert!(close(xs[0][0], 0.89, 1e-6), "{xs:?}");
}

#[test]
fn variants_follow_the_documented_algorithm() {
    let grads = [1.0, 0.0, -0.5, 2.0, 0.25, -1.5, 0.0, 0.75];
    for (name, wd, amsgrad) in [
        ("adam", 0.0, false),
        ("adam", 0.1, false),
        ("adam", 0.0, true),
        ("adamw", 0.05, true),
    ] {
        let p = ParamMap::new()
            .with("weight_decay", wd)
            .with("amsgrad", amsgrad)
            .with("betas", vec![0.8, 0.99]);
        let (xs, state) = trajectory(name, &p, &[0.3], grads.len() as u64, 0.05, |t, _| {
            vec![grads[t as usize - 1] as f32]
        });
        let want = reference(0.3, &grads, 0.05, (0.8, 0.99), wd, name == "adamw", amsgrad);
        for (x, w) in xs.iter().zip(&want) {
            assert!(
                close(x[0], *w, 2e-6),
                "{name} wd {wd} ams {amsgrad}: {xs:?} vs {want:?}"
            );
        }
        let names: Vec<&str> = state.tensors()[0].buffer_names().collect();
        assert_eq!(names.len(), if amsgrad { 3 } else { 2 });
    }
}

/// A scheduled β₁ replaces the constructed one, in the moment and in the bias correction.
#[test]
fn scheduled_beta1_is_used() {
    use mosaic_optim::{OptimizerState, Param, StepOptions};
    let opt = make("adam", &ParamMap::new()).unwrap();
    let mut s = OptimizerState::flat(&opt, 1).unwrap();
    let mut x = vec![1.0f32];
    let options = StepOptions {
        momentum: Some(0.5),
        ..StepOptions::lr(0.1)
    };
    s.step(&opt, &mut [Param::new(&mut x, &[0.5])], &options)
        .unwrap();
    let m = AdamState::of(&s.tensors()[0]).unwrap().exp_avg[0];
    assert!(close(m, 0.25, 1e-7), "{m}");
    let bad = StepOptions {
        momentum: Some(1.0),
        ..StepOptions::lr(0.1)
    };
    let e = s
        .step(&opt, &mut [Param::new(&mut x, &[0.5])], &bad)
        .unwrap_err();
    assert!(e.to_string().contains("`momentum`"), "{e}");
}

#[test]
fn bad_hyperparameters_are_named() {
    for (p, name) in [
        (ParamMap::new().with("betas", vec![0.9, 1.0]), "`betas`"),
        (ParamMap::new().with("betas", vec![0.9]), "`betas`"),
        (ParamMap::new().with("eps", -1.0), "`eps`"),
        (ParamMap::new().with("weight_decay", -0.1), "`weight_decay`"),
    ] {
        for algo in ["adam", "adamw"] {
            let e = make(algo, &p).err().expect("must fail");
            assert_eq!(e.kind, ErrorKind::InvalidParam, "{e}");
            assert!(e.message().contains(name), "{e}");
        }
    }
    assert!(descriptor().validate().is_ok() && adamw_descriptor().validate().is_ok());
    assert_eq!(Adam::new(true).weight_decay, 1e-2);
}
