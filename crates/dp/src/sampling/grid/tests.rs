use super::*;

#[test]
fn rounding_is_exact_and_ties_to_even() {
    let g = Grid::new(-48); // step 2^-48
    let step = 2f64.powi(-48);
    assert_eq!(g.step(), step);
    assert_eq!(g.round(1.0), Some(1 << 48));
    assert_eq!(g.round(-0.5), Some(-(1 << 47)));
    assert_eq!(g.round(0.5 * step), Some(0)); // tie → even (0)
    assert_eq!(g.round(1.5 * step), Some(2)); // tie → even (2)
    assert_eq!(g.round(2.5 * step), Some(2)); // tie → even (2)
    assert_eq!(g.round(0.75 * step), Some(1));
    assert_eq!(g.round(-0.75 * step), Some(-1));
    assert_eq!(g.round(1e-300), Some(0));
    assert_eq!(g.round(f64::NAN), None);
    assert_eq!(g.round(f64::INFINITY), None);
    assert_eq!(g.round(1e30), None); // beyond 2^(126-48)
    assert_eq!(g.value(3 << 47), 1.5);
    assert_eq!(g.units(1.0), 2f64.powi(48));
    // A coarse grid: step 4.
    let g = Grid::new(2);
    assert_eq!(g.round(5.9), Some(1));
    assert_eq!(g.round(6.0), Some(2)); // 1.5 steps → 2
    assert_eq!(g.round(10.0), Some(2)); // 2.5 steps → 2
    assert_eq!(g.value(-3), -12.0);
    let e = g.round_all(&[1.0, f64::NAN]).unwrap_err();
    assert!(e.to_string().contains("index 1"), "{e}");
}

#[test]
fn grid_for_scale_brackets_the_scale() {
    for (scale, bits) in [(1.0, 48u32), (3.0, 48), (0.1, 40), (1e6, 30), (7e-9, 20)] {
        let g = Grid::for_scale(scale, bits);
        let u = g.units(scale);
        assert!(
            u >= 2f64.powi(bits as i32) && u < 2f64.powi(bits as i32 + 1),
            "{scale}: {u}"
        );
    }
}

#[test]
fn integer_inputs_are_checked() {
    assert_eq!(
        integers(&[0.0, -3.0, 1e15]).unwrap(),
        vec![0, -3, 1e15 as i128]
    );
    let e = integers(&[1.0, 2.5]).unwrap_err();
    assert!(
        e.to_string().contains("index 1") && e.to_string().contains("2.5"),
        "{e}"
    );
    assert!(integers(&[f64::NAN]).is_err());
}

#[test]
fn score_grid_counts_sensitivity_in_whole_steps() {
    // Δ = 1: k = -32, D = 2^32 + 1.
    let s = ScoreGrid::new(1.0, 2, 1.0).unwrap();
    assert_eq!(s.grid().exponent(), -32);
    assert_eq!(s.steps(), (1 << 32) + 1);
    // Δ = 3: 3 = 1.5·2^1, k = 1 - 32, Δ/2^k = 3·2^31, D = 3·2^31 + 1.
    let s = ScoreGrid::new(3.0, 2, 1.0).unwrap();
    assert_eq!(s.steps(), 3 * (1 << 31) + 1);
    assert_eq!(s.round(&[1.0, -0.5]).unwrap(), vec![1 << 31, -(1 << 30)]);
    assert!(s.round(&[]).is_err());
    // A tiny ε takes a coarser grid so that temperatures stay exact.
    let s = ScoreGrid::new(1.0, 4, 1e-6).unwrap();
    assert!(s.grid().exponent() > -32);
    let t = s.temperature(4, 1e-6).unwrap();
    assert!(4.0 * s.steps() as f64 / t as f64 <= 1e-6);
    for bad in [0.0, -1.0, f64::NAN] {
        let e = ScoreGrid::new(bad, 2, 1.0).unwrap_err();
        assert!(e.to_string().contains("`sensitivity`"), "{e}");
    }
    assert!(ScoreGrid::new(1.0, 2, 1e-40).is_err());
}

#[test]
fn temperature_is_the_smallest_exact_integer() {
    // 2·3/0.7 = 8.571...: T = 9.
    assert_eq!(temperature(6, 0.7).unwrap(), 9);
    // 10/0.5 = 20 exactly.
    assert_eq!(temperature(10, 0.5).unwrap(), 20);
    // 3/0.1: 0.1 is slightly above 1/10 in binary, so 30·0.1 ≥ 3 holds exactly: T = 30.
    let t = temperature(3, 0.1).unwrap();
    assert!((t as f64).mul_add(0.1, -3.0) >= 0.0 && ((t - 1) as f64).mul_add(0.1, -3.0) < 0.0);
    assert_eq!(temperature(1, 5.0).unwrap(), 1);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = temperature(1, bad).unwrap_err();
        assert!(e.to_string().contains("`epsilon`"), "{e}");
    }
    assert!(temperature(1 << 40, 1e-20).is_err());
}
