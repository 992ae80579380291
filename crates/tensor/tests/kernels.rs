//! Kernels against naive references.
use mosaic_tensor::kernels::{self, par};
use proptest::prelude::*;

fn arb_vec() -> impl Strategy<Value = Vec<f32>> {
    // Lengths crossing the 4096-element chunk boundary; values include exact ties.
    (0usize..10_000, any::<u64>(), 1u32..6).prop_map(|(n, seed, spread)| {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                if s % 4 == 0 {
                    // Repeated values to create ties.
                    ((s >> 8) % 7) as f32 - 3.0
                } else {
                    ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
                        * 10f32.powi(spread as i32 - 3)
                }
            })
            .collect()
    })
}

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-9 * scale.max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn reductions(x in arb_vec(), shift in 0usize..3) {
        let y: Vec<f32> = x.iter().cycle().skip(shift).take(x.len()).map(|v| v * 0.5 - 1.0).collect();
        let l1: f64 = x.iter().map(|&v| (v as f64).abs()).sum();
        prop_assert!(close(kernels::sum(&x), x.iter().map(|&v| v as f64).sum(), l1));
        prop_assert!(close(kernels::norm_l1(&x), l1, l1));
        let sq: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
        prop_assert!(close(kernels::norm_l2(&x), sq.sqrt(), sq.sqrt()));
        let d: f64 = x.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
        let ds: f64 = x.iter().zip(&y).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
        prop_assert!(close(kernels::dot(&x, &y).unwrap(), d, ds));
        // par == seq, bit for bit, on pools of several sizes.
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                assert_eq!(par::sum(&x).to_bits(), kernels::sum(&x).to_bits());
                assert_eq!(par::norm_l1(&x).to_bits(), kernels::norm_l1(&x).to_bits());
                assert_eq!(par::norm_l2(&x).to_bits(), kernels::norm_l2(&x).to_bits());
                assert_eq!(par::dot(&x, &y).unwrap().to_bits(), kernels::dot(&x, &y).unwrap().to_bits());
                let (mut a, mut b) = (y.clone(), y.clone());
                kernels::axpy(0.3, &x, &mut a).unwrap();
                par::axpy(0.3, &x, &mut b).unwrap();
                assert_eq!(a, b);
                kernels::scale(-1.7, &mut a);
                par::scale(-1.7, &mut b);
                assert_eq!(a, b);
                let (mut o1, mut o2) = (vec![0.0; x.len()], vec![0.0; x.len()]);
                kernels::lerp(&x, &y, 0.25, &mut o1).unwrap();
                par::lerp(&x, &y, 0.25, &mut o2).unwrap();
                assert_eq!(o1, o2);
            });
        }
    }

    #[test]
    fn elementwise(x in arb_vec(), alpha in -4f32..4.0, t in -1f32..2.0) {
        let y: Vec<f32> = x.iter().rev().copied().collect();
        let mut a = y.clone();
        kernels::axpy(alpha, &x, &mut a).unwrap();
        for i in 0..x.len() { prop_assert_eq!(a[i], y[i] + alpha * x[i]); }
        let mut o = vec![0.0; x.len()];
        kernels::lerp(&x, &y, t, &mut o).unwrap();
        for i in 0..x.len() { prop_assert_eq!(o[i], x[i] + t * (y[i] - x[i])); }
        kernels::sign(&x, &mut o).unwrap();
        for i in 0..x.len() { prop_assert_eq!(o[i], if x[i] > 0.0 { 1.0 } else if x[i] < 0.0 { -1.0 } else { 0.0 }); }
        kernels::abs(&x, &mut o).unwrap();
        for i in 0..x.len() { prop_assert_eq!(o[i], x[i].abs()); }
        let mut s = x.clone();
        kernels::scale(alpha, &mut s);
        for i in 0..x.len() { prop_assert_eq!(s[i], alpha * x[i]); }
    }

    #[test]
    fn kth_and_mask(x in arb_vec(), kf in 0f64..1.0) {
        let mut sorted: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let k = ((x.len() as f64 * kf) as usize).min(x.len());
        let got = kernels::kth_largest_abs(&x, k);
        if k == 0 {
            prop_assert_eq!(got, None);
        } else {
            prop_assert_eq!(got.map(f32::to_bits), Some(sorted[k - 1].to_bits()));
        }
        prop_assert_eq!(kernels::kth_largest_abs(&x, x.len() + 1), None);
        // Mask: exactly k trues; all strictly above the threshold; ties in index order.
        let mask = kernels::top_k_abs_mask(&x, k);
        prop_assert_eq!(mask.len(), x.len());
        prop_assert_eq!(mask.iter().filter(|&&m| m).count(), k);
        if k > 0 {
            let th = sorted[k - 1];
            let above = x.iter().filter(|v| v.abs() > th).count();
            let mut ties_left = k - above;
            for (i, &v) in x.iter().enumerate() {
                let want = if v.abs() > th {
                    true
                } else if v.abs() == th && ties_left > 0 {
                    ties_left -= 1;
                    true
                } else {
                    false
                };
                prop_assert_eq!(mask[i], want, "index {}", i);
            }
        }
    }
}

#[test]
fn length_mismatch_names_op() {
    let mut o = [0f32; 2];
    for (e, op) in [
        (kernels::axpy(1.0, &[1.0], &mut o).unwrap_err(), "axpy"),
        (
            kernels::lerp(&[1.0], &[1.0, 2.0], 0.5, &mut o).unwrap_err(),
            "lerp",
        ),
        (kernels::dot(&[1.0], &[1.0, 2.0]).unwrap_err(), "dot"),
        (par::dot(&[1.0], &[1.0, 2.0]).unwrap_err(), "dot"),
        (kernels::abs(&[1.0], &mut o).unwrap_err(), "abs"),
    ] {
        assert!(e.to_string().contains(op), "{e}");
    }
}

#[test]
fn nan_ordering() {
    let x = [1.0f32, f32::NAN, -2.0, f32::INFINITY];
    assert!(kernels::kth_largest_abs(&x, 1).unwrap().is_nan());
    assert_eq!(kernels::kth_largest_abs(&x, 2), Some(f32::INFINITY));
    assert_eq!(kernels::kth_largest_abs(&x, 4), Some(1.0));
    assert_eq!(
        kernels::top_k_abs_mask(&x, 2),
        vec![false, true, false, true]
    );
}
