//! Deterministic kernels on `f32` slices.
//!
//! Reductions accumulate in `f64` over fixed chunks of [`CHUNK`] elements; the chunk sums are
//! then added in chunk order. The parallel versions in [`par`] use the same chunking, so their
//! results are bit-identical to the sequential ones for any number of threads.
//!
//! Length mismatches return [`TensorError::Invalid`] naming the operation.
use crate::{Result, TensorError};

/// Elements per reduction chunk.
pub const CHUNK: usize = 4096;

fn check_len(op: &str, a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(TensorError::Invalid(format!(
            "kernels::{op}: length mismatch ({a} vs {b})"
        )));
    }
    Ok(())
}

#[inline]
fn chunk_sum(x: &[f32]) -> f64 {
    x.iter().fold(0f64, |s, &v| s + v as f64)
}

#[inline]
fn chunk_dot(x: &[f32], y: &[f32]) -> f64 {
    x.iter()
        .zip(y)
        .fold(0f64, |s, (&a, &b)| s + a as f64 * b as f64)
}

#[inline]
fn chunk_sq(x: &[f32]) -> f64 {
    x.iter().fold(0f64, |s, &v| s + v as f64 * v as f64)
}

#[inline]
fn chunk_l1(x: &[f32]) -> f64 {
    x.iter().fold(0f64, |s, &v| s + (v as f64).abs())
}

fn combine(parts: impl Iterator<Item = f64>) -> f64 {
    parts.fold(0f64, |s, v| s + v)
}

/// `y ← alpha·x + y`.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) -> Result<()> {
    check_len("axpy", x.len(), y.len())?;
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
    Ok(())
}

/// `x ← alpha·x`.
pub fn scale(alpha: f32, x: &mut [f32]) {
    for v in x {
        *v *= alpha;
    }
}

/// `out ← a + t·(b − a)`.
pub fn lerp(a: &[f32], b: &[f32], t: f32, out: &mut [f32]) -> Result<()> {
    check_len("lerp", a.len(), b.len())?;
    check_len("lerp", a.len(), out.len())?;
    for ((o, &ai), &bi) in out.iter_mut().zip(a).zip(b) {
        *o = ai + t * (bi - ai);
    }
    Ok(())
}

/// `out ← sign(x)`: −1, 0 or +1 (`±0` and NaN give 0).
pub fn sign(x: &[f32], out: &mut [f32]) -> Result<()> {
    check_len("sign", x.len(), out.len())?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        };
    }
    Ok(())
}

/// `out ← |x|`.
pub fn abs(x: &[f32], out: &mut [f32]) -> Result<()> {
    check_len("abs", x.len(), out.len())?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v.abs();
    }
    Ok(())
}

/// Σ x, accumulated in `f64` (fixed chunking).
pub fn sum(x: &[f32]) -> f64 {
    combine(x.chunks(CHUNK).map(chunk_sum))
}

/// Σ x·y, accumulated in `f64` (fixed chunking).
pub fn dot(x: &[f32], y: &[f32]) -> Result<f64> {
    check_len("dot", x.len(), y.len())?;
    Ok(combine(
        x.chunks(CHUNK)
            .zip(y.chunks(CHUNK))
            .map(|(a, b)| chunk_dot(a, b)),
    ))
}

/// √(Σ x²), accumulated in `f64` (fixed chunking).
pub fn norm_l2(x: &[f32]) -> f64 {
    combine(x.chunks(CHUNK).map(chunk_sq)).sqrt()
}

/// Σ |x|, accumulated in `f64` (fixed chunking).
pub fn norm_l1(x: &[f32]) -> f64 {
    combine(x.chunks(CHUNK).map(chunk_l1))
}

/// Bits of |v|: as `u32` these order like the absolute values. NaN has bits above +∞.
#[inline(always)]
fn abs_bits(v: f32) -> u32 {
    v.to_bits() & 0x7FFF_FFFF
}

/// The `k`-th largest of `|x|` (1-based: `k == 1` is the maximum), or `None` if `k == 0` or
/// `k > x.len()`.
///
/// Linear time: a two-pass radix selection (16-bit histograms) over the bit patterns of
/// `|x|` (`select_nth_unstable` on those bits for inputs of at most 4096 elements), never a
/// sort. NaN counts as larger than +∞ (its `|x|` bits are greater), so with
/// NaNs present the top ranks are NaN; the returned value is then a (positive) NaN.
pub fn kth_largest_abs(x: &[f32], k: usize) -> Option<f32> {
    if k == 0 || k > x.len() {
        return None;
    }
    kth_largest_abs_bits(x, k).map(f32::from_bits)
}

fn kth_largest_abs_bits(x: &[f32], k: usize) -> Option<u32> {
    // Small inputs: linear-time selection (`select_nth_unstable`) avoids the 2×64 Ki-bin
    // histogram set-up cost.
    if x.len() <= 4096 {
        let mut bits: Vec<u32> = x.iter().map(|&v| abs_bits(v)).collect();
        let (_, kth, _) = bits.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
        return Some(*kth);
    }
    // Pass 1: histogram of the high 16 bits.
    let mut hist = vec![0usize; 1 << 16];
    for &v in x {
        hist[(abs_bits(v) >> 16) as usize] += 1;
    }
    let mut remaining = k;
    let mut hi = 0u32;
    for b in (0..1usize << 16).rev() {
        if hist[b] >= remaining {
            hi = b as u32;
            break;
        }
        remaining -= hist[b];
    }
    // Pass 2: among elements with that high half, histogram the low 16 bits.
    hist.iter_mut().for_each(|h| *h = 0);
    for &v in x {
        let bits = abs_bits(v);
        if bits >> 16 == hi {
            hist[(bits & 0xFFFF) as usize] += 1;
        }
    }
    for b in (0..1usize << 16).rev() {
        if hist[b] >= remaining {
            return Some((hi << 16) | b as u32);
        }
        remaining -= hist[b];
    }
    None
}

/// A mask with exactly `min(k, x.len())` trues marking the largest `|x|`: every element with
/// `|x|` above the `k`-th largest, then ties at that threshold in index order. NaN counts as
/// larger than +∞ (see [`kth_largest_abs`]).
pub fn top_k_abs_mask(x: &[f32], k: usize) -> Vec<bool> {
    let k = k.min(x.len());
    if k == 0 {
        return vec![false; x.len()];
    }
    let t = kth_largest_abs_bits(x, k).expect("1 <= k <= len");
    let mut mask: Vec<bool> = x.iter().map(|&v| abs_bits(v) > t).collect();
    let mut ties = k - mask.iter().filter(|&&m| m).count();
    for (m, &v) in mask.iter_mut().zip(x) {
        if ties == 0 {
            break;
        }
        if abs_bits(v) == t {
            *m = true;
            ties -= 1;
        }
    }
    mask
}

/// Rayon versions, bit-identical to the sequential kernels for any thread count.
pub mod par {
    use rayon::prelude::*;

    use super::{check_len, chunk_dot, chunk_l1, chunk_sq, chunk_sum, combine, CHUNK};
    use crate::Result;

    fn reduce(parts: Vec<f64>) -> f64 {
        combine(parts.into_iter())
    }

    /// Parallel [`super::sum`].
    pub fn sum(x: &[f32]) -> f64 {
        reduce(x.par_chunks(CHUNK).map(chunk_sum).collect())
    }

    /// Parallel [`super::dot`].
    pub fn dot(x: &[f32], y: &[f32]) -> Result<f64> {
        check_len("par::dot", x.len(), y.len())?;
        Ok(reduce(
            x.par_chunks(CHUNK)
                .zip(y.par_chunks(CHUNK))
                .map(|(a, b)| chunk_dot(a, b))
                .collect(),
        ))
    }

    /// Parallel [`super::norm_l2`].
    pub fn norm_l2(x: &[f32]) -> f64 {
        reduce(x.par_chunks(CHUNK).map(chunk_sq).collect()).sqrt()
    }

    /// Parallel [`super::norm_l1`].
    pub fn norm_l1(x: &[f32]) -> f64 {
        reduce(x.par_chunks(CHUNK).map(chunk_l1).collect())
    }

    /// Parallel [`super::axpy`].
    pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) -> Result<()> {
        check_len("par::axpy", x.len(), y.len())?;
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(yc, xc)| {
                for (yi, &xi) in yc.iter_mut().zip(xc) {
                    *yi += alpha * xi;
                }
            });
        Ok(())
    }

    /// Parallel [`super::scale`].
    pub fn scale(alpha: f32, x: &mut [f32]) {
        x.par_chunks_mut(CHUNK).for_each(|c| super::scale(alpha, c));
    }

    /// Parallel [`super::lerp`].
    pub fn lerp(a: &[f32], b: &[f32], t: f32, out: &mut [f32]) -> Result<()> {
        check_len("par::lerp", a.len(), b.len())?;
        check_len("par::lerp", a.len(), out.len())?;
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (ac, bc))| {
                for ((oi, &ai), &bi) in o.iter_mut().zip(ac).zip(bc) {
                    *oi = ai + t * (bi - ai);
                }
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kth_basic() {
        let x = [1.0f32, -5.0, 3.0, -3.0, 0.0];
        assert_eq!(kth_largest_abs(&x, 1), Some(5.0));
        assert_eq!(kth_largest_abs(&x, 2), Some(3.0));
        assert_eq!(kth_largest_abs(&x, 3), Some(3.0));
        assert_eq!(kth_largest_abs(&x, 5), Some(0.0));
        assert_eq!(kth_largest_abs(&x, 0), None);
        assert_eq!(kth_largest_abs(&x, 6), None);
        assert_eq!(top_k_abs_mask(&x, 2), vec![false, true, true, false, false]);
        assert_eq!(top_k_abs_mask(&x, 9), vec![true; 5]);
        assert!(kth_largest_abs(&[f32::NAN, 1.0], 1).unwrap().is_nan());
    }

    #[test]
    fn sign_nan() {
        let mut o = [9f32; 4];
        sign(&[f32::NAN, -0.0, -2.0, 3.0], &mut o).unwrap();
        assert_eq!(o, [0.0, 0.0, -1.0, 1.0]);
        assert!(sign(&[1.0], &mut o).is_err());
    }
}
