//! The central DP family: mechanisms release noisy batches; accountants compose events.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RSlice, RString, RVec},
    StableAbi,
};

use crate::{guard, ParamMap, RError, RngSeed};

/// The privacy cost of one release: (ε, δ)-DP.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub struct PrivacyCost {
    /// ε.
    pub epsilon: f64,
    /// δ (0 for pure DP).
    pub delta: f64,
}

/// One event for an accountant: a mechanism name, its parameters, and how many times it ran.
/// Accountants document which mechanisms they understand (`pure` with `epsilon`; `approx`
/// with `epsilon` and `delta`; later `gaussian` with `noise_multiplier` and `sampling_rate`).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PrivacyEvent {
    /// The mechanism kind.
    pub mechanism: RString,
    /// Its parameters.
    pub params: ParamMap,
    /// Repetitions.
    pub count: u64,
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
    ) -> RResult<RVec<f64>, RError>;

    /// The privacy cost of one release at this sensitivity.
    #[sabi(last_prefix_field)]
    fn cost(&self, sensitivity: f64) -> RResult<PrivacyCost, RError>;
}

/// A loaded mechanism.
pub type MechanismBox = MechanismFfi_TO<'static, RBox<()>>;

/// What a mechanism plugin implements.
pub trait Mechanism: Send + Sync + 'static {
    /// Release a noisy copy of `values`.
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Vec<f64>, RError>;
    /// The privacy cost of one release.
    fn cost(&self, sensitivity: f64) -> Result<PrivacyCost, RError>;
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

    fn cost(&self, sensitivity: f64) -> RResult<PrivacyCost, RError> {
        guard("cost", || self.0.cost(sensitivity))
    }
}

/// Wrap a mechanism into its ABI object.
pub fn mechanism_into_ffi(m: Box<dyn Mechanism>) -> MechanismBox {
    MechanismFfi_TO::from_value(MechanismAdapter(m), abi_stable::sabi_trait::TD_Opaque)
}

/// The accountant interface as it crosses the ABI.
#[sabi_trait]
pub trait AccountantFfi: Send + Sync {
    /// Add an event.
    fn compose(&mut self, event: &PrivacyEvent) -> RResult<(), RError>;
    /// The smallest ε such that the composition is (ε, δ)-DP.
    fn epsilon(&self, delta: f64) -> RResult<f64, RError>;
    /// The smallest δ such that the composition is (ε, δ)-DP.
    #[sabi(last_prefix_field)]
    fn delta(&self, epsilon: f64) -> RResult<f64, RError>;
}

/// A loaded accountant.
pub type AccountantBox = AccountantFfi_TO<'static, RBox<()>>;

/// What an accountant plugin implements.
pub trait Accountant: Send + Sync + 'static {
    /// Add an event; unknown mechanisms are an error naming them.
    fn compose(&mut self, event: &PrivacyEvent) -> Result<(), RError>;
    /// ε at this δ.
    fn epsilon(&self, delta: f64) -> Result<f64, RError>;
    /// δ at this ε.
    fn delta(&self, epsilon: f64) -> Result<f64, RError>;
}

struct AccountantAdapter(Box<dyn Accountant>);

impl AccountantFfi for AccountantAdapter {
    fn compose(&mut self, event: &PrivacyEvent) -> RResult<(), RError> {
        guard("compose", || self.0.compose(event))
    }
    fn epsilon(&self, delta: f64) -> RResult<f64, RError> {
        guard("epsilon", || self.0.epsilon(delta))
    }
    fn delta(&self, epsilon: f64) -> RResult<f64, RError> {
        guard("delta", || self.0.delta(epsilon))
    }
}

/// Wrap an accountant into its ABI object.
pub fn accountant_into_ffi(a: Box<dyn Accountant>) -> AccountantBox {
    AccountantFfi_TO::from_value(AccountantAdapter(a), abi_stable::sabi_trait::TD_Opaque)
}
