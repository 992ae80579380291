use super::*;

/// A generator that returns a fixed sequence of words (to check the bit order exactly).
struct Words(Vec<u64>, usize);

impl RngCore for Words {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let w = self.0[self.1];
        self.1 += 1;
        w
    }
    fn fill_bytes(&mut self, _: &mut [u8]) {
        unreachable!("Bits only draws whole words")
    }
}

#[test]
fn bits_come_least_significant_first_and_span_words() {
    let mut b = Bits::new(Words(vec![0b1011, u64::MAX, 0x1234_5678_9abc_def0], 0));
    assert!(b.bit());
    assert!(b.bit());
    assert!(!b.bit());
    assert!(b.bit());
    // 60 zero bits remain in the first word; take 62: 60 zeros then two ones.
    assert_eq!(b.take(62), 0b11 << 60);
    // 62 ones remain in the second word; a 64-bit take spans into the third.
    assert_eq!(b.take(64), u64::MAX >> 2); // the third word's low bits are 00
    assert_eq!(b.take(0), 0);
    let mut b = Bits::new(Words(vec![7, 9, 11, 13], 0));
    assert_eq!(b.take_u128(128), 7 | (9u128 << 64));
    assert_eq!(b.take(64), 11);
}

#[test]
fn take_is_uniform_on_small_ranges() {
    let mut b = Bits::from_seed(&RngSeed::from_u64(1));
    let mut counts = [0u32; 8];
    for _ in 0..80_000 {
        counts[b.take(3) as usize] += 1;
    }
    // 10 000 expected per cell, sd ≈ 94: 6 sd bounds.
    for c in counts {
        assert!((c as i64 - 10_000).abs() < 570, "{counts:?}");
    }
}

#[test]
fn same_seed_same_bits() {
    let draw = |s| {
        let mut b = Bits::from_seed(&RngSeed::from_u64(s));
        (0..100).map(|i| b.take(1 + i % 64)).collect::<Vec<_>>()
    };
    assert_eq!(draw(3), draw(3));
    assert_ne!(draw(3), draw(4));
}
