use std::fmt;

use abi_stable::{std_types::RString, StableAbi};

/// What kind of failure an [`RError`] reports.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A parameter is missing, of the wrong kind, or out of range.
    InvalidParam,
    /// An input tensor or batch has the wrong shape, dtype or length.
    InvalidInput,
    /// The algorithm does not support this request (family, dtype, option).
    Unsupported,
    /// The plugin panicked; the panic was caught at the ABI boundary.
    Panic,
    /// A search strategy has nothing left to propose (its space is exhausted).
    Exhausted,
    /// Any other failure.
    Other,
}

/// The error type that crosses the ABI: a kind and a message a user can act on.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct RError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message, naming the parameter, tensor or input at fault.
    pub message: RString,
}

impl RError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> RError {
        RError {
            kind,
            message: RString::from(message.to_string()),
        }
    }

    /// A bad parameter, named.
    pub fn param(name: &str, reason: impl fmt::Display) -> RError {
        RError::new(
            ErrorKind::InvalidParam,
            format!("parameter `{name}`: {reason}"),
        )
    }

    /// A bad input.
    pub fn input(reason: impl fmt::Display) -> RError {
        RError::new(ErrorKind::InvalidInput, reason)
    }

    /// An unsupported request.
    pub fn unsupported(reason: impl fmt::Display) -> RError {
        RError::new(ErrorKind::Unsupported, reason)
    }

    /// A search strategy with nothing left to propose.
    pub fn exhausted(reason: impl fmt::Display) -> RError {
        RError::new(ErrorKind::Exhausted, reason)
    }

    /// Any other failure.
    pub fn other(reason: impl fmt::Display) -> RError {
        RError::new(ErrorKind::Other, reason)
    }

    /// The message.
    pub fn message(&self) -> &str {
        self.message.as_str()
    }
}

impl fmt::Display for RError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Panic => write!(f, "plugin panicked: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for RError {}
