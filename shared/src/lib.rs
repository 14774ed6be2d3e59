//! What the Slipway action and agent agree on.
//!
//! # Layout
//! - [`validate`]: checks a bundle's appspec against its tree.
//! - [`error`]: the crate's error type.

#![deny(missing_docs)]

pub mod error;
pub mod validate;

pub use error::{Error, Result};
