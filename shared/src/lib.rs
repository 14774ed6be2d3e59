//! What the Slipway action and agent agree on: the appspec and how it is
//! checked, the lifecycle events and their order, the bundle formats and the
//! diagnostics a host reports.
//!
//! # Layout
//! - [`appspec`]: the appspec model, read as CodeDeploy reads it.
//! - [`validate`]: checks a bundle's appspec against its tree, planning
//!   Install as the official agent does.
//! - [`lifecycle`]: lifecycle events and their order.
//! - [`bundle`]: the bundle types (tar, tgz, zip).
//! - [`diagnostics`]: the error codes 0–7 and the diagnostics payload.
//! - [`problem`]: a located problem, and a bundle's report.
//! - [`report`]: an error chain on one line; deployment ids.
//! - [`yaml`]: YAML as a tree of located nodes, plain scalars typed as the
//!   official agent's reader (Ruby's Psych 4, YAML 1.1) types them.
//! - [`error`]: the crate's error type.

#![deny(missing_docs)]

pub mod appspec;
pub mod bundle;
pub mod diagnostics;
pub mod error;
pub mod lifecycle;
pub mod problem;
pub mod report;
pub mod validate;
pub mod yaml;

pub use error::{Error, Result};
pub use report::{error_chain, new_deployment_id};
