use proptest::prelude::*;

use super::*;
use crate::testing::{cases, hyper_bool, hyper_f64, problem, replay};

/// Every trajectory of `papers.json` (pytorch-optimizer's Muon, Newton–Schulz in f32): the
/// loss within 1e-2 relative; on the vector problems, where nothing amplifies rounding, the
/// iterates within 1e-4 too.
#[test]
fn matches_pytorch_optimizer_trajectories() {
    for case in cases("muon") {
        let opt = Muon {
            weight_decay: hyper_f64(&case, "weight_decay", 0.0),
            nesterov: hyper_bool(&case, "nesterov", true),
            ..Muon::default()
        };
        let lr = hyper_f64(&case, "lr", 0.02);
        let problem = problem(&case.problem);
        let shape = problem.shape();
        let n = shape.iter().product::<u64>() as usize;
        let view = matrix_view(&shape, n);
        let mut b = vec![0.0; n];
        let (dx, dl) = replay(&case, |x, g, _| {
            let mut g = g.to_vec();
            opt.update_muon(x, &mut g, view, &mut b, lr)
        });
        assert!(dl < 1e-2, "{}: loss {dl:e}", case.problem);
        if shape.len() == 1 {
            assert!(dx < 1e-4, "{}: iterate {dx:e}", case.problem);
        }
    }
}

/// A hand-checked orthogonalization: a 1 × 3 row has one singular value, normalised to 1
/// and then mapped by s ← a s + b s³ + c s⁵ five times.
#[test]
fn newton_schulz_of_a_row_is_its_direction_times_the_polynomial() {
    let mut g = [3.0f32, 0.0, -4.0];
    let coeffs = Muon::default().schedule();
    newton_schulz(&mut g, 1, 3, &coeffs);
    let mut s = 1.0f64;
    for _ in 0..5 {
        s = 3.4445 * s - 4.7750 * s.powi(3) + 2.0315 * s.powi(5);
    }
    let want = [0.6 * s, 0.0, -0.8 * s];
    for (a, b) in g.iter().zip(want) {
        assert!((f64::from(*a) - b).abs() < 1e-5, "{g:?} vs {want:?}");
    }
    // A tall matrix goes through the transposed (wide) iteration and comes back tall.
    let mut col = [3.0f32, 0.0, -4.0];
    newton_schulz(&mut col, 3, 1, &coeffs);
    assert_eq!(col, g);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Newton–Schulz maps every singular value of a full-rank matrix into Muon's band (the
    /// original coefficients give roughly [0.7, 1.2]) and keeps its singular vectors: O Oᵀ has
    /// eigenvalues in [0.3, 1.6] and O is aligned with G (⟨O, G⟩ > 0).
    #[test]
    fn newton_schulz_output_is_nearly_orthogonal(
        entries in prop::collection::vec(-1.0f32..1.0, 12),
        diag in prop::collection::vec(0.5f32..2.0, 3),
    ) {
        // G = D + E/4 with D = [diag | 0]: well conditioned, 3 × 4.
        let mut g: Vec<f32> = entries.iter().map(|e| e / 4.0).collect();
        for i in 0..3 { g[i * 4 + i] += diag[i]; }
        let mut o = g.clone();
        newton_schulz(&mut o, 3, 4, &Muon::default().schedule());
        let mut oot = vec![0.0f32; 9];
        gemm(&mut oot, 1.0, &o, (3, 4, Op::N), &o, (3, 4, Op::T), 0.0);
        let eig = crate::shared::matrix::eigenvectors_descending(&oot, 3).unwrap();
        // Eigenvalues from the Rayleigh quotients of the eigenvectors.
        for j in 0..3 {
            let v: Vec<f32> = (0..3).map(|i| eig[i * 3 + j]).collect();
            let mut ov = [0.0f32; 3];
            for r in 0..3 { ov[r] = (0..3).map(|c| oot[r * 3 + c] * v[c]).sum(); }
            let lambda: f32 = ov.iter().zip(&v).map(|(a, b)| a * b).sum();
            prop_assert!((0.3..1.6).contains(&lambda), "eigenvalue {lambda} of O Oᵀ");
        }
        let align: f32 = o.iter().zip(&g).map(|(a, b)| a * b).sum();
        prop_assert!(align > 0.0);
    }
}

/// `use_muon = false` is AdamW: the first step moves each weight by lr·sign(g) (bias
/// corrected, ε negligible), after decoupled decay.
#[test]
fn adamw_branch_first_step() {
    let opt = Muon {
        use_muon: false,
        adamw_wd: 0.1,
        ..Muon::default()
    };
    let (mut m, mut v) = ([0.0f32; 2], [0.0f32; 2]);
    let mut w = [1.0f32, 1.0];
    let mut g = [2.0f32, -0.5];
    opt.update_adamw(&mut w, &mut g, (&mut m, &mut v), 1, 0.01);
    let decayed = 1.0 - 0.1 * 0.01;
    assert!(
        (w[0] - (decayed - 0.01)).abs() < 1e-6 && (w[1] - (decayed + 0.01)).abs() < 1e-6,
        "{w:?}"
    );
}

#[test]
fn learning_rate_scales_follow_the_shape() {
    assert_eq!(lr_scale(8, 2, false), 2.0);
    assert_eq!(lr_scale(2, 8, false), 1.0);
    assert!((lr_scale(4, 100, true) - 2.0).abs() < 1e-12);
    assert_eq!(matrix_view(&[2, 3, 4], 24), (2, 12));
    assert_eq!(matrix_view(&[5], 5), (5, 1));
}
