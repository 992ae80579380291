//! The accountant interface: compose [`PrivacyEvent`]s, then ask for ε at a δ or δ at an ε.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult},
    StableAbi,
};

use super::PrivacyEvent;
use crate::{guard, RError};

/// The answer to "what ε at this δ?", with what the accountant optimised over.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub struct EpsilonReport {
    /// The smallest ε the accountant can certify at `delta` (∞ when none is finite).
    pub epsilon: f64,
    /// The δ asked for.
    pub delta: f64,
    /// The Rényi order α at which the RDP → (ε, δ) conversion was tightest (RDP and zCDP
    /// accountants); `RNone` for accountants without orders (PLD, basic composition).
    pub order: ROption<f64>,
}

impl EpsilonReport {
    /// A report without an order.
    pub fn new(epsilon: f64, delta: f64) -> EpsilonReport {
        EpsilonReport {
            epsilon,
            delta,
            order: ROption::RNone,
        }
    }

    /// A report from the RDP order `order`.
    pub fn with_order(epsilon: f64, delta: f64, order: f64) -> EpsilonReport {
        EpsilonReport {
            epsilon,
            delta,
            order: ROption::RSome(order),
        }
    }

    /// The optimal order, if the accountant has one.
    pub fn order(&self) -> Option<f64> {
        self.order.into_option()
    }
}

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
    /// [`AccountantFfi::epsilon`] with the optimal RDP order where the accountant has one.
    /// Optional in the vtable: a plugin built before this method existed answers with its
    /// `epsilon` and no order.
    fn epsilon_report(&self, delta: f64) -> RResult<EpsilonReport, RError> {
        match self.epsilon(delta) {
            RResult::ROk(e) => RResult::ROk(EpsilonReport::new(e, delta)),
            RResult::RErr(e) => RResult::RErr(e),
        }
    }
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
    /// ε at this δ with the optimal order, for accountants that optimise over Rényi orders.
    /// The default reports [`Accountant::epsilon`] without an order.
    fn epsilon_report(&self, delta: f64) -> Result<EpsilonReport, RError> {
        Ok(EpsilonReport::new(self.epsilon(delta)?, delta))
    }
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
    fn epsilon_report(&self, delta: f64) -> RResult<EpsilonReport, RError> {
        guard("epsilon_report", || self.0.epsilon_report(delta))
    }
}

/// Wrap an accountant into its ABI object.
pub fn accountant_into_ffi(a: Box<dyn Accountant>) -> AccountantBox {
    AccountantFfi_TO::from_value(AccountantAdapter(a), abi_stable::sabi_trait::TD_Opaque)
}
