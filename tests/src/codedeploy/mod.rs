//! The CodeDeploy simulator: AWS CodeDeploy's control plane and its host
//! command plane on one local endpoint, orchestrating in-place deployments
//! across the hosts that poll it, as the real service does.
//!
//! Start it with [`Simulator::start`]; point `AWS_ENDPOINT_URL_CODEDEPLOY`
//! and an agent's `deploy_control_endpoint` at [`SimulatorHandle::endpoint`].
//!
//! # Behaviour
//! - Both planes check SigV4 against the [`CredentialStore`](crate::credentials::CredentialStore)
//!   (`codedeploy` and `codedeploy-commands`; the command plane's 2019-11-11
//!   model, target `CodeDeployCommandService.<Op>`, is served too, signed for
//!   `codedeploy-commands-secure`); a host may act only as itself:
//!   an on-premises host signs as its registered IAM user or session, an EC2
//!   host as an instance-profile session named after the instance.
//! - A deployment is `Created`, then `InProgress` once a task resolves its
//!   targets (the group's tag filters or tag sets over registered
//!   instances), then `Succeeded`, `Failed` or `Stopped`. `Queued` is never
//!   used: a second deployment to a busy group is refused with
//!   DeploymentLimitExceededException.
//! - Hosts are started while the in-flight and failed hosts stay within the
//!   fleet minus minimum healthy (`MOST_CONCURRENCY` for OneAtATime keeps all
//!   but one healthy). When that can no longer be kept, hosts not started are
//!   Skipped and the deployment fails with HEALTH_CONSTRAINTS once the hosts
//!   in flight finish. Success needs minimum healthy successes, and one at least.
//! - Each host gets the in-place events one command at a time; ApplicationStop
//!   is Skipped until the host has finished Install in an earlier deployment
//!   of the group. A failed ApplicationStop is passed over when
//!   `ignoreApplicationStopFailures` is set.
//! - A command not completed within the host timeout fails its event with
//!   UnknownError; a completion arriving after that is a ClientException.
//!   The host's next commands (a rollback's, say) go out at once, even
//!   though the abandoned script may still be running there: whether AWS
//!   holds them back is not documented, so agents must cope with both.
//!   Agent error codes map to the lifecycle vocabulary (1 ScriptMissing …
//!   6 OutputsLeftOpen); 7, which has no service name, is UnknownError.
//!   With a deployment timeout set
//!   ([`SimulatorConfig::deployment_timeout`]), a deployment still running
//!   then fails with TIMEOUT.
//! - StopDeployment withdraws commands not yet polled and answers `Pending`
//!   while hosts finish the event in hand; the deployment is then `Stopped`
//!   (MANUAL_STOP). A failure (with DEPLOYMENT_FAILURE auto-rollback) or a
//!   stop asking for rollback redeploys the group's last successful revision
//!   as creator `codeDeployRollback`, with `rollbackInfo` on both deployments.
//!
//! - List operations answer a page at a time with `nextToken`
//!   ([`SimulatorConfig::page_size`]). A deregistered on-premises instance
//!   stays listed (with its `deregisterTime`) but is never a target, and
//!   its IAM identity may be registered again.
//! - Time of day comes from [`SimulatorConfig::clock`]; timers run on
//!   tokio's clock. Tests can expire a host's commands at once
//!   ([`SimulatorHandle::expire_commands`]) and await a deployment's status
//!   ([`SimulatorHandle::watch`]) instead of leaving margins.
//!
//! # Layout
//! - [`server`]: the axum router for both planes and the [`Simulator`] entry.
//! - [`control`]: the control plane, `CodeDeploy_20141006.<Op>`.
//! - [`commands`]: the host command plane, `CodeDeployCommandService_v20141006.<Op>`.
//! - [`orchestrator`]: scheduling hosts, lifecycle, failures, stops, timeouts, rollbacks.
//! - [`state`]: the records: applications, groups, revisions, deployments, instances.
//! - [`clock`]: the injected wall clock.
//! - [`configs`]: `CodeDeployDefault.*` and minimum healthy hosts.
//! - [`envelope`]: the signed or plain envelope a deployment spec travels in.
//! - [`planned_ids`]: deployment and command ids a test plans ahead
//!   ([`SimulatorConfig::ids`]), to replay a recorded transcript.
//! - [`faults`]: throttling, server errors and bad answers a test plans for
//!   the command plane ([`SimulatorConfig::faults`]), and its calls.

pub(crate) mod clock;
pub(crate) mod commands;
pub(crate) mod configs;
pub(crate) mod control;
pub(crate) mod envelope;
pub(crate) mod faults;
pub(crate) mod orchestrator;
pub(crate) mod planned_ids;
pub(crate) mod server;
pub(crate) mod state;

pub use clock::Clock;
pub use envelope::{EnvelopeFormat, Signer, pkcs7_json};
pub use faults::{Call, Fault, Faults};
pub use planned_ids::PlannedIds;
pub use server::{
    AwsError, HostReport, Simulator, SimulatorConfig, SimulatorError, SimulatorHandle, StatusWatch,
};
