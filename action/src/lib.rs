//! The Slipway GitHub Action as a library: every `slipway` subcommand is a
//! function here, so tests drive the same code the binary runs.
//!
//! # Layout
//! - [`cli`]: the command line, parsed with clap.
//! - [`appspec_check`]: `slipway appspec check`, the appspec validator's front end.
//! - [`github`]: GitHub Actions conventions (workflow commands, annotations).
//! - [`error`]: the crate's error type.

pub mod appspec_check;
pub mod cli;
pub mod error;
pub mod github;

pub use error::{Error, Result};
