//! [`Bits`]: a ChaCha20 stream handed out a few bits at a time.
//!
//! The exact samplers decide with fair coins and short uniform integers, so most draws need a
//! handful of bits, not 64. `Bits` buffers one 64-bit word and consumes it bit by bit, in a
//! fixed order (least significant first), so the same seed always gives the same decisions.

use mosaic_abi::RngSeed;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

#[cfg(test)]
mod tests;

/// Uniformly random bits from a generator, buffered 64 at a time.
pub struct Bits<R = ChaCha20Rng> {
    rng: R,
    buf: u64,
    left: u32,
}

impl Bits<ChaCha20Rng> {
    /// The ChaCha20 stream keyed by `seed` (the only way randomness enters a Mosaic mechanism).
    pub fn from_seed(seed: &RngSeed) -> Bits<ChaCha20Rng> {
        Bits::new(ChaCha20Rng::from_seed(seed.bytes))
    }
}

impl<R: RngCore> Bits<R> {
    /// Bits drawn from `rng`.
    pub fn new(rng: R) -> Bits<R> {
        Bits {
            rng,
            buf: 0,
            left: 0,
        }
    }

    /// The underlying generator.
    pub fn get_ref(&self) -> &R {
        &self.rng
    }

    /// One fair coin.
    #[inline]
    pub fn bit(&mut self) -> bool {
        if self.left == 0 {
            self.buf = self.rng.next_u64();
            self.left = 64;
        }
        let b = self.buf & 1 == 1;
        self.buf >>= 1;
        self.left -= 1;
        b
    }

    /// `n` uniformly random bits (`n ≤ 64`) as the low bits of a `u64`.
    #[inline]
    pub fn take(&mut self, n: u32) -> u64 {
        debug_assert!(n <= 64);
        if n == 0 {
            return 0;
        }
        if n <= self.left {
            let v = self.buf & mask64(n);
            self.buf = if n == 64 { 0 } else { self.buf >> n };
            self.left -= n;
            return v;
        }
        // Use up the buffered bits as the low part, then refill for the rest.
        let low = self.buf;
        let have = self.left;
        let need = n - have;
        let word = self.rng.next_u64();
        let high = word & mask64(need);
        self.buf = if need == 64 { 0 } else { word >> need };
        self.left = 64 - need;
        low | (high << have)
    }

    /// `n` uniformly random bits (`n ≤ 128`) as the low bits of a `u128`.
    #[inline]
    pub fn take_u128(&mut self, n: u32) -> u128 {
        debug_assert!(n <= 128);
        if n <= 64 {
            self.take(n) as u128
        } else {
            let low = self.take(64) as u128;
            low | ((self.take(n - 64) as u128) << 64)
        }
    }
}

#[inline]
fn mask64(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}
