use mosaic_abi::RError;

/// Everything that can go wrong in the optimizer family crate.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// The optimizer plugin returned an error.
    #[error("optimizer {call} failed: {source}")]
    Plugin {
        /// The call that failed (`step`, `state_names`).
        call: &'static str,
        /// The plugin's error.
        source: RError,
    },
    /// A slice has the wrong number of values.
    #[error("{what} has {got} values, expected {expected}")]
    Length {
        /// What was measured (`gradients`, state buffer `momentum_buffer`).
        what: String,
        /// The expected length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A hyperparameter or schedule parameter is out of range.
    #[error("parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter (`lr`, `step_size`, `t_max`).
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// State buffers do not match what the optimizer declares.
    #[error("state mismatch: {0}")]
    State(String),
    /// A checkpoint could not be written or read.
    #[error("optimizer checkpoint {}: {reason}", path.display())]
    Checkpoint {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong (naming the tensor or metadata key).
        reason: String,
    },
}
