//! Building blocks several of this crate's optimizers use: PyTorch's elementwise rounding
//! order, small dense matrix algebra over row-major `f32` slices, AdamP/SGDP's radial
//! projection, and parameter parsing.

pub mod matrix;
pub mod params;
pub mod projection;
pub mod torch;
