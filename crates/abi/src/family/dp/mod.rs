//! The central DP family: mechanisms release noisy batches and state their guarantee as a
//! typed [`PrivacyEvent`]; accountants compose those events.
//!
//! - [`event`]: the privacy measures and events that cross the ABI ([`PrivacyEvent`],
//!   [`Sampling`]), with validation that names the parameter at fault.
//! - [`mechanism`]: the mechanism interface ([`Mechanism`], [`MechanismBox`]).
//! - [`accountant`]: the accountant interface ([`Accountant`], [`AccountantBox`]).

pub mod accountant;
pub mod event;
pub mod mechanism;

pub use accountant::{
    accountant_into_ffi, Accountant, AccountantBox, AccountantFfi, EpsilonReport,
};
pub use event::{PrivacyEvent, Sampling};
pub use mechanism::{mechanism_into_ffi, Mechanism, MechanismBox, MechanismFfi};
