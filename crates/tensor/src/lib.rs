//! Mosaic tensor core.
//!
//! Owned contiguous tensors ([`Tensor`]) with a [`Shape`] and a [`DType`], borrowed views,
//! dtype conversion with round-to-nearest-even, memory-mapped safetensors I/O (single files and
//! sharded Hugging Face checkpoints) and deterministic rayon kernels.
#![deny(missing_docs)]

pub mod convert;
#[cfg(feature = "dfdx")]
mod dfdx_bridge;
mod dtype;
mod error;
pub mod kernels;
pub mod safetensors;
mod shape;
mod tensor;

pub use dtype::DType;
pub use error::{Result, TensorError};
pub use shape::Shape;
pub use tensor::{Element, Tensor, TensorView, TensorViewMut};
