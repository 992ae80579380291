use mosaic_abi::ParamMap;

use super::*;
use crate::testing::{close, make, trajectory};

/// s₁ = 0.1 + 4, θ₁ = 1 − 0.1·2/√4.1; with lr_decay 0.5 the second step uses 0.1/1.5.
#[test]
fn hand_computed_steps_with_initial_accumulator_and_decay() {
    let p = ParamMap::new()
        .with("initial_accumulator_value", 0.1)
        .with("lr_decay", 0.5);
    let (xs, state) = trajectory("adagrad", &p, &[1.0], 2, 0.1, |_, _| vec![2.0]);
    let x1 = 1.0 - 0.1 * 2.0 / (4.1f64.sqrt() + 1e-10);
    let x2 = x1 - (0.1 / 1.5) * 2.0 / (8.1f64.sqrt() + 1e-10);
    assert!(
        close(xs[0][0], x1, 1e-6) && close(xs[1][0], x2, 1e-6),
        "{xs:?}"
    );
    let s = mosaic_optim::views::AdagradState::of(&state.tensors()[0]).unwrap();
    assert!(close(s.sum[0], 8.1, 1e-6));
}

#[test]
fn weight_decay_and_maximize() {
    // g' = −g + λθ = −1 + 0.5 = −0.5 at θ = 1: s = 0.25, θ = 1 + 0.1·0.5/0.5 = 1.1.
    let p = ParamMap::new()
        .with("weight_decay", 0.5)
        .with("maximize", true);
    let (xs, _) = trajectory("adagrad", &p, &[1.0], 1, 0.1, |_, _| vec![1.0]);
    assert!(close(xs[0][0], 1.1, 1e-6), "{xs:?}");
}

#[test]
fn scheduled_momentum_is_refused_and_bad_values_named() {
    use mosaic_optim::{OptimizerState, Param, StepOptions};
    let opt = make("adagrad", &ParamMap::new()).unwrap();
    let mut s = OptimizerState::flat(&opt, 1).unwrap();
    let options = StepOptions {
        momentum: Some(0.9),
        ..StepOptions::lr(0.1)
    };
    let mut x = [1.0f32];
    let e = s
        .step(&opt, &mut [Param::new(&mut x, &[1.0])], &options)
        .unwrap_err();
    assert!(e.to_string().contains("`momentum`"), "{e}");
    assert_eq!(x, [1.0]);
    let e = make("adagrad", &ParamMap::new().with("lr_decay", -1.0))
        .err()
        .unwrap();
    assert!(e.message().contains("`lr_decay`"), "{e}");
    assert!(descriptor().validate().is_ok());
}
