//! dtype conversions.
use half::{bf16, f16};
use mosaic_tensor::convert::{bytes_to_f32, bytes_to_f64, f32_to_bytes, f64_to_bytes};
use mosaic_tensor::{DType, Tensor};
use proptest::prelude::*;

fn to_bf16(x: f32) -> f32 {
    Tensor::from_f32([1], vec![x])
        .unwrap()
        .to_dtype(DType::BF16)
        .to_f32_vec()[0]
}

#[test]
fn hand_picked_ties() {
    assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 1.0);
    assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2f32.powi(-6));
    assert_eq!(to_bf16(-(1.0 + 2f32.powi(-8))), -1.0);
    assert!(to_bf16(f32::NAN).is_nan());
    let t = Tensor::from_f32([2], vec![1.0 + 2f32.powi(-11), f32::NAN])
        .unwrap()
        .to_dtype(DType::F16);
    let v = t.to_f32_vec();
    assert_eq!(v[0], 1.0);
    assert!(v[1].is_nan());
    // f64 -> bf16 rounds once (no double rounding via f32).
    let x = 1.0 + 2f64.powi(-8) + 2f64.powi(-40);
    let mut b = [0u8; 2];
    f64_to_bytes(&[x], DType::BF16, &mut b).unwrap();
    assert_eq!(bf16::from_le_bytes(b).to_f32(), 1.0 + 2f32.powi(-7));
}

#[test]
fn integer_and_bool() {
    let t = Tensor::from_f32([4], vec![-1.5, 0.0, 2.7, 300.0]).unwrap();
    assert_eq!(
        t.to_dtype(DType::I64).as_slice::<i64>().unwrap(),
        &[-1, 0, 2, 300]
    );
    assert_eq!(
        t.to_dtype(DType::U8).as_slice::<u8>().unwrap(),
        &[0, 0, 2, 255]
    );
    assert_eq!(
        t.to_dtype(DType::Bool).as_slice::<u8>().unwrap(),
        &[1, 0, 1, 1]
    );
    let b = Tensor::from_bytes(DType::Bool, [3], &[0, 7, 1]).unwrap();
    assert_eq!(b.as_bytes(), &[0, 1, 1]);
    assert_eq!(b.to_f32_vec(), vec![0.0, 1.0, 1.0]);
    let big = Tensor::from_vec([1], vec![i64::MAX - 1]).unwrap();
    assert_eq!(big.to_dtype(DType::I64), big);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bf16_idempotent(bits in prop::collection::vec(any::<u16>(), 0..64)) {
        let vals: Vec<f32> = bits.iter().map(|&b| bf16::from_bits(b).to_f32()).collect();
        let mut bytes = vec![0u8; vals.len() * 2];
        f32_to_bytes(&vals, DType::BF16, &mut bytes).unwrap();
        let mut back = vec![0f32; vals.len()];
        bytes_to_f32(DType::BF16, &bytes, &mut back).unwrap();
        for (a, b) in vals.iter().zip(&back) {
            prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
    }

    #[test]
    fn matches_half_and_unaligned(vals in prop::collection::vec(any::<f32>(), 0..64), off in 0usize..8) {
        for dt in [DType::F32, DType::F16, DType::BF16, DType::F64] {
            let sz = dt.size_of();
            let mut buf = vec![0u8; off + vals.len() * sz];
            f32_to_bytes(&vals, dt, &mut buf[off..]).unwrap();
            for (i, &v) in vals.iter().enumerate() {
                let c = &buf[off + i * sz..off + (i + 1) * sz];
                match dt {
                    DType::F16 => prop_assert_eq!(c, &f16::from_f32(v).to_le_bytes()[..]),
                    DType::BF16 => prop_assert_eq!(c, &bf16::from_f32(v).to_le_bytes()[..]),
                    DType::F32 => prop_assert_eq!(c, &v.to_le_bytes()[..]),
                    _ => prop_assert_eq!(c, &(v as f64).to_le_bytes()[..]),
                }
            }
            let mut back = vec![0f32; vals.len()];
            bytes_to_f32(dt, &buf[off..], &mut back).unwrap();
            let mut back64 = vec![0f64; vals.len()];
            bytes_to_f64(dt, &buf[off..], &mut back64).unwrap();
            for i in 0..vals.len() {
                let want = match dt {
                    DType::F16 => f16::from_f32(vals[i]).to_f32(),
                    DType::BF16 => bf16::from_f32(vals[i]).to_f32(),
                    _ => vals[i],
                };
                prop_assert!(back[i].to_bits() == want.to_bits() || (want.is_nan() && back[i].is_nan()));
                prop_assert!((back64[i] as f32).to_bits() == want.to_bits() || (want.is_nan() && back64[i].is_nan()));
            }
        }
    }

    #[test]
    fn to_dtype_round_trip(vals in prop::collection::vec(-1000f32..1000.0, 0..50)) {
        let t = Tensor::from_f32([vals.len()], vals.clone()).unwrap();
        prop_assert_eq!(t.to_dtype(DType::F64).to_dtype(DType::F32), t.clone());
        let b = t.to_dtype(DType::BF16);
        prop_assert_eq!(b.to_dtype(DType::F32).to_dtype(DType::BF16), b.clone());
        prop_assert_eq!(b.to_dtype(DType::F64).to_dtype(DType::BF16), b);
    }
}
