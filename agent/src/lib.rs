//! The Slipway host agent: everything it does on a host once it knows what
//! to deploy — fetch and safely unpack the bundle, install the files with the
//! official agent's semantics, run the appspec's lifecycle hooks, and keep
//! the official deployment root so either agent can take over from the other.
//!
//! # Layout
//! - [`executor`]: one lifecycle event of one deployment (the entry point).
//! - [`local`]: `slipway-agent local`, a deployment without CodeDeploy.
//! - [`daemon`]: `slipway-agent run` and `status`, the CodeDeploy host agent daemon.
//! - [`spec`]: what a deployment asks of the host, and the envelope it comes in.
//! - [`command_service`]: the signed client of CodeDeploy's host command API.
//! - [`bundle`]: fetching and unpacking the revision.
//! - [`install`]: the Install event: files, permissions, cleanup.
//! - [`hooks`]: running appspec scripts.
//! - [`state`]: the deployment root's layout, pointers and logs.
//! - [`steps`]: built-in steps: Supervisor, releases, Gunicorn, Celery, nginx, secrets, Django.
//! - [`hook_mode`]: `slipway-agent hook`, the steps as a hook under the official agent.
//! - [`config`]: the official `codedeployagent.yml`.
//! - [`clock`]: the injected clock and the logs' timestamp formats.
//! - [`error`]: the library's errors.

#![deny(missing_docs)]

pub mod bundle;
pub mod clock;
pub mod command_service;
pub mod config;
pub mod daemon;
pub mod error;
pub mod executor;
pub mod hook_mode;
pub mod hooks;
pub mod install;
pub mod local;
pub mod spec;
pub mod state;
pub mod steps;

pub use error::{Error, Result};
pub use executor::{Executor, Host};

/// The agent version sent as `x-amz-codedeploy-agent-version`.
pub const VERSION: &str = concat!("SLIPWAY_", env!("CARGO_PKG_VERSION"));
