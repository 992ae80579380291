use mosaic_abi::RError;

/// Everything that can go wrong in the DP family crate.
#[derive(Debug, thiserror::Error)]
pub enum DpError {
    /// A parameter (of a sampler, a mechanism or a query) is missing or out of range.
    #[error("parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter, in the field's own words (`scale`, `gamma`, `sensitivity`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An input value is out of the mechanism's domain (the message names it by index).
    #[error("{reason}")]
    InvalidInput {
        /// What is wrong, naming the value and its index.
        reason: String,
    },
    /// A call into a mechanism or accountant plugin failed.
    #[error("{call} failed: {source}")]
    Plugin {
        /// The call that failed (`mechanism release`).
        call: &'static str,
        /// The plugin's error.
        source: RError,
    },
    /// A training step failed outside the privacy machinery (the optimizer, the model).
    #[error("training: {reason}")]
    Training {
        /// What failed.
        reason: String,
    },
}

impl DpError {
    /// A bad parameter, named.
    pub fn param(name: &str, reason: impl Into<String>) -> DpError {
        DpError::InvalidParameter {
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}

impl DpError {
    /// A bad input value, described (with its index).
    pub fn input(reason: impl Into<String>) -> DpError {
        DpError::InvalidInput {
            reason: reason.into(),
        }
    }
}

impl From<DpError> for RError {
    fn from(e: DpError) -> RError {
        match e {
            DpError::InvalidParameter { name, reason } => RError::param(&name, reason),
            DpError::InvalidInput { reason } => RError::input(reason),
            DpError::Plugin { source, .. } => source,
            DpError::Training { reason } => RError::other(reason),
        }
    }
}
