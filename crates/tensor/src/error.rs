use std::path::PathBuf;

use crate::{DType, Shape};

/// Result alias for mosaic-tensor.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;

/// Errors of mosaic-tensor. Every variant names the file or tensor at fault.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A safetensors file that cannot be parsed (truncated, corrupt header, bad offsets).
    #[error("{path}: not a valid safetensors file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor name that is not in the file or checkpoint.
    #[error("tensor `{name}` not found in {location}")]
    MissingTensor {
        /// The tensor name.
        name: String,
        /// The file or folder searched.
        location: String,
    },
    /// Shape and data length disagree, or two shapes that must match do not.
    #[error("tensor `{name}`: shape mismatch: expected {expected}, found {found}")]
    ShapeMismatch {
        /// The tensor name (or a description of the operand).
        name: String,
        /// The expected shape.
        expected: Shape,
        /// The shape found.
        found: Shape,
    },
    /// A dtype that an operation does not support.
    #[error("tensor `{name}`: unsupported dtype {dtype} for {op}")]
    UnsupportedDType {
        /// The tensor name (or a description of the operand).
        name: String,
        /// The dtype.
        dtype: DType,
        /// The operation.
        op: String,
    },
    /// A sharded checkpoint whose index is inconsistent.
    #[error("{path}: invalid checkpoint index: {reason}")]
    BadIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Any other invalid argument.
    #[error("{0}")]
    Invalid(String),
}
