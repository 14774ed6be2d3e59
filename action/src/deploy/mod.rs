//! `slipway deploy`: bundle, upload, register, create, follow.
//!
//! # Layout
//! - [`error`]: the deploy path's error enum, shared by bundle, upload, follow, rollback and status.

pub mod error;
