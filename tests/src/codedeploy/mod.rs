//! The CodeDeploy simulator: AWS CodeDeploy's control plane and its host
//! command plane on one local endpoint, orchestrating in-place deployments
//! across the hosts that poll it, as the real service does.
//!
//! Start it with [`Simulator::start`]; point `AWS_ENDPOINT_URL_CODEDEPLOY`
//! and an agent's `deploy_control_endpoint` at [`SimulatorHandle::endpoint`].
//!
//! # Layout
//! - [`server`]: the axum router for both planes and the [`Simulator`] entry.
//! - [`control`]: the control plane, `CodeDeploy_20141006.<Op>`.
//! - [`commands`]: the host command plane, `CodeDeployCommandService_v20141006.<Op>`.
//! - [`orchestrator`]: scheduling hosts, lifecycle, failures, stops, timeouts, rollbacks.
//! - [`state`]: the records: applications, groups, revisions, deployments, instances.
//! - [`configs`]: `CodeDeployDefault.*` and minimum healthy hosts.
//! - [`envelope`]: the signed or plain envelope a deployment spec travels in.

pub mod commands;
pub mod configs;
pub mod control;
pub mod envelope;
pub mod orchestrator;
pub mod server;
pub mod state;

pub use envelope::EnvelopeFormat;
pub use server::{AwsError, Simulator, SimulatorConfig, SimulatorError, SimulatorHandle};
