//! The Slipway GitHub Action as a library: every `slipway` subcommand is a
//! function here, so tests drive the same code the binary runs.
//!
//! # Layout
//! - [`cli`]: the command line, parsed with clap.
//! - [`appspec_check`]: `slipway appspec check`, the appspec validator's front end.
//! - [`aws`]: the deploy commands' S3 and CodeDeploy clients and their credentials.
//! - [`upload`]: the bundle to S3, content-addressed and encrypted.
//! - [`bundle`]: `slipway bundle`, a commit as a reproducible archive.
//! - [`deploy`]: `slipway deploy`, and the deploy path's error type.
//! - [`credentials`]: `slipway credentials`, GitHub OIDC to AWS credentials,
//!   and the refreshing credentials provider the deploy commands use.
//! - [`follow`]: a deployment followed host by host to its end.
//! - [`rollback`]: `slipway rollback`, back to an earlier revision.
//! - [`status`]: `slipway status`, a group's deployments.
//! - [`summary`]: the job summary of a deployment or rollback.
//! - [`github`]: GitHub Actions conventions (workflow commands, annotations,
//!   inputs, file commands).
//! - [`env`](mod@env): the environment, passed in rather than read from the process.
//! - [`error`]: the crate's error type.

#![deny(missing_docs)]

pub mod appspec_check;
pub mod aws;
pub mod bundle;
pub mod cli;
pub mod credentials;
pub mod deploy;
pub mod env;
pub mod error;
pub mod follow;
pub mod github;
pub mod rollback;
pub mod status;
pub mod summary;
pub mod upload;

pub use error::{Error, Result};
