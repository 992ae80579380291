//! The optimizers from the papers Mosaic builds on, plus two that users now expect:
//!
//! - `adamp`, `sgdp`: AdamP / SGDP (Heo et al., ICLR 2021), no radial update on
//!   scale-invariant weights.
//!
//! Each optimizer is a folder (`src/<name>/{mod.rs, tests.rs}`); what several share lives in
//! [`shared`]. Semantics, parameter names and defaults follow pytorch-optimizer 4.x where it
//! has the optimizer, the paper's reference code otherwise.
#![deny(missing_docs)]

pub mod adamp;
pub mod sgdp;
pub mod shared;

#[cfg(test)]
mod testing;
