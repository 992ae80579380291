use mosaic_abi::ParamMap;

use super::*;
use crate::testing::{close, make, trajectory};

/// θ moves by exactly lr·sign(lerp(m, g, 1 − β₁)); m = lerp(m, g, 1 − β₂).
/// g = 2, −1: t=1: c = 0.2 > 0, θ = 0.9, m = 0.02; t=2: c = 0.9·0.02 − 0.1 = −0.082 < 0,
/// θ = 1.0, m = 0.99·0.02 − 0.01 = 0.0098.
#[test]
fn hand_computed_signs_and_momentum() {
    let g = [2.0f32, -1.0];
    let (xs, state) = trajectory("lion", &ParamMap::new(), &[1.0], 2, 0.1, |t, _| {
        vec![g[t as usize - 1]]
    });
    assert!(
        close(xs[0][0], 0.9, 1e-7) && close(xs[1][0], 1.0, 1e-7),
        "{xs:?}"
    );
    let m = mosaic_optim::views::LionState::of(&state.tensors()[0]).unwrap();
    assert!(close(m.exp_avg[0], 0.0098, 1e-7), "{:?}", m.exp_avg);
}

#[test]
fn weight_decay_variants() {
    // Decoupled: θ = 1·(1 − 0.5·0.1) − 0.1 = 0.85; fixed: θ = 1·(1 − 0.5) − 0.1 = 0.4;
    // coupled: g = 0.01 + 0.5 > 0, θ = 0.9; a zero interpolation leaves θ alone.
    for (decouple, fixed, want) in [(true, false, 0.85), (true, true, 0.4), (false, false, 0.9)] {
        let p = ParamMap::new()
            .with("weight_decay", 0.5)
            .with("weight_decouple", decouple)
            .with("fixed_decay", fixed);
        let (xs, _) = trajectory("lion", &p, &[1.0], 1, 0.1, |_, _| vec![0.01]);
        assert!(close(xs[0][0], want, 1e-6), "{decouple} {fixed}: {xs:?}");
    }
    let (xs, _) = trajectory("lion", &ParamMap::new(), &[1.0], 1, 0.1, |_, _| vec![0.0]);
    assert_eq!(xs[0][0], 1.0);
    let e = make("lion", &ParamMap::new().with("betas", vec![1.5, 0.9]))
        .err()
        .unwrap();
    assert!(e.message().contains("`betas`"), "{e}");
    assert!(descriptor().validate().is_ok());
}
