use super::*;
use crate::testing::{cases, hyper_bool, hyper_f64, problem, replay};

/// Buffers for one tensor: (m, v, statistics, bases).
type Buffers = (
    Vec<f32>,
    Vec<f32>,
    Vec<Option<Vec<f32>>>,
    Vec<Option<Vec<f32>>>,
);

fn buffers(opt: &Soap, dims: &[usize]) -> Buffers {
    let n: usize = dims.iter().product();
    let on = opt.preconditioned(dims);
    let mats = |i: usize, p: bool| p.then(|| vec![0.0f32; dims[i] * dims[i]]);
    let stats = on.iter().enumerate().map(|(i, &p)| mats(i, p)).collect();
    let bases = on.iter().enumerate().map(|(i, &p)| mats(i, p)).collect();
    (vec![0.0; n], vec![0.0; n], stats, bases)
}

fn step(opt: &Soap, b: &mut Buffers, x: &mut [f32], g: &[f32], dims: &[usize], t: u64, lr: f64) {
    let (m, v, stats, bases) = b;
    let mut s: Vec<Option<&mut [f32]>> = stats.iter_mut().map(|o| o.as_deref_mut()).collect();
    let mut q: Vec<Option<&mut [f32]>> = bases.iter_mut().map(|o| o.as_deref_mut()).collect();
    opt.update(x, g, dims, (m, v), &mut s, &mut q, t, t > 1, lr)
        .unwrap();
}

/// Every trajectory of `papers.json` (pytorch-optimizer's SOAP): the loss within 1e-2
/// relative; with identity bases (the unpreconditioned vector problem) the iterates within
/// 1e-4 too. (With a basis, the component of a gradient orthogonal to the previous ones is
/// rounding-sized after one step, and Adam's sign-like update amplifies it.)
#[test]
fn matches_pytorch_optimizer_trajectories() {
    for case in cases("soap") {
        let opt = Soap {
            precondition_1d: hyper_bool(&case, "precondition_1d", false),
            precondition_frequency: hyper_f64(&case, "precondition_frequency", 10.0) as u64,
            ..Soap::default()
        };
        let lr = hyper_f64(&case, "lr", 3e-3);
        let dims: Vec<usize> = problem(&case.problem)
            .shape()
            .iter()
            .map(|&d| d as usize)
            .collect();
        let mut b = buffers(&opt, &dims);
        let (dx, dl) = replay(&case, |x, g, t| step(&opt, &mut b, x, g, &dims, t, lr));
        assert!(dl < 1e-2, "{}: loss {dl:e}", case.problem);
        if !opt.preconditioned(&dims).contains(&true) {
            assert!(dx < 1e-4, "{}: iterate {dx:e}", case.problem);
        }
    }
}

/// Adam (PyTorch's order: lerp moments, √v + ε, bias corrections) followed by decoupled
/// decay, on the gradients from the second onward, which is what SOAP is with identity bases.
fn adam_reference(opt: &Soap, w: &mut [f32], gs: &[Vec<f32>], lr: f64) {
    let (b1, b2) = opt.betas;
    let (mut m, mut v) = (vec![0.0f32; w.len()], vec![0.0f32; w.len()]);
    for (s, g) in gs.iter().enumerate().skip(1) {
        let s = s as u64;
        let size = lr * (1.0 - b2.powi(s as i32)).sqrt() / (1.0 - b1.powi(s as i32));
        for i in 0..w.len() {
            m[i] = lerp(m[i], g[i], (1.0 - b1) as f32);
            v[i] = lerp(v[i], g[i] * g[i], (1.0 - b2) as f32);
            w[i] += -(size as f32) * (m[i] / (v[i].sqrt() + opt.eps));
            w[i] *= (1.0 - lr * opt.weight_decay) as f32;
        }
    }
}

/// With identity bases (a 1-D tensor, or every dimension above max_precondition_dim) SOAP
/// is Adam, bit for bit.
#[test]
fn identity_basis_is_adam() {
    let gs: Vec<Vec<f32>> = (0..12)
        .map(|t| {
            (0..6)
                .map(|i| ((t * 7 + i * 3) as f32 * 0.37).sin())
                .collect()
        })
        .collect();
    for (dims, opt) in [
        (vec![6], Soap::default()),
        (
            vec![2, 3],
            Soap {
                max_precondition_dim: 1,
                ..Soap::default()
            },
        ),
    ] {
        let mut b = buffers(&opt, &dims);
        let mut w = vec![0.5f32; 6];
        for (t, g) in gs.iter().enumerate() {
            step(&opt, &mut b, &mut w, g, &dims, t as u64 + 1, 0.01);
        }
        let mut want = vec![0.5f32; 6];
        adam_reference(&opt, &mut want, &gs, 0.01);
        assert_eq!(w, want, "dims {dims:?}");
    }
}

/// The first step only builds the statistics: L = (1 - β_s) G Gᵀ and its eigenbasis, with
/// the parameters untouched; the basis diagonalises L.
#[test]
fn first_step_builds_the_preconditioner() {
    let opt = Soap::default();
    let dims = [2, 2];
    let mut b = buffers(&opt, &dims);
    let mut w = vec![1.0f32; 4];
    let g = [1.0f32, 2.0, 0.0, 1.0];
    step(&opt, &mut b, &mut w, &g, &dims, 1, 0.1);
    assert_eq!(w, [1.0; 4]);
    let l = b.2[0].as_ref().unwrap();
    // G Gᵀ = [[5, 2], [2, 1]], times 1 - 0.95.
    let want = [5.0f32, 2.0, 2.0, 1.0].map(|x| x * 0.05);
    assert!(
        l.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
        "{l:?}"
    );
    let q = b.3[0].as_ref().unwrap();
    let mut lq = [0.0f32; 4];
    gemm(&mut lq, 1.0, l, (2, 2, Op::N), q, (2, 2, Op::N), 0.0);
    let mut qtlq = [0.0f32; 4];
    gemm(&mut qtlq, 1.0, q, (2, 2, Op::T), &lq, (2, 2, Op::N), 0.0);
    assert!(
        qtlq[1].abs() < 1e-6 && qtlq[2].abs() < 1e-6 && qtlq[0] >= qtlq[3],
        "{qtlq:?}"
    );
}

/// Rotating forward then back is the identity for orthogonal bases.
#[test]
fn projection_round_trips() {
    let c = std::f32::consts::FRAC_1_SQRT_2;
    let q0 = [c, c, -c, c];
    let q1 = [0.0f32, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    let x: Vec<f32> = (0..6).map(|i| i as f32 - 2.5).collect();
    let bases = [Some(&q0[..]), Some(&q1[..])];
    let y = project(&x, &[2, 3], &bases, true);
    let back = project(&y, &[2, 3], &bases, false);
    assert!(
        x.iter().zip(&back).all(|(a, b)| (a - b).abs() < 1e-6),
        "{back:?}"
    );
    // Forward is Q₀ᵀ X Q₁.
    let mut tmp = vec![0.0f32; 6];
    gemm(&mut tmp, 1.0, &q0, (2, 2, Op::T), &x, (2, 3, Op::N), 0.0);
    let mut want = vec![0.0f32; 6];
    gemm(&mut want, 1.0, &tmp, (2, 3, Op::N), &q1, (3, 3, Op::N), 0.0);
    assert!(y.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
}
