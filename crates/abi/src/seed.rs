use abi_stable::StableAbi;
use rand_core::{OsRng, TryRngCore};

/// Where a seed came from. Experiments and tests use fixed seeds; production DP noise must use
/// [`SeedSource::Os`] so that it comes from a CSPRNG seeded by the operating system.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedSource {
    /// A seed chosen by the user: reproducible, for experiments and tests only.
    Fixed,
    /// Fresh entropy from the operating system.
    Os,
}

/// 256 bits of seed for a ChaCha20 generator. Randomness crosses the ABI only as a seed:
/// same seed and inputs give the same bits, whatever the thread count.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngSeed {
    /// The seed bytes (ChaCha20 key).
    pub bytes: [u8; 32],
    /// Where the bytes came from.
    pub source: SeedSource,
}

impl RngSeed {
    /// A reproducible seed expanded from a `u64` (SplitMix64), labelled [`SeedSource::Fixed`].
    pub fn from_u64(seed: u64) -> RngSeed {
        let mut state = seed;
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes());
        }
        RngSeed {
            bytes,
            source: SeedSource::Fixed,
        }
    }

    /// A seed from the operating system's entropy source, labelled [`SeedSource::Os`].
    ///
    /// # Panics
    /// If the operating system cannot supply entropy (there is no safe fallback for DP noise).
    pub fn from_os() -> RngSeed {
        let mut bytes = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system entropy source failed");
        RngSeed {
            bytes,
            source: SeedSource::Os,
        }
    }

    /// A seed derived from this one for stream `index` (a tensor, a batch, a client), so that
    /// independent pieces of work get independent, reproducible streams in any order.
    pub fn derive(&self, index: u64) -> RngSeed {
        let mut out = *self;
        let mix = RngSeed::from_u64(index ^ 0xA5A5_5A5A_C3C3_3C3C);
        for (o, m) in out.bytes.iter_mut().zip(mix.bytes) {
            *o ^= m;
        }
        // Re-mix so that derive(a).derive(b) != derive(b).derive(a) in general.
        let folded = u64::from_le_bytes(out.bytes[..8].try_into().expect("8 bytes"));
        let again = RngSeed::from_u64(folded.rotate_left(17) ^ index);
        for (o, m) in out.bytes.iter_mut().skip(8).zip(again.bytes) {
            *o ^= m;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_seeds_are_reproducible_and_distinct() {
        assert_eq!(RngSeed::from_u64(7), RngSeed::from_u64(7));
        assert_ne!(RngSeed::from_u64(7).bytes, RngSeed::from_u64(8).bytes);
        let s = RngSeed::from_u64(1);
        assert_ne!(s.derive(0).bytes, s.derive(1).bytes);
        assert_eq!(s.derive(3), s.derive(3));
        assert_eq!(RngSeed::from_os().source, SeedSource::Os);
    }
}
