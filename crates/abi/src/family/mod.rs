//! One module per family: the types of its calls, its `#[sabi_trait]` (the ABI), the plain
//! Rust trait plugin authors implement, and the adapter between the two that catches panics.
//!
//! Plugin authors implement the plain traits ([`merge::MergeMethod`], [`optim::Optimizer`],
//! [`dp::Mechanism`], [`dp::Accountant`], [`ldp::FrequencyOracle`], [`nas::SearchStrategy`]);
//! hosts hold the `*Box` trait objects. The `*Ffi` traits are the layout-checked interface.

// abi_stable 0.11's #[sabi_trait] expands to impls the non_local_definitions lint flags.
#![allow(non_local_definitions)]

pub mod dp;
pub mod ldp;
pub mod merge;
pub mod nas;
pub mod optim;
