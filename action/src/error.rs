//! The action library's errors.

use std::path::PathBuf;

/// What went wrong in a `slipway` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The appspec could not be read or checked at all (as opposed to having
    /// problems, which are reported, not raised).
    #[error("cannot check the appspec in {dir}")]
    AppspecCheck {
        /// The bundle directory that was checked.
        dir: PathBuf,
        /// Why it could not be checked.
        #[source]
        source: slipway_shared::Error,
    },
    /// Writing to the terminal or the log failed.
    #[error("cannot write the report")]
    Output(#[source] std::io::Error),
}

/// The action library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
