//! Uniform integers below `n`, exactly.

use rand_core::RngCore;

use super::Bits;

#[cfg(test)]
mod tests;

/// A uniform integer in `[0, n)`: draw the bit length of `n − 1` bits and reject values
/// `≥ n` (exactly uniform; fewer than two tries on average; `n = 1` draws nothing).
///
/// # Panics
/// If `n` is zero.
#[inline]
pub fn uniform_below<R: RngCore>(bits: &mut Bits<R>, n: u128) -> u128 {
    assert!(n > 0, "uniform_below(0) has no outcome");
    if n == 1 {
        return 0;
    }
    let width = 128 - (n - 1).leading_zeros();
    loop {
        let x = bits.take_u128(width);
        if x < n {
            return x;
        }
    }
}

/// A uniformly random permutation of `0..n` drawn lazily (Fisher–Yates): each call to
/// [`LazyPermutation::next`] reveals one more position, so stopping after `m` draws costs
/// `O(m)` random integers.
pub struct LazyPermutation {
    items: Vec<usize>,
    next: usize,
}

impl LazyPermutation {
    /// The identity arrangement of `0..n`, to be shuffled as it is read.
    pub fn new(n: usize) -> LazyPermutation {
        LazyPermutation {
            items: (0..n).collect(),
            next: 0,
        }
    }

    /// The next element of the permutation, or `None` once all `n` were revealed.
    pub fn next<R: RngCore>(&mut self, bits: &mut Bits<R>) -> Option<usize> {
        let n = self.items.len();
        if self.next == n {
            return None;
        }
        let j = self.next + uniform_below(bits, (n - self.next) as u128) as usize;
        self.items.swap(self.next, j);
        self.next += 1;
        Some(self.items[self.next - 1])
    }
}
