use mosaic_abi::ParamMap;

use super::*;
use crate::testing::{close, make, trajectory};

fn reference(x0: f64, grads: &[f64], lr: f64, alpha: f64, mu: f64, centered: bool) -> Vec<f64> {
    let (mut x, mut s, mut a, mut b) = (x0, 0.0, 0.0, 0.0);
    let eps = 1e-8;
    grads
        .iter()
        .map(|&g| {
            s = alpha * s + (1.0 - alpha) * g * g;
            a = alpha * a + (1.0 - alpha) * g;
            let d = if centered {
                (s - a * a).sqrt()
            } else {
                s.sqrt()
            } + eps;
            if mu > 0.0 {
                b = mu * b + g / d;
                x -= lr * b;
            } else {
                x -= lr * g / d;
            }
            x
        })
        .collect()
}

/// First step: s = 0.01·g², θ = 1 − 0.01·g/(0.1|g| + ε) = 1 − 0.1·sign(g).
#[test]
fn hand_computed_first_step() {
    let (xs, state) = trajectory("rmsprop", &ParamMap::new(), &[1.0], 1, 0.01, |_, _| {
        vec![2.0]
    });
    assert!(close(xs[0][0], 0.9, 1e-6), "{xs:?}");
    let s = mosaic_optim::views::RmspropState::of(&state.tensors()[0]).unwrap();
    assert!(close(s.square_avg[0], 0.04, 1e-7));
}

#[test]
fn variants_follow_the_documented_algorithm() {
    let grads = [1.0, -0.5, 0.25, 2.0, -1.0, 0.5];
    for (mu, centered) in [(0.0, false), (0.9, false), (0.0, true), (0.5, true)] {
        let p = ParamMap::new()
            .with("alpha", 0.9)
            .with("momentum", mu)
            .with("centered", centered);
        let (xs, state) = trajectory("rmsprop", &p, &[0.2], 6, 0.01, |t, _| {
            vec![grads[t as usize - 1] as f32]
        });
        let want = reference(0.2, &grads, 0.01, 0.9, mu, centered);
        for (x, w) in xs.iter().zip(&want) {
            assert!(
                close(x[0], *w, 2e-6),
                "mu {mu} centered {centered}: {xs:?} vs {want:?}"
            );
        }
        let n = state.tensors()[0].buffer_names().count();
        assert_eq!(n, 1 + usize::from(mu > 0.0) + usize::from(centered));
    }
}

#[test]
fn bad_hyperparameters_are_named() {
    for (p, name) in [
        (ParamMap::new().with("alpha", 1.0), "`alpha`"),
        (ParamMap::new().with("momentum", -1.0), "`momentum`"),
        (ParamMap::new().with("eps", f64::INFINITY), "`eps`"),
    ] {
        let e = make("rmsprop", &p).err().expect("must fail");
        assert!(e.message().contains(name), "{e}");
    }
    assert!(descriptor().validate().is_ok());
}
