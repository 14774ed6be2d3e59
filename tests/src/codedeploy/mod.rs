//! The CodeDeploy simulator.
//!
//! # Layout
//! - [`envelope`]: the signed or plain envelope a deployment spec travels in.

pub mod envelope;
