//! Linear-time selection over `f32` magnitudes, with ties broken by element index.
//!
//! Magnitudes are ranked by the bit patterns of `|x|` read as `u32`: for non-negative floats
//! that order is the numeric order (NaN above +inf, `-0 == +0`). Selection is an MSB-first
//! radix select (four histogram passes of 8 bits), O(n) time and O(1) extra memory besides
//! the output mask; no sort.
//!
//! Tie-breaking ([`TieBreak`]): with `index`, among equal magnitudes the lower index ranks
//! first in both directions (a *stable* sort's order). mergekit calls torch's unstable CPU
//! `argsort`, whose order among exactly equal magnitudes is a by-product of introsort; with
//! `torch` (the default) a cut that splits equal magnitudes is resolved by replaying that
//! sort (`torch_order`), so results match mergekit bit for bit. Ties at a cut are
//! rare in f32 and common in bf16.

/// The ordering key of `|x|`.
pub(crate) fn magnitude_key(x: f64) -> u32 {
    (x as f32).to_bits() & 0x7fff_ffff
}

/// The key of rank `r` (0-based, ascending) and how many keys are strictly below it.
pub(crate) fn select(keys: &[u32], mut r: usize) -> (u32, usize) {
    let (mut prefix, mut mask, mut less) = (0u32, 0u32, 0usize);
    for shift in [24u32, 16, 8, 0] {
        let mut hist = [0usize; 256];
        for &k in keys {
            if k & mask == prefix {
                hist[((k >> shift) & 0xff) as usize] += 1;
            }
        }
        let mut digit = 0usize;
        while r >= hist[digit] {
            r -= hist[digit];
            less += hist[digit];
            digit += 1;
        }
        prefix |= (digit as u32) << shift;
        mask |= 0xff << shift;
    }
    (prefix, less)
}

/// Which elements have a rank in `lo..hi` when `keys` are ordered ascending, ties by index,
/// and whether equal keys straddle a cut (so that another tie order would keep other ones).
pub(crate) fn band_mask(keys: &[u32], lo: usize, hi: usize) -> (Vec<bool>, bool) {
    let hi = hi.min(keys.len());
    if lo >= hi {
        return (vec![false; keys.len()], false);
    }
    let (k_lo, less_lo) = select(keys, lo);
    let (k_hi, less_hi) = select(keys, hi - 1);
    let (mut seen_lo, mut seen_hi) = (0usize, 0usize);
    let mask = keys
        .iter()
        .map(|&k| {
            let rank = if k == k_lo {
                seen_lo += 1;
                less_lo + seen_lo - 1
            } else if k == k_hi {
                seen_hi += 1;
                less_hi + seen_hi - 1
            } else {
                return k > k_lo && k < k_hi;
            };
            (lo..hi).contains(&rank)
        })
        .collect();
    let equal_hi = if k_hi == k_lo { seen_lo } else { seen_hi };
    (mask, less_lo < lo || less_hi + equal_hi > hi)
}

/// How equal magnitudes on either side of a cut are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TieBreak {
    /// Lower index first (a stable sort's order); selection stays O(n).
    Index,
    /// The order of torch's unstable CPU sort, as mergekit 0.1.5 gets it; O(n) unless a tie
    /// straddles a cut, then O(n log n) for that tensor.
    Torch,
}

impl TieBreak {
    /// Parse the `tie_break` parameter.
    pub fn parse(s: &str) -> Result<TieBreak, mosaic_abi::RError> {
        match s {
            "index" => Ok(TieBreak::Index),
            "torch" => Ok(TieBreak::Torch),
            other => Err(mosaic_abi::RError::param(
                "tie_break",
                format!("unknown order {other:?} (known: torch, index)"),
            )),
        }
    }
}

fn torch_band(values: &[f64], descending: bool, lo: usize, hi: usize) -> Vec<bool> {
    let mags: Vec<f32> = values.iter().map(|&x| (x as f32).abs()).collect();
    let order = crate::torch_order::argsort(&mags, descending);
    let mut keep = vec![false; values.len()];
    for &i in &order[lo.min(order.len())..hi.min(order.len())] {
        keep[i as usize] = true;
    }
    keep
}

/// Keep the `k` largest magnitudes, as the first `k` entries of a descending sort would.
pub(crate) fn top_k_mask(values: &[f64], k: usize, ties: TieBreak) -> Vec<bool> {
    // Reversing the key order turns "largest first" into an ascending selection while
    // keeping ties in index order.
    let keys: Vec<u32> = values.iter().map(|&x| !magnitude_key(x)).collect();
    match band_mask(&keys, 0, k) {
        (_, true) if ties == TieBreak::Torch => torch_band(values, true, 0, k),
        (mask, _) => mask,
    }
}

/// Keep ascending magnitude ranks `lo..hi`.
pub(crate) fn magnitude_band_mask(
    values: &[f64],
    lo: usize,
    hi: usize,
    ties: TieBreak,
) -> Vec<bool> {
    let keys: Vec<u32> = values.iter().map(|&x| magnitude_key(x)).collect();
    match band_mask(&keys, lo, hi) {
        (_, true) if ties == TieBreak::Torch => torch_band(values, false, lo, hi),
        (mask, _) => mask,
    }
}

/// The 0-based rank of each key in a stable ascending order: an LSD radix sort (four
/// counting passes of 8 bits), O(n).
pub(crate) fn stable_ranks(keys: &[u32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    let mut next = vec![0usize; keys.len()];
    for shift in [0u32, 8, 16, 24] {
        let mut start = [0usize; 257];
        for &k in keys {
            start[((k >> shift) & 0xff) as usize + 1] += 1;
        }
        for d in 0..256 {
            start[d + 1] += start[d];
        }
        for &i in &order {
            let d = ((keys[i] >> shift) & 0xff) as usize;
            next[start[d]] = i;
            start[d] += 1;
        }
        std::mem::swap(&mut order, &mut next);
    }
    let mut rank = vec![0usize; keys.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_ranks(keys: &[u32]) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..keys.len()).collect();
        idx.sort_by_key(|&i| (keys[i], i));
        let mut rank = vec![0; keys.len()];
        for (r, &i) in idx.iter().enumerate() {
            rank[i] = r;
        }
        rank
    }

    #[test]
    fn band_and_ranks_agree_with_a_stable_sort() {
        // Many ties and keys differing in every byte.
        let mut state = 12345u64;
        for n in [0usize, 1, 2, 7, 64, 300] {
            let keys: Vec<u32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let v = (state >> 33) as u32;
                    if matches!(v % 3, 0) {
                        v % 5
                    } else {
                        v
                    }
                })
                .collect();
            let want = sorted_ranks(&keys);
            assert_eq!(stable_ranks(&keys), want);
            for (lo, hi) in [(0, n), (0, n / 2), (n / 3, n), (n / 4, n / 2 + 1), (2, 1)] {
                let (m, _) = band_mask(&keys, lo, hi);
                for i in 0..n {
                    assert_eq!(
                        m[i],
                        want[i] >= lo && want[i] < hi.min(n),
                        "n {n} [{lo},{hi}) i {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn top_k_keeps_largest_and_lower_index_on_ties() {
        let v = [0.5, -2.0, 1.0, -1.0, 0.0, 1.0];
        let m = top_k_mask(&v, 3, TieBreak::Index);
        assert_eq!(m, [false, true, true, true, false, false]);
        let m = magnitude_band_mask(&v, 1, 4, TieBreak::Index);
        // ascending: 0.0(4) 0.5(0) 1.0(2) -1.0(3) 1.0(5) -2.0(1)
        assert_eq!(m, [true, false, true, true, false, false]);
    }
}
