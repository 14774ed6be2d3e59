//! The shared crate's errors.

use std::path::PathBuf;

/// What went wrong reading a bundle or an appspec.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bundle directory could not be read.
    #[error("cannot read the bundle directory {path}")]
    ReadBundle {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The shared crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
