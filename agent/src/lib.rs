//! The Slipway host agent: it will speak CodeDeploy's host command protocol,
//! unpack bundles and run the appspec's lifecycle hooks.
//!
//! # Layout
//! - [`VERSION`]: the version the agent reports to CodeDeploy.

/// The agent version sent as `x-amz-codedeploy-agent-version`.
pub const VERSION: &str = concat!("SLIPWAY_", env!("CARGO_PKG_VERSION"));
