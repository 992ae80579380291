//! The mechanism interface: release a noisy batch from a seed, and state the guarantee of one
//! release as a [`PrivacyEvent`].
//!
//! # Conventions
//! - A call is batched: `values` is the whole query answer (a vector of numbers, a score per
//!   candidate, a category per record), and one call is one release.
//! - The release is typed ([`Output`]): noisy reals, noisy integers, or indices into `values`
//!   (selection mechanisms such as the exponential mechanism release a position, never a
//!   noisy score).
//! - What `sensitivity` measures is the mechanism's to say (L1, L2, per-score, records per
//!   individual); its doc page states it. Mechanisms are configured with their privacy target
//!   (ε, and δ where needed) and calibrate the noise to the sensitivity of each call.
//! - Descriptor tags say what inputs a mechanism accepts, so generic tools (the conformance
//!   suite, the CLI) can feed it: [`INPUT_REALS`] (the default), [`INPUT_INTEGERS`],
//!   [`INPUT_CATEGORIES`] (integers in `[0, domain_size)`), [`INPUT_SCORES`].

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RSlice, RVec},
    StableAbi,
};

use super::PrivacyEvent;
use crate::{guard, RError, RngSeed};

/// Tag: any finite reals (each is rounded onto the mechanism's noise grid).
pub const INPUT_REALS: &str = "input:reals";
/// Tag: integers only (an integer-valued query; nothing is rounded).
pub const INPUT_INTEGERS: &str = "input:integers";
/// Tag: categories `0, 1, …, domain_size − 1`, one per record.
pub const INPUT_CATEGORIES: &str = "input:categories";
/// Tag: one real score per candidate; the release is an index (or several).
pub const INPUT_SCORES: &str = "input:scores";

/// What one release returns.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum Output {
    /// One noisy real per input value, in input order.
    Values(RVec<f64>),
    /// One noisy integer per input value, in input order (integer queries, categories).
    Integers(RVec<i64>),
    /// Positions in the input (selection): the chosen index, the top k in selection order, or
    /// the queries a sparse-vector run reported above its threshold.
    Indices(RVec<u64>),
}

impl Output {
    /// The number of released items.
    pub fn len(&self) -> usize {
        match self {
            Output::Values(v) => v.len(),
            Output::Integers(v) => v.len(),
            Output::Indices(v) => v.len(),
        }
    }

    /// Whether nothing was released (a sparse-vector run with no query above threshold).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind as docs and JSON spell it: `values`, `integers`, `indices`.
    pub fn kind(&self) -> &'static str {
        match self {
            Output::Values(_) => "values",
            Output::Integers(_) => "integers",
            Output::Indices(_) => "indices",
        }
    }

    /// The released items as reals (integers and indices widened; exact below 2^53).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Output::Values(v) => v.to_vec(),
            Output::Integers(v) => v.iter().map(|&x| x as f64).collect(),
            Output::Indices(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// The noisy reals, if this is [`Output::Values`].
    pub fn values(&self) -> Option<&[f64]> {
        match self {
            Output::Values(v) => Some(v.as_slice()),
            _ => None,
        }
    }

    /// The indices, if this is [`Output::Indices`].
    pub fn indices(&self) -> Option<&[u64]> {
        match self {
            Output::Indices(v) => Some(v.as_slice()),
            _ => None,
        }
    }

    /// The integers, if this is [`Output::Integers`].
    pub fn integers(&self) -> Option<&[i64]> {
        match self {
            Output::Integers(v) => Some(v.as_slice()),
            _ => None,
        }
    }

    /// The exact bit pattern of the release (for same-seed-same-bits checks).
    pub fn bits(&self) -> Vec<u64> {
        match self {
            Output::Values(v) => v.iter().map(|x| x.to_bits()).collect(),
            Output::Integers(v) => v.iter().map(|&x| x as u64).collect(),
            Output::Indices(v) => v.to_vec(),
        }
    }
}

/// The mechanism interface as it crosses the ABI.
#[sabi_trait]
pub trait MechanismFfi: Send + Sync {
    /// Release `values` with noise calibrated to `sensitivity`, drawing from a ChaCha20
    /// stream seeded by `seed` (use [`RngSeed::from_os`] in production).
    fn release(
        &self,
        values: RSlice<'_, f64>,
        sensitivity: f64,
        seed: RngSeed,
    ) -> RResult<Output, RError>;

    /// The guarantee of one release of `len` values at this sensitivity, as the event an
    /// accountant composes. `len` matters where rounding to the output grid is charged to the
    /// sensitivity (each coordinate may move by up to half a grid step).
    #[sabi(last_prefix_field)]
    fn cost(&self, sensitivity: f64, len: u64) -> RResult<PrivacyEvent, RError>;
}

/// A loaded mechanism.
pub type MechanismBox = MechanismFfi_TO<'static, RBox<()>>;

/// What a mechanism plugin implements.
pub trait Mechanism: Send + Sync + 'static {
    /// Release a noisy version of `values` (see the module conventions).
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError>;
    /// The guarantee of one release of `len` values at `sensitivity`.
    fn cost(&self, sensitivity: f64, len: u64) -> Result<PrivacyEvent, RError>;
}

struct MechanismAdapter(Box<dyn Mechanism>);

impl MechanismFfi for MechanismAdapter {
    fn release(
        &self,
        values: RSlice<'_, f64>,
        sensitivity: f64,
        seed: RngSeed,
    ) -> RResult<Output, RError> {
        guard("release", || {
            self.0.release(values.as_slice(), sensitivity, seed)
        })
    }

    fn cost(&self, sensitivity: f64, len: u64) -> RResult<PrivacyEvent, RError> {
        guard("cost", || self.0.cost(sensitivity, len))
    }
}

/// Wrap a mechanism into its ABI object.
pub fn mechanism_into_ffi(m: Box<dyn Mechanism>) -> MechanismBox {
    MechanismFfi_TO::from_value(MechanismAdapter(m), abi_stable::sabi_trait::TD_Opaque)
}
