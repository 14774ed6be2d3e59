//! Slipway's local AWS test bed.
//!
//! # Layout
//! - [`credentials`]: the AWS credentials the sandbox issued.

pub mod credentials;
