//! What the node does, independent of HTTP: applying writes with OCPI receiver semantics,
//! reading state, signing checkpoints, placing locations in their areas. Testable without a runtime.

pub mod areas;
pub mod import;
pub mod integrity;
pub mod overview;
pub mod records;
pub mod signer;

use evfed_spec::ocpi::ParseError;

use crate::store::StoreError;

/// Why a domain operation was refused or failed. The HTTP layer maps each variant to one
/// problem code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not (I-)JSON.
    #[error("{0}")]
    InvalidJson(String),
    /// A member is missing, malformed, in the future, or disagrees with the path.
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    NotFound(String),
    /// The record belongs to a party the caller or the node does not allow.
    #[error("{0}")]
    PartyMismatch(String),
    /// The request contradicts the current state.
    #[error("{0}")]
    Conflict(String),
    /// A batch above the bounds.
    #[error("{0}")]
    TooLarge(String),
    /// Stored data that cannot be read back: a bug or a damaged database.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::InvalidJson(e) => {
                Error::InvalidJson(format!("body is not valid JSON: {e}"))
            }
            ParseError::NotIJson(e) => Error::InvalidJson(format!("body is not I-JSON: {e}")),
            ParseError::InvalidField { path, message } if path.is_empty() => {
                Error::InvalidField(message)
            }
            ParseError::InvalidField { path, message } => {
                Error::InvalidField(format!("{path}: {message}"))
            }
        }
    }
}
