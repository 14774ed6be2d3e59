//! Getting a revision onto the host: the bundle is fetched to the
//! deployment's `bundle.tar` and unpacked into `deployment-archive/`.
//!
//! # Layout
//! - [`fetch`]: S3 (VersionId and ETag checked), a local file, a directory.
//! - [`extract`]: streamed, confined unpacking of tar, tgz, zip and directories.
//! - [`limits`]: how far an archive may expand.

pub mod extract;
pub mod fetch;
pub mod limits;

pub use limits::Limits;
