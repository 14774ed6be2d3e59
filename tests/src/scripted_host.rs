//! A scripted host: speaks the CodeDeploy host command protocol exactly as
//! the official agent does, but instead of running hooks it plays a script
//! that says, per lifecycle event, how the host answers.
//!
//! Per command, like `command_poller.rb`: GetDeploymentSpecification (the
//! spec is fetched before the ack and only its `GenericEnvelope` is used),
//! PutHostCommandAcknowledgement with `{"IsCommandNoop":…}`, then, unless
//! the ack said the command is already Succeeded or Failed,
//! PutHostCommandComplete with the agent's diagnostics JSON
//! `{"error_code":…,"script_name":…,"message":…,"log":…}`.
//!
//! Tests drive one command at a time with [`ScriptedHost::handle_next`], or
//! let the host poll on its own with [`ScriptedHost::spawn`], which handles
//! commands concurrently as the agent's thread pool does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::credentials::IssuedCredential;
use slipway_agent::command_service::Flavor;
pub use slipway_agent::command_service::client::{
    AGENT_VERSION_HEADER, CommandClient, CommandError, HTTP_READ_TIMEOUT,
};
pub use slipway_agent::command_service::types::{
    CommandStatus, DeploymentSpecification, HostCommand, SpecificationOutput,
};
pub use slipway_agent::spec::deployment_spec::SpecError;
use slipway_agent::spec::envelope::{self, Envelope, EnvelopeError, EnvelopePolicy};
pub use slipway_agent::spec::{DeploymentSpec, Revision};

/// The SigV4 signing name the scripted hosts use.
pub const SIGNING_NAME: &str = Flavor::Standard.signing_name();
/// The prefix of every `X-Amz-Target` the scripted hosts send.
pub const TARGET_PREFIX: &str = Flavor::Standard.target_prefix();
use crate::sync::lock;

use slipway_shared::diagnostics::Diagnostics;
/// The agent's diagnostics codes, shared with the action and the agent.
pub use slipway_shared::diagnostics::ErrorCode;
use slipway_shared::lifecycle::LifecycleEvent;

/// How the host answers one lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event has no hook: acknowledged as a noop, completed Succeeded.
    Noop,
    /// A hook runs for this long and succeeds.
    Succeed(Duration),
    /// A hook runs and fails with this code.
    Fail {
        /// The diagnostics code.
        code: ErrorCode,
        /// The script the diagnostics name.
        script_name: String,
        /// The diagnostics message.
        message: String,
        /// The tail of the script's log.
        log: String,
    },
    /// A hook that runs until the test opens the gate, then succeeds: an
    /// event held in flight for exactly as long as the test needs.
    WaitFor(Gate),
    /// Acknowledged, then never completed (a hung script).
    Hang,
    /// Polled but never acknowledged nor completed (a host that died).
    NeverAnswer,
}

/// A gate a [`Outcome::WaitFor`] hook waits on until the test opens it.
/// Clones share one gate; once open it stays open.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets every hook waiting on this gate, and every later one, finish.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Waits until the gate is open.
    pub async fn wait(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close here.
        let _ = open.wait_for(|open| *open).await;
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Gate {}

impl Outcome {
    /// A script that exits with `exit_code`, in the official agent's words.
    pub fn script_failed(script: &str, exit_code: i32) -> Self {
        Self::Fail {
            code: ErrorCode::ScriptFailed,
            script_name: script.to_owned(),
            message: format!(
                "Script at specified location: {script} failed with exit code {exit_code}"
            ),
            log: format!("[stderr]{script}: exit {exit_code}\n"),
        }
    }

    /// Whether the agent would ack this event as a noop.
    fn is_noop(&self, event: &str) -> bool {
        // The agent does DownloadBundle and Install itself, hooks or not.
        matches!(self, Self::Noop)
            && LifecycleEvent::from_name(event).is_none_or(LifecycleEvent::takes_hooks)
    }
}

/// What the host does for each lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    default: Outcome,
    events: HashMap<String, Outcome>,
}

impl Script {
    /// Every event succeeds at once, as on a host whose appspec has no hooks.
    pub fn noop() -> Self {
        Self::all(Outcome::Noop)
    }

    /// Every event answers with `outcome` unless told otherwise.
    pub fn all(outcome: Outcome) -> Self {
        Self {
            default: outcome,
            events: HashMap::new(),
        }
    }

    /// `event` answers with `outcome`.
    pub fn on(mut self, event: &str, outcome: Outcome) -> Self {
        self.events.insert(event.to_owned(), outcome);
        self
    }

    /// How the host answers `event`.
    pub fn outcome(&self, event: &str) -> &Outcome {
        self.events.get(event).unwrap_or(&self.default)
    }
}

/// Who the host is and where it polls.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The command plane, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The signing region.
    pub region: String,
    /// The on-premises IAM ARN or the EC2 instance ARN.
    pub host_identifier: String,
    /// The credentials the host signs with.
    pub credential: IssuedCredential,
    /// The `x-amz-codedeploy-agent-version` value.
    pub agent_version: String,
    /// The pause after each poll (the agent's `wait_between_runs`).
    pub poll_pause: Duration,
    /// The pause after a failed poll (the agent backs off from 10 s).
    pub error_pause: Duration,
    /// Shared between hosts to spare sockets, or one per host.
    pub http: reqwest::Client,
}

impl HostConfig {
    /// A host that polls without pause and signs with `credential`.
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        host_identifier: impl Into<String>,
        credential: IssuedCredential,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: region.into(),
            host_identifier: host_identifier.into(),
            credential,
            agent_version: "OFFICIAL_1.8.1-scripted_host".to_owned(),
            poll_pause: Duration::ZERO,
            error_pause: Duration::from_millis(200),
            http: CommandClient::default_http(),
        }
    }
}

/// Why the host could not carry a command through.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A command-service call failed.
    #[error("command service call failed")]
    Call(#[from] CommandError),
    /// The command was for another host, as the agent checks by substring.
    #[error("host identifier mismatch: {ours} does not contain {theirs}")]
    HostMismatch {
        /// Our identifier.
        ours: String,
        /// The command's.
        theirs: String,
    },
    /// The command had no name.
    #[error("command {host_command_identifier} has no name")]
    NoCommandName {
        /// The command.
        host_command_identifier: String,
    },
    /// GetDeploymentSpecification did not say `CodeDeploy`.
    #[error("deployment system mismatch: {found:?}")]
    DeploymentSystem {
        /// What it said.
        found: Option<String>,
    },
    /// GetDeploymentSpecification had no GenericEnvelope.
    #[error("deployment specification missing for {deployment_execution_id}")]
    NoSpecification {
        /// The execution asked about.
        deployment_execution_id: String,
    },
    /// The envelope did not open.
    #[error("cannot open the spec envelope for {deployment_execution_id}")]
    Envelope {
        /// The execution asked about.
        deployment_execution_id: String,
        /// Why.
        #[source]
        source: EnvelopeError,
    },
    /// The spec inside was not what the agent accepts.
    #[error("bad deployment specification for {deployment_execution_id}")]
    Spec {
        /// The execution asked about.
        deployment_execution_id: String,
        /// Why.
        #[source]
        source: SpecError,
    },
}

/// How one command ended, from the host's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Completed with `Succeeded` or `Failed`.
    Completed(String),
    /// The ack said the command was already `Succeeded` or `Failed`.
    SkippedByAck(String),
    /// Acked and left hanging, as scripted.
    Hung,
    /// Never acked, as scripted.
    Ignored,
}

/// One command the host handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// The polled command.
    pub command: HostCommand,
    /// The lifecycle event.
    pub event: String,
    /// The spec it came with.
    pub spec: DeploymentSpec,
    /// The envelope format it came in.
    pub envelope_format: String,
    /// How it ended.
    pub ending: Ending,
    /// Time spent in the scripted "hook" (what a real host spends in scripts).
    pub script_time: Duration,
}

/// A host that plays a [`Script`].
#[derive(Debug, Clone)]
pub struct ScriptedHost {
    client: CommandClient,
    host_identifier: String,
    script: Arc<Mutex<Script>>,
    poll_pause: Duration,
    error_pause: Duration,
}

impl ScriptedHost {
    /// A host as configured, playing `script`.
    pub fn new(config: HostConfig, script: Script) -> Self {
        let client = CommandClient::new(
            config.http,
            config.endpoint,
            config.region,
            config.credential.to_credentials(),
            config.agent_version,
        );
        Self {
            client,
            host_identifier: config.host_identifier,
            script: Arc::new(Mutex::new(script)),
            poll_pause: config.poll_pause,
            error_pause: config.error_pause,
        }
    }

    /// The signed client the host calls the service with.
    pub fn client(&self) -> &CommandClient {
        &self.client
    }

    /// The host's identifier.
    pub fn host_identifier(&self) -> &str {
        &self.host_identifier
    }

    /// Replaces the script, also for a host already [spawned](Self::spawn).
    pub fn set_script(&self, script: Script) {
        *lock(&self.script) = script;
    }

    fn outcome(&self, event: &str) -> Outcome {
        lock(&self.script).outcome(event).clone()
    }

    /// Polls once (a long poll) and carries the command it gets, if any,
    /// to its scripted end.
    pub async fn handle_next(&self) -> Result<Option<Handled>, HostError> {
        match self.poll().await? {
            Some(command) => self.handle(command).await.map(Some),
            None => Ok(None),
        }
    }

    /// PollHostCommand, with the agent's checks on the answer.
    pub async fn poll(&self) -> Result<Option<HostCommand>, HostError> {
        let Some(command) = self.client.poll_host_command(&self.host_identifier).await? else {
            return Ok(None);
        };
        let theirs = command.host_identifier.clone().unwrap_or_default();
        if !self.host_identifier.contains(&theirs) {
            return Err(HostError::HostMismatch {
                ours: self.host_identifier.clone(),
                theirs,
            });
        }
        if command.command_name.as_deref().is_none_or(str::is_empty) {
            return Err(HostError::NoCommandName {
                host_command_identifier: command.host_command_identifier,
            });
        }
        Ok(Some(command))
    }

    /// Carries one polled command through spec, ack and completion.
    pub async fn handle(&self, command: HostCommand) -> Result<Handled, HostError> {
        let event = command.command_name.clone().unwrap_or_default();
        let outcome = self.outcome(&event);
        let (spec, envelope_format) = self.specification(&command).await?;
        let mut handled = Handled {
            command,
            event,
            spec,
            envelope_format,
            ending: Ending::Ignored,
            script_time: Duration::ZERO,
        };
        if outcome == Outcome::NeverAnswer {
            return Ok(handled);
        }
        let id = handled.command.host_command_identifier.clone();
        let noop = outcome.is_noop(&handled.event);
        let ack = Envelope {
            format: "JSON".to_owned(),
            payload: json!({ "IsCommandNoop": noop }).to_string(),
        };
        let status = self
            .client
            .put_host_command_acknowledgement(&id, Some(&ack))
            .await?;
        if let Some(status) = status.filter(|s| s.is_final()) {
            if status == CommandStatus::Failed && noop {
                // As the agent does: it fetches the spec again to re-check
                // that the command is a noop, and a noop, needing no work,
                // still succeeds.
                self.specification(&handled.command).await?;
                self.complete(
                    &id,
                    CommandStatus::Succeeded,
                    diagnostics(Diagnostics {
                        message: "Succeeded: CompletedNoopCommand".to_owned(),
                        ..Diagnostics::succeeded()
                    }),
                )
                .await?;
            }
            handled.ending = Ending::SkippedByAck(status.as_str().to_owned());
            return Ok(handled);
        }
        let (status, report) = match outcome {
            Outcome::Noop => (
                CommandStatus::Succeeded,
                diagnostics(Diagnostics::succeeded()),
            ),
            Outcome::Succeed(runtime) => {
                let started = Instant::now();
                tokio::time::sleep(runtime).await;
                handled.script_time = started.elapsed();
                (
                    CommandStatus::Succeeded,
                    diagnostics(Diagnostics::succeeded()),
                )
            }
            Outcome::WaitFor(gate) => {
                let started = Instant::now();
                gate.wait().await;
                handled.script_time = started.elapsed();
                (
                    CommandStatus::Succeeded,
                    diagnostics(Diagnostics::succeeded()),
                )
            }
            Outcome::Fail {
                code,
                script_name,
                message,
                log,
            } => (
                CommandStatus::Failed,
                diagnostics(Diagnostics {
                    error_code: code,
                    script_name,
                    message,
                    log,
                }),
            ),
            Outcome::Hang => {
                handled.ending = Ending::Hung;
                return Ok(handled);
            }
            Outcome::NeverAnswer => unreachable!("returned before the ack"),
        };
        self.complete(&id, status, report).await?;
        handled.ending = Ending::Completed(status.as_str().to_owned());
        Ok(handled)
    }

    async fn complete(
        &self,
        id: &str,
        status: CommandStatus,
        report: Envelope,
    ) -> Result<(), HostError> {
        self.client
            .put_host_command_complete(id, status, Some(&report))
            .await?;
        Ok(())
    }

    async fn specification(
        &self,
        command: &HostCommand,
    ) -> Result<(DeploymentSpec, String), HostError> {
        let execution = &command.deployment_execution_id;
        let output = self
            .client
            .get_deployment_specification(execution, &self.host_identifier)
            .await?;
        if output.deployment_system.as_deref() != Some("CodeDeploy") {
            return Err(HostError::DeploymentSystem {
                found: output.deployment_system,
            });
        }
        let envelope = output
            .deployment_specification
            .and_then(|s| s.generic_envelope)
            .ok_or_else(|| HostError::NoSpecification {
                deployment_execution_id: execution.clone(),
            })?;
        // The simulator hands out TEXT/JSON when a test asks for it: the
        // scripted hosts treat it as a development endpoint.
        let policy = EnvelopePolicy {
            allow_text: true,
            ..EnvelopePolicy::default()
        };
        let json = envelope::open(&envelope, &policy).map_err(|source| HostError::Envelope {
            deployment_execution_id: execution.clone(),
            source,
        })?;
        let spec = slipway_agent::spec::deployment_spec::parse(&json).map_err(|source| {
            HostError::Spec {
                deployment_execution_id: execution.clone(),
                source,
            }
        })?;
        Ok((spec, envelope.format))
    }

    /// Starts polling in the background until the returned handle is stopped
    /// or dropped. Each command runs on its own task, as on the agent's
    /// thread pool, so a hung event does not stop the polling.
    pub fn spawn(self) -> RunningHost {
        let log = Arc::new(Mutex::new(HostLog::default()));
        let (host, task_log) = (self.clone(), log.clone());
        let task = tokio::spawn(async move {
            loop {
                match host.poll().await {
                    Ok(Some(command)) => {
                        let (worker, log) = (host.clone(), task_log.clone());
                        tokio::spawn(async move {
                            let result = worker.handle(command).await;
                            let mut log = lock(&log);
                            match result {
                                Ok(handled) => log.handled.push(handled),
                                Err(err) => log.errors.push(slipway_shared::error_chain(&err)),
                            }
                        });
                        tokio::time::sleep(host.poll_pause).await;
                    }
                    Ok(None) => tokio::time::sleep(host.poll_pause).await,
                    Err(err) => {
                        lock(&task_log)
                            .errors
                            .push(slipway_shared::error_chain(&err));
                        tokio::time::sleep(host.error_pause).await;
                    }
                }
            }
        });
        RunningHost {
            host: self,
            log,
            task,
        }
    }
}

fn diagnostics(diagnostics: Diagnostics) -> Envelope {
    Envelope::json(&diagnostics)
}

#[derive(Debug, Default)]
struct HostLog {
    handled: Vec<Handled>,
    errors: Vec<String>,
}

/// A host polling in the background; dropping it stops the polling (a
/// command already in hand still finishes).
#[derive(Debug)]
pub struct RunningHost {
    host: ScriptedHost,
    log: Arc<Mutex<HostLog>>,
    task: JoinHandle<()>,
}

impl RunningHost {
    /// The host, e.g. to change its script.
    pub fn host(&self) -> &ScriptedHost {
        &self.host
    }

    /// Every command handled so far, in the order they ended. A command is
    /// recorded once its completion call has returned, a moment after the
    /// simulator saw it: wait for records with [`Self::wait_until`].
    pub fn handled(&self) -> Vec<Handled> {
        self.lock().handled.clone()
    }

    /// Every error met so far, each with its causes.
    pub fn errors(&self) -> Vec<String> {
        self.lock().errors.clone()
    }

    /// Total time spent in scripted hooks.
    pub fn script_time(&self) -> Duration {
        self.lock().handled.iter().map(|h| h.script_time).sum()
    }

    /// Waits until `done` holds for the handled commands, checking every
    /// 20 ms; gives up after `deadline` and returns what was handled.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        done: impl Fn(&[Handled]) -> bool,
    ) -> Result<Vec<Handled>, Vec<Handled>> {
        let until = Instant::now() + deadline;
        loop {
            let handled = self.handled();
            if done(&handled) {
                return Ok(handled);
            }
            if Instant::now() >= until {
                return Err(handled);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops polling.
    pub fn stop(&self) {
        self.task.abort();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HostLog> {
        lock(&self.log)
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::credentials::CredentialStore;
    use crate::sigv4_verify;

    /// The agent's client signs what the simulator's verifier accepts.
    #[test]
    fn signs_calls_the_command_plane_accepts() {
        let credential = IssuedCredential {
            access_key_id: "AKIASCRIPTEDHOST0001".to_owned(),
            secret_access_key: "scripted/host/secret/0123456789abcdefghi".to_owned(),
            session_token: None,
            expiration: None,
            principal_arn: "arn:aws:iam::123456789012:user/host-1".to_owned(),
        };
        let store = CredentialStore::default();
        store.insert(credential.clone());
        let client = CommandClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:4567",
            "us-east-1",
            credential.to_credentials(),
            "OFFICIAL_1.8.1-test",
        );
        let body = br#"{"HostIdentifier":"arn:aws:iam::123456789012:user/host-1"}"#;
        let now = SystemTime::now();
        let target = format!("{TARGET_PREFIX}.PollHostCommand");
        let mut headers = http::HeaderMap::new();
        // reqwest adds the host header from the URL.
        headers.insert("host", "127.0.0.1:4567".parse().unwrap());
        let signed = client
            .signed_headers(&credential.to_credentials(), &target, body, now)
            .unwrap();
        for (name, value) in signed {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        assert_eq!(headers[AGENT_VERSION_HEADER], "OFFICIAL_1.8.1-test");
        let verified = sigv4_verify::verify(
            &http::Method::POST,
            &"/".parse().unwrap(),
            &headers,
            body,
            SIGNING_NAME,
            "us-east-1",
            &store,
            now,
        );
        assert_eq!(verified, Ok(credential));
    }

    #[test]
    fn a_script_answers_each_event_with_its_own_outcome_or_the_default() {
        let failed = Outcome::script_failed("start.sh", 3);
        let script = Script::noop().on("ApplicationStart", failed.clone());
        assert_eq!(script.outcome("BeforeInstall"), &Outcome::Noop);
        assert_eq!(script.outcome("ApplicationStart"), &failed);
    }

    /// The official agent v1.8.1's report of a script that exited 3, as
    /// captured against the simulator (reference notes, 2026-12-01): the
    /// code, the message and a log tail whose lines carry a stream prefix.
    #[test]
    fn a_failed_script_reads_as_the_official_agent_reports_it() {
        let Outcome::Fail {
            code,
            script_name,
            message,
            log,
        } = Outcome::script_failed("scripts/start.sh", 3)
        else {
            panic!("a failure");
        };
        assert_eq!(code.code(), 4);
        assert_eq!(script_name, "scripts/start.sh");
        assert!(message.ends_with("failed with exit code 3"), "{message}");
        assert!(message.contains("scripts/start.sh"), "{message}");
        assert!(
            log.starts_with("[stderr]") && log.ends_with('\n'),
            "{log:?}"
        );
    }

    #[test]
    fn the_agent_own_events_are_never_acked_as_noop() {
        assert!(Outcome::Noop.is_noop("ValidateService"));
        assert!(!Outcome::Noop.is_noop("DownloadBundle"));
        assert!(!Outcome::Noop.is_noop("Install"));
        assert!(!Outcome::Succeed(Duration::ZERO).is_noop("ValidateService"));
    }

    #[test]
    fn diagnostics_are_the_agent_json_with_an_integer_code() {
        let envelope = diagnostics(Diagnostics {
            error_code: ErrorCode::ScriptTimedOut,
            script_name: "a.sh".to_owned(),
            message: "timed out".to_owned(),
            log: "x\n".to_owned(),
        });
        assert_eq!(envelope.format, "JSON");
        let payload: serde_json::Value = serde_json::from_str(&envelope.payload).unwrap();
        assert_eq!(
            payload,
            json!({"error_code": 3, "script_name": "a.sh", "message": "timed out", "log": "x\n"})
        );
    }
}
