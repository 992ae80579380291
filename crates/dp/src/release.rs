use abi_stable::std_types::RSlice;
use mosaic_abi::{MechanismBox, Output, PrivacyEvent, RngSeed, SeedSource};

use crate::DpError;

/// What every fixed-seed output is labelled with.
pub const FIXED_SEED_WARNING: &str =
    "fixed seed: for experiments only, NOT private (anyone with the seed can recompute the noise)";

/// One noisy release with its privacy cost and where its randomness came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Released {
    /// The release: noisy values, noisy integers, or selected indices.
    pub output: Output,
    /// The guarantee of this release at the sensitivity given, as the event an accountant
    /// composes.
    pub event: PrivacyEvent,
    /// [`SeedSource::Os`] in production; [`SeedSource::Fixed`] marks an experiment whose noise
    /// anyone holding the seed can reproduce (and subtract).
    pub seed_source: SeedSource,
}

enum Seeding {
    Os,
    Fixed { seed: RngSeed, next: u64 },
}

/// Calls a loaded DP mechanism with the right kind of seed.
///
/// By default every release draws a fresh 256-bit seed from the operating system
/// ([`RngSeed::from_os`]), so the noise cannot be reproduced. [`Release::with_fixed_seed`]
/// switches to a reproducible stream **for experiments and tests only**: whoever knows the
/// seed can recompute the noise and remove it, which voids the privacy guarantee.
pub struct Release {
    mechanism: MechanismBox,
    seeding: Seeding,
}

impl Release {
    /// Release through `mechanism` with OS entropy (the production setting).
    pub fn new(mechanism: MechanismBox) -> Release {
        Release {
            mechanism,
            seeding: Seeding::Os,
        }
    }

    /// **EXPERIMENTS ONLY — NOT PRIVATE.** Use a reproducible seed expanded from `seed`: the
    /// i-th release (counting from 0) uses `RngSeed::from_u64(seed).derive(i)`, so releases
    /// differ from each other but the whole sequence repeats run after run.
    pub fn with_fixed_seed(mut self, seed: u64) -> Release {
        self.seeding = Seeding::Fixed {
            seed: RngSeed::from_u64(seed),
            next: 0,
        };
        self
    }

    /// Whether releases are reproducible (a fixed seed is in use).
    pub fn is_fixed_seed(&self) -> bool {
        matches!(self.seeding, Seeding::Fixed { .. })
    }

    fn next_seed(&mut self) -> RngSeed {
        match &mut self.seeding {
            Seeding::Os => RngSeed::from_os(),
            Seeding::Fixed { seed, next } => {
                let s = seed.derive(*next);
                *next += 1;
                s
            }
        }
    }

    /// The guarantee of one release of `len` values at `sensitivity`.
    pub fn cost(&self, sensitivity: f64, len: usize) -> Result<PrivacyEvent, DpError> {
        self.mechanism
            .cost(sensitivity, len as u64)
            .into_result()
            .map_err(|source| DpError::Plugin {
                call: "mechanism cost",
                source,
            })
    }

    /// Release `values` (the query answer, scores or categories the mechanism takes) at
    /// `sensitivity` (in the mechanism's own measure: L1, L2, per score...).
    pub fn release(&mut self, values: &[f64], sensitivity: f64) -> Result<Released, DpError> {
        let event = self.cost(sensitivity, values.len())?;
        let seed = self.next_seed();
        let noisy = self
            .mechanism
            .release(RSlice::from_slice(values), sensitivity, seed)
            .into_result()
            .map_err(|source| DpError::Plugin {
                call: "mechanism release",
                source,
            })?;
        Ok(Released {
            output: noisy,
            event,
            seed_source: seed.source,
        })
    }
}

impl Released {
    /// The noisy reals, if the mechanism releases reals.
    pub fn values(&self) -> Option<&[f64]> {
        self.output.values()
    }

    /// Whether the release used a fixed (reproducible, non-private) seed.
    pub fn is_fixed_seed(&self) -> bool {
        self.seed_source == SeedSource::Fixed
    }

    /// `"os"`, or the fixed-seed warning ([`FIXED_SEED_WARNING`]): print it with every
    /// output.
    pub fn seed_label(&self) -> &'static str {
        match self.seed_source {
            SeedSource::Os => "os",
            SeedSource::Fixed => FIXED_SEED_WARNING,
        }
    }
}
