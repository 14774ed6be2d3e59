//! The shapes of CodeDeploy's host command API (`CodeDeployCommand.api.json`),
//! PascalCase on the wire.

use serde::{Deserialize, Serialize};
use slipway_shared::lifecycle::LifecycleEvent;

use crate::spec::envelope::Envelope;

/// A command handed out by PollHostCommand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostCommand {
    /// Opaque; echoed in the ack and the completion.
    pub host_command_identifier: String,
    /// The host the command is for (a substring of ours).
    pub host_identifier: Option<String>,
    /// Names the deployment and host for GetDeploymentSpecification.
    pub deployment_execution_id: String,
    /// The lifecycle event.
    pub command_name: Option<String>,
    /// Opaque.
    pub nonce: Option<i64>,
}

impl HostCommand {
    /// The lifecycle event the command names, if it is one.
    pub fn event(&self) -> Option<LifecycleEvent> {
        self.command_name
            .as_deref()
            .and_then(LifecycleEvent::from_name)
    }
}

/// GetDeploymentSpecification's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpecificationOutput {
    /// Must be `CodeDeploy`.
    pub deployment_system: Option<String>,
    /// The envelopes.
    pub deployment_specification: Option<DeploymentSpecification>,
}

/// The envelopes of a deployment specification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentSpecification {
    /// The only envelope the agent uses.
    pub generic_envelope: Option<Envelope>,
    /// Unused by the agent.
    pub variant_id: Option<String>,
    /// Unused by the agent.
    pub variant_envelope: Option<Envelope>,
}

/// A command's status, as the ack answers and the completion reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandStatus {
    /// Not started.
    Pending,
    /// Running.
    InProgress,
    /// Done.
    Succeeded,
    /// Done, badly.
    Failed,
}

impl CommandStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Pending => "Pending",
            CommandStatus::InProgress => "InProgress",
            CommandStatus::Succeeded => "Succeeded",
            CommandStatus::Failed => "Failed",
        }
    }

    /// Whether the command is over (the ack's answer to skip it).
    pub fn is_final(self) -> bool {
        matches!(self, CommandStatus::Succeeded | CommandStatus::Failed)
    }
}

/// The status-bearing answers (ack and update).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StatusOutput {
    pub(crate) command_status: Option<CommandStatus>,
}

/// PollHostCommand's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PollOutput {
    pub(crate) host_command: Option<HostCommand>,
}
