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
        /// The call that failed (`construct`, `perturb`, `aggregate`, `estimate`).
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
    /// A batch came from a client running another oracle, or other parameters.
    #[error(
        "report batch mismatch: the batch was produced by {batch}, but this server runs {server}"
    )]
    Mismatch {
        /// The batch's oracle and parameters.
        batch: String,
        /// The server's oracle and parameters.
        server: String,
    },
    /// A batch is malformed (its words do not split into whole reports).
    #[error("malformed report batch: {0}")]
    MalformedBatch(String),
    /// A batch could not be read from or written to JSON.
    #[error("report batch JSON: {0}")]
    Json(#[from] serde_json::Error),
}
