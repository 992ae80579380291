//! Hash functions shared by the hashing oracles (OLH, BLH, CMS, HCMS, RAPPOR).
//!
//! The analyses of these oracles treat their hash functions as random functions; we use
//! keyed mixing functions with full avalanche (each input bit flips each output bit with
//! probability ½ up to a small bias), so a key picks one function of the family. The local
//! hashing family is built from 32-bit operations only, so the server's loop over the domain
//! (OLH's support counting) vectorizes to 8 or 16 lanes.

/// Chris Wellons' `lowbias32` finalizer: a bijection on `u32` with low avalanche bias.
#[inline(always)]
pub fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The SplitMix64 finalizer: a bijection on `u64` with full avalanche.
#[inline(always)]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    x
}

/// `⌊h·g / 2^32⌋`: a 32-bit hash mapped to `0..g` (Lemire's multiply-shift range reduction).
#[inline(always)]
pub fn reduce32(h: u32, g: u32) -> u32 {
    ((h as u64 * g as u64) >> 32) as u32
}

/// `⌊h·m / 2^64⌋`: a 64-bit hash mapped to `0..m`.
#[inline(always)]
pub fn reduce64(h: u64, m: u64) -> u64 {
    ((h as u128 * m as u128) >> 64) as u64
}

/// The hashes in `0..2^32` that [`reduce32`] maps to `y` of `0..g`: `start..start + width`
/// (as a wrapping range: `h − start < width`).
#[inline]
pub fn reduce32_range(y: u32, g: u32) -> (u32, u32) {
    let lo = ((y as u64) << 32).div_ceil(g as u64);
    let hi = (((y as u64) + 1) << 32).div_ceil(g as u64);
    (lo as u32, (hi - lo) as u32)
}

/// The two 32-bit keys of local hash function `seed` for items whose high 32 bits are `hi`
/// (items below 2^32 have `hi = 0`, so the keys are fixed per report).
#[inline(always)]
pub fn lh_keys(seed: u32, hi: u32) -> (u32, u32) {
    let a = mix32(seed ^ 0x9e37_79b9);
    let b = mix32(hi.wrapping_add(a) ^ 0x85eb_ca6b);
    (a ^ b, mix32(b ^ 0x27d4_eb2f))
}

/// The 32-bit local hash of the item with low bits `lo` under `keys`.
#[inline(always)]
pub fn lh_hash32(keys: (u32, u32), lo: u32) -> u32 {
    mix32(mix32(lo ^ keys.0) ^ keys.1)
}

/// Local hash function `seed` of item `x`, in `0..g`.
#[inline]
pub fn lh_hash(seed: u32, x: u64, g: u32) -> u32 {
    reduce32(lh_hash32(lh_keys(seed, (x >> 32) as u32), x as u32), g)
}

/// A keyed 64-bit hash of items (one key per hash function of a sketch or Bloom filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemHash {
    k0: u64,
    k1: u64,
}

impl ItemHash {
    /// Hash function `index` of the family picked by `family_seed`.
    pub fn new(family_seed: u64, index: u64) -> ItemHash {
        let k0 = mix64(family_seed ^ mix64(index.wrapping_add(0x9e37_79b9_7f4a_7c15)));
        ItemHash {
            k0,
            k1: mix64(k0 ^ 0xd6e8_feb8_6659_fd93),
        }
    }

    /// The 64-bit hash of `x`.
    #[inline]
    pub fn hash(&self, x: u64) -> u64 {
        mix64(mix64(x ^ self.k0) ^ self.k1)
    }

    /// The hash of `x` in `0..m`.
    #[inline]
    pub fn bucket(&self, x: u64, m: u64) -> u64 {
        reduce64(self.hash(x), m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_ranges_partition_the_hashes() {
        for g in [2u32, 3, 4, 7, 56, 1000] {
            let mut next = 0u64;
            for y in 0..g {
                let (lo, w) = reduce32_range(y, g);
                assert_eq!(lo as u64, next, "g {g} y {y}");
                next += w as u64;
                assert_eq!(reduce32(lo, g), y);
                assert_eq!(reduce32(lo.wrapping_add(w - 1), g), y);
                if (lo as u64 + w as u64) < (1 << 32) {
                    assert_eq!(reduce32(lo + w, g), y + 1);
                }
            }
            assert_eq!(next, 1 << 32);
        }
    }

    #[test]
    fn local_hash_collides_at_rate_one_over_g() {
        // Over 200 000 random seeds, items x and x' collide with probability 1/g: the count is
        // within 6 standard deviations of n/g for several pairs (near and far items).
        let n = 200_000u32;
        for g in [2u32, 4, 56] {
            for (x, y) in [
                (0u64, 1u64),
                (5, 6),
                (1, 1 << 20),
                (3, (1 << 32) + 3),
                (77, 1023),
            ] {
                let hits = (0..n)
                    .filter(|&s| {
                        let s = mix32(s.wrapping_mul(0x2545_f491));
                        lh_hash(s, x, g) == lh_hash(s, y, g)
                    })
                    .count() as f64;
                let p = 1.0 / g as f64;
                let sd = (n as f64 * p * (1.0 - p)).sqrt();
                assert!(
                    (hits - n as f64 * p).abs() < 6.0 * sd,
                    "g {g} items {x},{y}: {hits} collisions of {n}"
                );
            }
        }
    }

    #[test]
    fn item_hashes_are_keyed_and_spread() {
        let a = ItemHash::new(1, 0);
        let b = ItemHash::new(1, 1);
        let c = ItemHash::new(2, 0);
        assert_ne!(a.hash(5), b.hash(5));
        assert_ne!(a.hash(5), c.hash(5));
        assert_eq!(a, ItemHash::new(1, 0));
        let mut buckets = [0u32; 16];
        for x in 0..16_000u64 {
            buckets[a.bucket(x, 16) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&c| (850..1150).contains(&c)),
            "{buckets:?}"
        );
    }
}
