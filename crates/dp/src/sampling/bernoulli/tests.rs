use mosaic_abi::RngSeed;
use mosaic_testkit::dp_mechanism::binomial_within;

use super::*;

fn bits(seed: u64) -> Bits {
    Bits::from_seed(&RngSeed::from_u64(seed))
}

fn frequency(n: u64, mut trial: impl FnMut() -> bool) -> u64 {
    (0..n).filter(|_| trial()).count() as u64
}

#[test]
fn bernoulli_ratio_has_its_probability() {
    let mut b = bits(2);
    let n = 40_000;
    for (num, den) in [
        (1u128, 3u128),
        (2, 3),
        (1, 2),
        (5, 8),
        (1, 1000),
        (999, 1000),
        // A denominator far beyond 64 bits: 1/3 + 2^-100.
        ((1u128 << 100) / 3 + 1, 1u128 << 100),
    ] {
        let p = num as f64 / den as f64;
        let hits = frequency(n, || bernoulli_ratio(&mut b, num, den));
        assert!(binomial_within(hits, n, p), "{num}/{den}: {hits} of {n}");
    }
    assert_eq!(frequency(100, || bernoulli_ratio(&mut b, 0, 5)), 0);
    assert_eq!(frequency(100, || bernoulli_ratio(&mut b, 5, 5)), 100);
}

#[test]
fn bernoulli_ratio_costs_about_two_bits() {
    // Draws come from the bit buffer: 10 000 trials of p = 1/3 use ≈ 20 000 bits, i.e. about
    // 313 words; count the words by watching a counting generator.
    struct Counting(rand_chacha::ChaCha20Rng, u64);
    impl RngCore for Counting {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.1 += 1;
            self.0.next_u64()
        }
        fn fill_bytes(&mut self, _: &mut [u8]) {
            unreachable!()
        }
    }
    use rand_core::SeedableRng;
    let mut b = Bits::new(Counting(rand_chacha::ChaCha20Rng::seed_from_u64(1), 0));
    for _ in 0..10_000 {
        bernoulli_ratio(&mut b, 1, 3);
    }
    let words = b.get_ref().1;
    // Exactly two bits per trial on average (geometric(1/2) stopping), sd ≈ 1.4 bits/trial:
    // the 10 000-trial total is 20 000 ± 6·141 bits.
    assert!((300..=327).contains(&words), "{words} words");
}

#[test]
fn bernoulli_checks_its_range() {
    let mut b = bits(3);
    let e = bernoulli(&mut b, Rational::new(6, 5).unwrap()).unwrap_err();
    assert!(e.to_string().contains("`p`"), "{e}");
    let hits = frequency(30_000, || {
        bernoulli(&mut b, Rational::new(1, 3).unwrap()).unwrap()
    });
    assert!(binomial_within(hits, 30_000, 1.0 / 3.0), "{hits}");
}

#[test]
fn bernoulli_exp_neg_has_probability_exp_minus_gamma() {
    let mut b = bits(4);
    let n = 40_000;
    for (num, den) in [
        (1u128, 2u128),
        (3, 2),
        (7, 3),
        (5, 1),
        (1, 10),
        (0, 7),
        // γ just below 1 with a 120-bit denominator.
        ((1u128 << 120) - 12_345, 1u128 << 120),
        // γ = 2^70 + 1/2^70 · ... (large integer part: almost always false).
        (1u128 << 100, 1u128 << 30),
    ] {
        let p = (-(num as f64 / den as f64)).exp();
        let hits = frequency(n, || bernoulli_exp_neg_ratio(&mut b, num, den));
        assert!(
            binomial_within(hits, n, p),
            "gamma = {num}/{den}: {hits} hits, expected {}",
            n as f64 * p
        );
    }
    let hits = frequency(n, || {
        bernoulli_exp_neg(&mut b, Rational::new(9, 4).unwrap())
    });
    assert!(binomial_within(hits, n, (-2.25f64).exp()), "{hits}");
}

#[test]
fn bernoulli_exp_neg_half_square_has_its_probability() {
    let mut b = bits(5);
    let n = 40_000;
    for (num, den) in [
        (0u128, 1u128),
        (1, 1),
        (1, 2),
        (2, 3),
        (1 << 90, (1 << 91) - 1),
    ] {
        let x = num as f64 / den as f64;
        let p = (-x * x / 2.0).exp();
        let hits = frequency(n, || bernoulli_exp_neg_half_square(&mut b, num, den));
        assert!(binomial_within(hits, n, p), "x = {x}: {hits}");
    }
}
