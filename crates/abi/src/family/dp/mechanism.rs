//! The mechanism interface: release a noisy batch from a seed, and state the guarantee of one
//! release as a [`PrivacyEvent`].

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RSlice, RVec},
};

use super::PrivacyEvent;
use crate::{guard, RError, RngSeed};

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
    ) -> RResult<RVec<f64>, RError>;

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
    /// Release a noisy copy of `values`.
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Vec<f64>, RError>;
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
    ) -> RResult<RVec<f64>, RError> {
        guard("release", || {
            self.0
                .release(values.as_slice(), sensitivity, seed)
                .map(RVec::from)
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
