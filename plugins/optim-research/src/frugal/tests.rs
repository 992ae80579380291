use super::*;
use crate::testing::problem;

/// A tensor's FRUGAL state, owned.
struct Owned {
    sel: Vec<u8>,
    basis: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    s: i64,
}

impl Owned {
    fn new(opt: &Frugal, shape: &[u64]) -> Owned {
        let sub = opt.subspace(shape);
        Owned {
            sel: vec![0; 8 * sub.units],
            basis: vec![0.0; sub.rows * sub.units],
            m: vec![0.0; sub.len],
            v: vec![0.0; sub.len],
            s: 0,
        }
    }

    fn step(&mut self, opt: &Frugal, w: &mut [f32], g: &[f32], shape: &[u64], t: u64, lr: f64) {
        let selection = match opt.projector {
            Projector::Svd => Selection::Basis(&mut self.basis),
            _ => Selection::Indices(&mut self.sel),
        };
        let state = FrugalState {
            selection,
            exp_avg: &mut self.m,
            exp_avg_sq: &mut self.v,
            subspace_step: &mut self.s,
        };
        opt.update(
            w,
            g,
            shape,
            state,
            t,
            t > 1,
            lr,
            RngSeed::from_u64(7).derive(t),
        )
        .unwrap();
    }
}

/// FRUGAL's stateful part (AdamW in the authors' order), on every coordinate.
fn adam(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: u64, lr: f64) {
    let (b1, b2) = (
        1.0 - 0.9f64.powi(s as i32),
        (1.0 - 0.999f64.powi(s as i32)).sqrt() as f32,
    );
    let step = -(lr / b1) as f32;
    for i in 0..w.len() {
        m[i] = m[i] * 0.9 + 0.1 * g[i];
        v[i] = v[i] * 0.999 + (1.0 - 0.999f64) as f32 * g[i] * g[i];
        w[i] += m[i] / (v[i].sqrt() / b2 + 1e-8) * step;
    }
}

fn run(opt: &Frugal, spec: &str, steps: u64, lr: f64) -> Vec<f32> {
    let p = problem(spec);
    let shape = p.shape();
    let mut st = Owned::new(opt, &shape);
    let mut w = p.start();
    let mut g = vec![0.0; w.len()];
    for t in 1..=steps {
        p.grad(&w, &mut g);
        st.step(opt, &mut w, &g, &shape, t, lr);
    }
    w
}

/// With the full subspace FRUGAL is Adam, bit for bit (blocks or columns, vector or matrix).
#[test]
fn full_subspace_is_adam() {
    for (projector, spec) in [
        (Projector::Blocks(3), "quadratic:7"),
        (Projector::Columns, "lsq:4x3"),
        (Projector::Blocks(5), "lsq:4x3"),
    ] {
        let opt = Frugal {
            projector,
            density: 1.0,
            weight_decay: 0.0,
            ..Frugal::default()
        };
        let got = run(&opt, spec, 50, 0.01);
        let p = problem(spec);
        let mut w = p.start();
        let (mut m, mut v) = (vec![0.0; w.len()], vec![0.0; w.len()]);
        let mut g = vec![0.0; w.len()];
        for s in 1..=50 {
            p.grad(&w, &mut g);
            adam(&mut w, &g, &mut m, &mut v, s, 0.01);
        }
        assert_eq!(got, w, "{projector:?} on {spec}");
    }
}

/// With the empty subspace FRUGAL is signSGD, bit for bit (and keeps no moments).
#[test]
fn empty_subspace_is_sign_sgd() {
    for projector in [Projector::Blocks(2), Projector::Columns, Projector::Svd] {
        let opt = Frugal {
            projector,
            density: 0.0,
            weight_decay: 0.0,
            ..Frugal::default()
        };
        assert_eq!(opt.subspace(&[4, 3]).len, 0);
        let got = run(&opt, "lsq:4x3", 30, 0.01);
        let p = problem("lsq:4x3");
        let mut w = p.start();
        let mut g = vec![0.0; w.len()];
        for _ in 0..30 {
            p.grad(&w, &mut g);
            for (wi, gi) in w.iter_mut().zip(&g) {
                *wi += -0.01 * sign(*gi);
            }
        }
        assert_eq!(got, w, "{projector:?}");
    }
}

/// A hand-checked step with the column projector: G = [[1, -3, 0.5], [2, 1, 0]] has column
/// norms √5, √10, 0.5, so density 1/3 selects column 1. That column gets Adam's first step
/// (±lr), the others signSGD (±lr·inactive_lr_scale, 0 where the gradient is 0).
#[test]
fn hand_checked_column_step() {
    let opt = Frugal {
        projector: Projector::Columns,
        density: 1.0 / 3.0,
        weight_decay: 0.0,
        inactive_lr_scale: 0.5,
        ..Frugal::default()
    };
    let mut st = Owned::new(&opt, &[2, 3]);
    let mut w = [0.0f32; 6];
    let g = [1.0f32, -3.0, 0.5, 2.0, 1.0, 0.0];
    st.step(&opt, &mut w, &g, &[2, 3], 1, 0.1);
    assert_eq!(i64::from_le_bytes(st.sel[..8].try_into().unwrap()), 1);
    let want = [-0.05, 0.1, -0.05, -0.05, -0.1, 0.0];
    for (a, b) in w.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{w:?}");
    }
    assert_eq!(st.m, [-0.3, 0.1]);
    assert_eq!(st.s, 1);
}

/// The SVD projector's stateful update lies in the span of the basis: with no state-free
/// part, (I - P Pᵀ) Δw = 0; its state is r × cols moments and the rows × r basis.
#[test]
fn svd_update_stays_in_the_subspace() {
    let opt = Frugal {
        projector: Projector::Svd,
        density: 0.5,
        weight_decay: 0.0,
        inactive_update_rule: InactiveRule::No,
        ..Frugal::default()
    };
    let shape = [4u64, 6];
    let sub = opt.subspace(&shape);
    assert_eq!((sub.units, sub.len), (2, 12));
    let mut st = Owned::new(&opt, &shape);
    let g: Vec<f32> = (0..24).map(|i| ((i * 5) as f32 * 0.7).sin()).collect();
    let mut w = vec![0.0f32; 24];
    st.step(&opt, &mut w, &g, &shape, 1, 0.1);
    let p = &st.basis;
    let mut coords = vec![0.0f32; 12];
    gemm(&mut coords, 1.0, p, (4, 2, Op::T), &w, (4, 6, Op::N), 0.0);
    let mut back = vec![0.0f32; 24];
    gemm(
        &mut back,
        1.0,
        p,
        (4, 2, Op::N),
        &coords,
        (2, 6, Op::N),
        0.0,
    );
    let off: f32 = w
        .iter()
        .zip(&back)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        off < 1e-6 && w.iter().any(|&x| x != 0.0),
        "off-subspace part {off}"
    );
}

/// The state is the subspace times the moments: density 1/4 of the blocks keeps a quarter
/// of Adam's moments; refreshes draw blocks from the seed (same seed, same blocks).
#[test]
fn state_is_subspace_sized_and_seeded() {
    let opt = Frugal {
        projector: Projector::Blocks(16),
        density: 0.25,
        update_gap: 5,
        ..Frugal::default()
    };
    let spec = opt.state_spec(&[1024]).unwrap();
    assert_eq!(spec.nbytes(), 16 * 8 + 2 * 256 * 4);
    assert_eq!(
        run(&opt, "quadratic:64", 23, 0.01),
        run(&opt, "quadratic:64", 23, 0.01)
    );
    // Converges on a quadratic anyway (signSGD plus Adam on a rotating quarter).
    let w = run(&opt, "quadratic:64", 600, 0.002);
    assert!(
        problem("quadratic:64").loss(&w) < 0.05,
        "{}",
        problem("quadratic:64").loss(&w)
    );
}
