//! The driver, state and schedules, with the real `sgd` plugin linked statically.

use mosaic_abi::ParamMap;
use mosaic_optim::{Driver, LrSchedule, OptimError, OptimizerBox, OptimizerState};

fn sgd(params: ParamMap) -> OptimizerBox {
    let m = mosaic_plugin_optim_basic::plugin_module();
    (m.new_optimizer())("sgd".into(), &params)
        .into_result()
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// StepLR(step_size = 2, gamma = 0.5) from 0.1 at epochs 0..5: 0.1, 0.1, 0.05, 0.05,
/// 0.025, 0.025 (PyTorch's closed form base · gamma^⌊epoch / step_size⌋).
#[test]
fn step_decay_matches_steplr() {
    let s = LrSchedule::StepDecay {
        step_size: 2,
        gamma: 0.5,
    };
    let got: Vec<f64> = (1..=6).map(|t| s.lr_at(0.1, t)).collect();
    for (g, w) in got.iter().zip([0.1, 0.1, 0.05, 0.05, 0.025, 0.025]) {
        assert!(close(*g, w), "{got:?}");
    }
}

/// CosineAnnealingLR(T_max = 4, eta_min = 0.01) from 0.1: epoch 0 → 0.1, 1 → 0.01 + 0.09 ·
/// (1 + cos(π/4))/2 = 0.0868198, 2 → 0.055, 4 → 0.01 (the minimum), 8 → 0.1 again.
#[test]
fn cosine_matches_cosine_annealing() {
    let s = LrSchedule::Cosine {
        t_max: 4,
        eta_min: 0.01,
    };
    assert!(close(s.lr_at(0.1, 1), 0.1));
    assert!((s.lr_at(0.1, 2) - 0.086_819_805_153_394_64).abs() < 1e-12);
    assert!(close(s.lr_at(0.1, 3), 0.055));
    assert!(close(s.lr_at(0.1, 5), 0.01));
    assert!(close(s.lr_at(0.1, 9), 0.1));
    assert!(close(LrSchedule::Constant.lr_at(0.3, 1000), 0.3));
}

#[test]
fn bad_schedules_are_named() {
    for (s, name) in [
        (
            LrSchedule::StepDecay {
                step_size: 0,
                gamma: 0.5,
            },
            "`step_size`",
        ),
        (
            LrSchedule::StepDecay {
                step_size: 1,
                gamma: f64::NAN,
            },
            "`gamma`",
        ),
        (
            LrSchedule::Cosine {
                t_max: 0,
                eta_min: 0.0,
            },
            "`t_max`",
        ),
        (
            LrSchedule::Cosine {
                t_max: 1,
                eta_min: -1.0,
            },
            "`eta_min`",
        ),
    ] {
        let e = s.validate().unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
    let e = Driver::flat(sgd(ParamMap::new()), 1, -0.1, LrSchedule::Constant)
        .err()
        .unwrap();
    assert!(e.to_string().contains("`lr`"), "{e}");
}

/// Momentum 0.9, base lr 0.1 halved every step, θ0 = 1, g = 1:
/// t=1: lr 0.1, b = 1, θ = 0.9; t=2: lr 0.05, b = 1.9, θ = 0.805; t=3: lr 0.025, b = 2.71,
/// θ = 0.73725.
#[test]
fn driver_counts_from_one_and_applies_the_schedule() {
    let schedule = LrSchedule::StepDecay {
        step_size: 1,
        gamma: 0.5,
    };
    let mut d = Driver::flat(sgd(ParamMap::new().with("momentum", 0.9)), 1, 0.1, schedule).unwrap();
    let buffer = |d: &Driver| {
        d.state().tensors()[0]
            .buffer_f32("momentum_buffer")
            .unwrap()[0]
    };
    let names: Vec<&str> = d.state().tensors()[0].buffer_names().collect();
    assert_eq!(names, ["momentum_buffer"]);
    assert_eq!(buffer(&d), 0.0);
    let mut p = [1.0f32];
    for (want_p, want_b) in [(0.9, 1.0), (0.805, 1.9), (0.73725, 2.71)] {
        d.step_flat(&mut p, &[1.0]).unwrap();
        assert!((p[0] - want_p).abs() < 1e-6, "{p:?}");
        assert!((buffer(&d) - want_b).abs() < 1e-6);
    }
    assert_eq!(d.steps_taken(), 3);
    assert!(close(d.next_lr(), 0.0125));
}

#[test]
fn checkpoint_and_restore_resume_identically() {
    let opt = || {
        sgd(ParamMap::new()
            .with("momentum", 0.5)
            .with("dampening", 0.25))
    };
    let grads = [[0.5f32, -1.0], [1.0, 2.0], [-0.25, 0.75], [0.0, 1.0]];
    let mut a = Driver::flat(opt(), 2, 0.1, LrSchedule::Constant).unwrap();
    let mut pa = [1.0f32, 2.0];
    for g in &grads[..2] {
        a.step_flat(&mut pa, g).unwrap();
    }
    let saved = OptimizerState::from_tensors(a.state().tensors().to_vec());
    let mut b = Driver::flat(opt(), 2, 0.1, LrSchedule::Constant).unwrap();
    b.restore(saved, a.steps_taken()).unwrap();
    let mut pb = pa;
    for g in &grads[2..] {
        a.step_flat(&mut pa, g).unwrap();
        b.step_flat(&mut pb, g).unwrap();
    }
    assert_eq!(pa, pb);
    // State of another optimizer or other tensors is refused.
    let plain = OptimizerState::flat(&sgd(ParamMap::new()), 2).unwrap();
    let e = b.restore(plain, 1).unwrap_err();
    assert!(matches!(e, OptimError::State(_)), "{e}");
    assert!(e.to_string().contains("momentum_buffer"), "{e}");
    let other = OptimizerState::flat(&opt(), 3).unwrap();
    let e = b.restore(other, 1).unwrap_err();
    assert!(matches!(e, OptimError::State(_)), "{e}");
}

#[test]
fn wrong_lengths_are_errors_and_do_not_count() {
    let mut d = Driver::flat(sgd(ParamMap::new()), 3, 0.1, LrSchedule::Constant).unwrap();
    assert_eq!(d.state().tensors()[0].buffer_names().count(), 0);
    let e = d.step_flat(&mut [1.0, 2.0, 3.0], &[1.0]).unwrap_err();
    assert!(e.to_string().contains("gradients"), "{e}");
    let e = d.step_flat(&mut [1.0], &[1.0]).unwrap_err();
    assert!(e.to_string().contains("parameters"), "{e}");
    assert_eq!(d.steps_taken(), 0);
}
