use mosaic_abi::RError;

/// `Result` with [`LdpError`].
pub type Result<T, E = LdpError> = std::result::Result<T, E>;

/// What can go wrong in the LDP family.
#[derive(Debug, thiserror::Error)]
pub enum LdpError {
    /// The oracle (a plugin) returned an error.
    #[error("LDP oracle `{oracle}`: {call}: {source}")]
    Oracle {
        /// The oracle's name.
        oracle: String,
        /// The call that failed (`construct`, `perturb`, `aggregate`, `estimate`, ...).
        call: &'static str,
        /// The plugin's error.
        #[source]
        source: RError,
    },
    /// The plugin has no LDP oracle of that name.
    #[error("plugin `{plugin}` has no LDP oracle `{oracle}`")]
    UnknownOracle {
        /// The name asked for.
        oracle: String,
        /// The plugin asked.
        plugin: String,
    },
    /// A batch or state came from another oracle, or other parameters.
    #[error("{what} mismatch: it belongs to {theirs}, but this server runs {ours}")]
    Mismatch {
        /// `report batch` or `server state`.
        what: &'static str,
        /// The batch's or state's oracle and parameters.
        theirs: String,
        /// The server's oracle and parameters.
        ours: String,
    },
    /// A batch or state is malformed (bad header, wrong lengths, bad packing).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// `report batch` or `server state`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A batch or state could not be read from or written to JSON.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading or writing a stream failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A simulation or population parameter is invalid.
    #[error("{0}")]
    Invalid(String),
}
