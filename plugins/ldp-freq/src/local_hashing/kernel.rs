//! The server's support counting for local hashing: for every report `(seed, y)` and every
//! item `x`, whether `H_seed(x) = y`. That is `n · d` hash evaluations; this kernel makes each
//! one a handful of 32-bit lane operations.
//!
//! Layout: each report is prepared once (its two hash keys and the range of 32-bit hashes
//! that reduce to `y`, so the test is one subtraction and one unsigned comparison, no
//! division); items are processed in tiles of [`TILE`] whose counters stay in L1 while every
//! report streams over them. The inner loop over a tile is plain integer code that LLVM
//! vectorizes; it is compiled for AVX-512 and AVX2 as well as the baseline and chosen at run
//! time (the same integer operations, so the same counts on every CPU).

use mosaic_ldp::hash::{lh_hash32, lh_keys, mix32, reduce32_range};

/// Items per tile (16 KiB of `u32` counters).
pub const TILE: usize = 4096;

/// One report ready for the kernel.
#[derive(Clone, Copy, Debug)]
pub struct Prepared {
    k0: u32,
    k1: u32,
    lo: u32,
    width: u32,
    weight: u32,
}

impl Prepared {
    /// Report `(seed, y)` of a local hash into `0..g`, for items whose high 32 bits are `hi`,
    /// counted `weight` times.
    pub fn new(seed: u32, y: u32, g: u32, hi: u32, weight: u32) -> Prepared {
        let (k0, k1) = lh_keys(seed, hi);
        let (lo, width) = reduce32_range(y, g);
        Prepared {
            k0,
            k1,
            lo,
            width,
            weight,
        }
    }

    /// Whether the report supports the item with low bits `x` (the items' high bits were
    /// given to [`Prepared::new`]).
    #[inline(always)]
    pub fn supports(&self, x: u32) -> bool {
        lh_hash32((self.k0, self.k1), x).wrapping_sub(self.lo) < self.width
    }
}

/// `counts[i] += Σ_r weight_r · [report r supports items[i]]`. The weights of `reports` must
/// sum to less than 2^32 (the counters are `u32`).
pub fn count_support(reports: &[Prepared], items: &[u32], counts: &mut [u32]) {
    debug_assert_eq!(items.len(), counts.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected at run time.
            return unsafe { count_avx512(reports, items, counts) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the feature was detected at run time.
            return unsafe { count_avx2(reports, items, counts) };
        }
    }
    count(reports, items, counts)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn count_avx512(reports: &[Prepared], items: &[u32], counts: &mut [u32]) {
    count(reports, items, counts)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn count_avx2(reports: &[Prepared], items: &[u32], counts: &mut [u32]) {
    count(reports, items, counts)
}

#[inline(always)]
fn count(reports: &[Prepared], items: &[u32], counts: &mut [u32]) {
    for (tile_items, tile_counts) in items.chunks(TILE).zip(counts.chunks_mut(TILE)) {
        for r in reports {
            let (k0, k1, lo, width, weight) = (r.k0, r.k1, r.lo, r.width, r.weight);
            for (c, &x) in tile_counts.iter_mut().zip(tile_items) {
                let h = mix32(mix32(x ^ k0) ^ k1);
                let hit = h.wrapping_sub(lo) < width;
                *c = c.wrapping_add(weight & (hit as u32).wrapping_neg());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_ldp::hash::lh_hash;

    #[test]
    fn kernel_counts_what_the_hash_says_on_every_path() {
        let g = 5;
        let reports: Vec<(u32, u32)> = (0..300u32).map(|i| (mix32(i), i % g)).collect();
        let items: Vec<u32> = (0..5000).collect();
        let prepared: Vec<Prepared> = reports
            .iter()
            .map(|&(s, y)| Prepared::new(s, y, g, 0, 2))
            .collect();
        let mut fast = vec![0u32; items.len()];
        count_support(&prepared, &items, &mut fast);
        let mut plain = vec![0u32; items.len()];
        count(&prepared, &items, &mut plain);
        assert_eq!(fast, plain);
        for (i, &x) in items.iter().enumerate().step_by(97) {
            let want = reports
                .iter()
                .filter(|&&(s, y)| lh_hash(s, x as u64, g) == y)
                .count() as u32
                * 2;
            assert_eq!(fast[i], want, "item {x}");
        }
    }
}
