//! CodeDeploy's host command protocol, as the agent speaks it.
//!
//! - [`client`]: the signed JSON 1.1 client (no SDK exists for this API).
//! - [`types`]: the API's shapes.
//! - [`backoff`]: the official pauses after errors and throttling.

pub mod backoff;
pub mod client;
pub mod types;

pub use client::{CommandClient, CommandError, Flavor};
pub use types::{CommandStatus, HostCommand};
