//! Counter-based seeded randomness for oracle plugins, and exact samplers on top of it.
//!
//! The ABI's contract ([`RNG_BLOCK`]): the value at global index `g` of a batch draws its
//! randomness from ChaCha20 stream `g / RNG_BLOCK` of the call's seed. [`for_each_block`]
//! walks a batch block by block with the right stream, so an oracle's report for a value
//! depends only on the seed, the value and its index — never on how the host split the batch
//! across threads or calls.
//!
//! Every sampler here is exact: a [`Bernoulli`] fires with probability `threshold / 2^64`
//! exactly, [`uniform_below`] is exactly uniform (Lemire's multiply with rejection) and
//! [`bernoulli_bits`] draws independent bits of that same probability. Oracles round their
//! ideal probabilities to the 2^-64 grid in the direction that keeps the privacy ratio at or
//! below `e^ε`, and use the rounded values in their estimators and output distributions.

use mosaic_abi::{RngSeed, RNG_BLOCK};
use rand_chacha::{
    rand_core::{RngCore, SeedableRng},
    ChaCha20Rng,
};

/// ChaCha20 stream `block` of `seed`.
pub fn stream(seed: &RngSeed, block: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(seed.bytes);
    rng.set_stream(block);
    rng
}

/// Walk `values` (global indices `first_index..`, `first_index` a multiple of
/// [`RNG_BLOCK`]) one random stream at a time: `f(bits, chunk)` gets the values of one block
/// and a bit source on that block's stream.
pub fn for_each_block(
    values: &[u64],
    first_index: u64,
    seed: &RngSeed,
    mut f: impl FnMut(&mut Bits, &[u64]),
) {
    debug_assert_eq!(first_index % RNG_BLOCK, 0);
    for (b, chunk) in values.chunks(RNG_BLOCK as usize).enumerate() {
        let mut bits = Bits::new(stream(seed, first_index / RNG_BLOCK + b as u64));
        f(&mut bits, chunk);
    }
}

/// A source of random words and of single bits from one ChaCha20 stream.
pub struct Bits {
    rng: ChaCha20Rng,
    buf: u64,
    avail: u32,
}

impl Bits {
    /// A bit source on `rng`.
    pub fn new(rng: ChaCha20Rng) -> Bits {
        Bits {
            rng,
            buf: 0,
            avail: 0,
        }
    }

    /// 64 fresh random bits (not from the bit buffer).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// The next `k` random bits (`1 ≤ k ≤ 64`) from the bit buffer, in the low bits.
    #[inline]
    pub fn take(&mut self, k: u32) -> u64 {
        debug_assert!((1..=64).contains(&k));
        if k <= self.avail {
            let v = self.buf & mask(k);
            self.buf = if k == 64 { 0 } else { self.buf >> k };
            self.avail -= k;
            v
        } else {
            let fresh = self.rng.next_u64();
            let have = self.avail;
            let need = k - have;
            let v = (self.buf | if have == 0 { fresh } else { fresh << have }) & mask(k);
            self.buf = if need == 64 { 0 } else { fresh >> need };
            self.avail = 64 - need;
            v
        }
    }
}

#[inline]
fn mask(k: u32) -> u64 {
    if k >= 64 {
        u64::MAX
    } else {
        (1u64 << k) - 1
    }
}

/// `2^64` as a real.
pub const TWO_64: f64 = 18_446_744_073_709_551_616.0;

/// A Bernoulli trial that succeeds with probability `threshold / 2^64` exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bernoulli {
    /// Success when a uniform 64-bit word is below it.
    pub threshold: u64,
}

impl Bernoulli {
    /// The largest grid probability `≤ p` (`p` in `[0, 1]`).
    pub fn at_most(p: f64) -> Bernoulli {
        let t = (p.clamp(0.0, 1.0) * TWO_64).floor();
        Bernoulli {
            threshold: if t >= TWO_64 { u64::MAX } else { t as u64 },
        }
    }

    /// The smallest grid probability `≥ p` (`p` in `[0, 1)`; `1 − 2^-64` at most).
    pub fn at_least(p: f64) -> Bernoulli {
        let t = (p.clamp(0.0, 1.0) * TWO_64).ceil();
        Bernoulli {
            threshold: if t >= TWO_64 { u64::MAX } else { t as u64 },
        }
    }

    /// The success probability (as a real; exact to f64 precision).
    pub fn p(&self) -> f64 {
        self.threshold as f64 / TWO_64
    }

    /// The failure probability `1 − p`, computed without cancellation.
    pub fn q(&self) -> f64 {
        // 2^64 − threshold, exactly, as a real.
        (u64::MAX - self.threshold) as f64 / TWO_64 + 1.0 / TWO_64
    }

    /// One trial.
    #[inline]
    pub fn sample(&self, bits: &mut Bits) -> bool {
        bits.next_u64() < self.threshold
    }
}

/// Exactly uniform in `0..s` (`s ≥ 1`): Lemire's widening multiply with rejection.
#[inline]
pub fn uniform_below(bits: &mut Bits, s: u64) -> u64 {
    debug_assert!(s >= 1);
    let mut m = (bits.next_u64() as u128) * (s as u128);
    if (m as u64) < s {
        let t = s.wrapping_neg() % s;
        while (m as u64) < t {
            m = (bits.next_u64() as u128) * (s as u128);
        }
    }
    (m >> 64) as u64
}

/// Fill the low `nbits` bits of `out` (`⌈nbits / 64⌉` words) with independent bits that are
/// 1 with probability `threshold / 2^64`; higher bits are 0.
///
/// Each bit is the comparison `U < threshold / 2^64` of its own uniform `U`, made bit-serially
/// from the most significant bit: the first level takes a whole fresh word for the 64 lanes
/// of an output word; after it only the lanes still undecided consume a fresh random bit per
/// level (placed with a parallel bit deposit), about 2 random bits per lane instead of 64.
/// Output words are processed in pairs, each with its own bit buffer, so that their
/// dependency chains overlap; a buffer too short for a level is replaced by a fresh word (its
/// leftover is dropped). The same bits with or without the BMI2 instructions.
pub fn bernoulli_bits(bits: &mut Bits, threshold: u64, out: &mut [u64], nbits: usize) {
    debug_assert!(out.len() * 64 >= nbits);
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("bmi2")
            && std::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the features were detected at run time.
            unsafe { fill_bmi2(bits, threshold, out, nbits) };
            return;
        }
    }
    fill_soft(bits, threshold, out, nbits);
}

/// The sampler's loop, with the low `k` bits of `x` and the deposit of `s` into `m` spelled
/// per instruction set as expressions (no closures), so that the BMI2 build inlines the
/// instructions.
macro_rules! fill_body {
    (
        $bits:ident, $threshold:ident, $out:ident, $nbits:ident,
        ($x:ident, $k:ident) => $low:expr,
        ($s:ident, $m:ident) => $deposit:expr
    ) => {{
        let words = $out.len();
        let top = (($threshold >> 63) & 1).wrapping_neg();
        let mut buf = [0u64; GROUP];
        let mut avail = [0u32; GROUP];
        let mut start = 0;
        while start < words {
            let mut undecided = [0u64; GROUP];
            let mut result = [0u64; GROUP];
            for i in 0..GROUP {
                let w = start + i;
                if w < words {
                    let lanes = $nbits.saturating_sub(64 * w).min(64) as u32;
                    let m = mask(lanes);
                    // Level 1: a whole fresh word. A lane stays undecided while U's bits
                    // equal the threshold's; at the first difference U < threshold iff the
                    // threshold's bit is 1.
                    let r = if lanes == 0 { 0 } else { $bits.next_u64() & m };
                    result[i] = m & !r & top;
                    undecided[i] = m & !(r ^ top);
                }
            }
            let mut level = 62u32;
            loop {
                let t = (($threshold >> level) & 1).wrapping_neg();
                let mut any = 0u64;
                for i in 0..GROUP {
                    let k = undecided[i].count_ones();
                    if k > avail[i] {
                        buf[i] = $bits.next_u64();
                        avail[i] = 64;
                    }
                    let src = {
                        let ($x, $k) = (buf[i], k);
                        $low
                    };
                    buf[i] = if k >= 64 { 0 } else { buf[i] >> k };
                    avail[i] -= k;
                    let r = {
                        let ($s, $m) = (src, undecided[i]);
                        $deposit
                    };
                    result[i] |= undecided[i] & !r & t;
                    undecided[i] &= !(r ^ t);
                    any |= undecided[i];
                }
                // After 64 levels an undecided lane has U's first 64 bits equal to the
                // threshold: U ≥ threshold / 2^64, a failure.
                if any == 0 || level == 0 {
                    break;
                }
                level -= 1;
            }
            for i in 0..GROUP {
                if start + i < words {
                    $out[start + i] = result[i];
                }
            }
            start += GROUP;
        }
    }};
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi1,bmi2,popcnt")]
unsafe fn fill_bmi2(bits: &mut Bits, threshold: u64, out: &mut [u64], nbits: usize) {
    use core::arch::x86_64::{_bzhi_u64, _pdep_u64};
    fill_body!(
        bits,
        threshold,
        out,
        nbits,
        (x, k) => _bzhi_u64(x, k),
        (s, m) => _pdep_u64(s, m)
    )
}

/// Output words processed together.
const GROUP: usize = 2;

fn fill_soft(bits: &mut Bits, threshold: u64, out: &mut [u64], nbits: usize) {
    fill_body!(
        bits,
        threshold,
        out,
        nbits,
        (x, k) => x & mask(k),
        (s, m) => soft_deposit(s, m)
    )
}

/// Parallel bit deposit: the low bits of `src` placed, in order, at the set bits of `mask`
/// (what BMI2's `pdep` does).
fn soft_deposit(mut src: u64, mut mask: u64) -> u64 {
    let mut out = 0;
    while mask != 0 {
        let low = mask & mask.wrapping_neg();
        if src & 1 == 1 {
            out |= low;
        }
        src >>= 1;
        mask &= mask - 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(s: u64) -> Bits {
        Bits::new(stream(&RngSeed::from_u64(s), 0))
    }

    #[test]
    fn take_returns_the_stream_bits_in_order() {
        let mut a = bits(1);
        let mut b = bits(1);
        let w0 = a.next_u64();
        let w1 = a.next_u64();
        let mut got = 0u128;
        let mut at = 0;
        for k in [3u32, 17, 1, 40, 3, 64] {
            if at + k > 128 {
                break;
            }
            got |= (b.take(k) as u128) << at;
            at += k;
        }
        let want = (w0 as u128) | ((w1 as u128) << 64);
        let m = if at == 128 {
            u128::MAX
        } else {
            (1u128 << at) - 1
        };
        assert_eq!(at, 128);
        assert_eq!(got, want & m);
    }

    #[test]
    fn software_deposit_matches_the_definition() {
        assert_eq!(soft_deposit(0b101, 0b1110_0000), 0b1010_0000);
        assert_eq!(soft_deposit(u64::MAX, 0), 0);
        assert_eq!(soft_deposit(0b11, 1 << 63 | 1), 1 << 63 | 1);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("bmi2") {
            let mut r = bits(9);
            for _ in 0..1000 {
                let (s, m) = (r.next_u64(), r.next_u64());
                // SAFETY: BMI2 detected above.
                assert_eq!(soft_deposit(s, m), unsafe {
                    core::arch::x86_64::_pdep_u64(s, m)
                });
            }
        }
    }

    #[test]
    fn bernoulli_bits_are_the_same_with_and_without_bmi2_and_have_the_right_rate() {
        for &t in &[
            0u64,
            1,
            u64::MAX,
            Bernoulli::at_least(0.27).threshold,
            Bernoulli::at_most(0.5).threshold,
            Bernoulli::at_most(0.001).threshold,
        ] {
            let n: usize = 1000 * 64 + 13;
            let mut a = vec![0u64; n.div_ceil(64)];
            let mut b = a.clone();
            fill_soft(&mut bits(3), t, &mut a, n);
            bernoulli_bits(&mut bits(3), t, &mut b, n);
            assert_eq!(a, b, "threshold {t}");
            assert_eq!(a.last().unwrap() >> 13, 0);
            let ones: u64 = a.iter().map(|w| w.count_ones() as u64).sum();
            let p = t as f64 / TWO_64;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (ones as f64 - n as f64 * p).abs() <= 6.0 * sd + 1e-9,
                "threshold {t}: {ones} ones of {n}"
            );
        }
    }

    #[test]
    fn bernoulli_grid_rounding_goes_the_asked_way() {
        for p in [0.0, 1e-30, 0.1, 1.0 / 3.0, 0.5, 0.999, 1.0] {
            assert!(Bernoulli::at_most(p).p() <= p);
            if p < 1.0 {
                assert!(Bernoulli::at_least(p).p() >= p, "{p}");
            }
        }
        let b = Bernoulli::at_most(0.25);
        assert_eq!(b.threshold, 1u64 << 62);
        assert_eq!(b.q(), 0.75);
        assert_eq!(Bernoulli::at_least(1.0).threshold, u64::MAX);
    }

    #[test]
    fn uniform_below_is_in_range_and_covers_it() {
        let mut r = bits(5);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[uniform_below(&mut r, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(uniform_below(&mut r, 1), 0);
    }
}
