//! The accountant interface: compose [`PrivacyEvent`]s, then ask for ε at a δ or δ at an ε.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult},
};

use super::PrivacyEvent;
use crate::{guard, RError};

/// The accountant interface as it crosses the ABI.
#[sabi_trait]
pub trait AccountantFfi: Send + Sync {
    /// Add `count` runs of `event`. An event kind the accountant cannot analyse is an error
    /// naming it; an invalid event is an error naming the parameter.
    fn compose(&mut self, event: &PrivacyEvent, count: u64) -> RResult<(), RError>;
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
    /// Add `count` runs of `event`; kinds it cannot analyse are an error naming them.
    fn compose(&mut self, event: &PrivacyEvent, count: u64) -> Result<(), RError>;
    /// ε at this δ.
    fn epsilon(&self, delta: f64) -> Result<f64, RError>;
    /// δ at this ε.
    fn delta(&self, epsilon: f64) -> Result<f64, RError>;
}

struct AccountantAdapter(Box<dyn Accountant>);

impl AccountantFfi for AccountantAdapter {
    fn compose(&mut self, event: &PrivacyEvent, count: u64) -> RResult<(), RError> {
        guard("compose", || self.0.compose(event, count))
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
