//! Checkpoint reading and sharded writing: mosaic-tensor's memory-mapped safetensors I/O,
//! re-exported so merge users need only this crate.

pub use mosaic_tensor::safetensors::*;
pub use mosaic_tensor::TensorView;
