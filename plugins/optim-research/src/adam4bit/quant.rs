//! The 4-bit codes of Li et al. 2023 ("Memory Efficient Optimizers with 4-bit States",
//! NeurIPS 2023, §3–4): each block of `block_size` values is divided by its absolute maximum
//! and every normalised value is stored as the index (4 bits, two per byte, low nibble
//! first) of the nearest entry of a 16-entry map.
//!
//! - First moment, signed: the dynamic-exponent (DE) map of the paper (bitsandbytes'
//!   construction with 4 bits): 0, ±1 and ±10^(e-2) times the midpoints of 2^e equal
//!   sub-intervals of [0.1, 1] for e = 0, 1, 2.
//! - Second moment, non-negative: the linear map without zero, `(i + 1) / 16` — the paper's
//!   fix for the zero-point problem: a small second moment is never rounded to 0, so the
//!   update `m / √v` never divides by a zero moment.

/// The signed dynamic-exponent map (sorted ascending).
pub fn dynamic_exponent_map() -> [f32; 16] {
    let mut v: Vec<f64> = vec![0.0, 1.0];
    for e in 0..3i32 {
        let items = (1usize << e) + 1;
        let step = 0.9 / (items - 1) as f64;
        let scale = 10f64.powi(e - 2);
        for k in 0..items - 1 {
            let lo = 0.1 + step * k as f64;
            let mid = (lo + (lo + step)) / 2.0;
            v.push(scale * mid);
            v.push(-scale * mid);
        }
    }
    v.sort_by(f64::total_cmp);
    let mut out = [0.0f32; 16];
    for (o, x) in out.iter_mut().zip(v) {
        *o = x as f32;
    }
    out
}

/// The zero-excluding linear map `(i + 1) / 16`.
pub fn linear_map_without_zero() -> [f32; 16] {
    std::array::from_fn(|i| (i + 1) as f32 / 16.0)
}

/// The index of the entry of the ascending `map` nearest to `x` (the lower on a tie).
#[inline]
pub fn nearest(map: &[f32; 16], x: f32) -> u8 {
    // Binary search on the 15 midpoints.
    let (mut lo, mut hi) = (0usize, 15usize);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x > (map[mid] + map[mid + 1]) * 0.5 {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo as u8
}

/// The 4-bit code of element `i` of a packed buffer.
#[inline]
pub fn code(packed: &[u8], i: usize) -> u8 {
    let b = packed[i / 2];
    if i.is_multiple_of(2) {
        b & 0x0f
    } else {
        b >> 4
    }
}

/// Store the 4-bit code of element `i`.
#[inline]
pub fn set_code(packed: &mut [u8], i: usize, c: u8) {
    let b = &mut packed[i / 2];
    *b = if i.is_multiple_of(2) {
        (*b & 0xf0) | (c & 0x0f)
    } else {
        (*b & 0x0f) | (c << 4)
    };
}

/// Bytes of packed codes for `n` values.
pub fn packed_len(n: usize) -> usize {
    n.div_ceil(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_the_papers() {
        let de = dynamic_exponent_map();
        let want = [
            -0.8875, -0.6625, -0.4375, -0.2125, -0.0775, -0.0325, -0.0055, 0.0, 0.0055, 0.0325,
            0.0775, 0.2125, 0.4375, 0.6625, 0.8875, 1.0,
        ];
        for (a, b) in de.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{de:?}");
        }
        let lin = linear_map_without_zero();
        assert_eq!((lin[0], lin[15]), (0.0625, 1.0));
        assert!(lin.iter().all(|&x| x > 0.0));
    }

    #[test]
    fn nearest_and_packing() {
        let lin = linear_map_without_zero();
        assert_eq!(nearest(&lin, 0.0), 0);
        assert_eq!(nearest(&lin, 1.0), 15);
        assert_eq!(nearest(&lin, 0.09375), 0, "a tie goes to the lower entry");
        assert_eq!(nearest(&lin, 0.0938), 1);
        let mut p = [0u8; 2];
        set_code(&mut p, 0, 3);
        set_code(&mut p, 1, 12);
        set_code(&mut p, 2, 15);
        assert_eq!(p, [0xc3, 0x0f]);
        assert_eq!((code(&p, 0), code(&p, 1), code(&p, 2)), (3, 12, 15));
        assert_eq!(packed_len(5), 3);
    }
}
