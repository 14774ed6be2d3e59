//! The poll loop, as `command_poller.rb` runs it: PollHostCommand, then per
//! command GetDeploymentSpecification (before the ack; only the
//! `GenericEnvelope`), the envelope check, PutHostCommandAcknowledgement
//! with `IsCommandNoop` (skip when it answers Succeeded or Failed), the
//! tracking file, the executor, PutHostCommandComplete.
//!
//! Commands run concurrently, up to [`MAX_CONCURRENT_COMMANDS`] as in the
//! official agent's thread pool; when every slot is busy the loop stops
//! polling, so a command it could not start stays with the service instead
//! of waiting here. CodeDeploy hands a deployment's next event out only
//! once the last is complete, so each deployment's events arrive in order;
//! commands of one deployment group also run one at a time, in the order
//! they were polled, so that a rollback the service sends while an
//! abandoned hook of the same group still runs waits for it instead of
//! sharing its deployment root.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use slipway_shared::appspec::Hook;
use slipway_shared::diagnostics::{Diagnostics, ErrorCode};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::shutdown::Shutdown;
use super::status::{Board, Current, Deployment};
use super::tracking::Tracker;
use crate::Executor;
use crate::command_service::backoff::Backoff;
use crate::command_service::{CommandClient, CommandError, CommandStatus, HostCommand};
use crate::spec::DeploymentSpec;
use crate::spec::envelope::{self, Envelope, EnvelopePolicy};

/// The message the official agent sends for a command a restart interrupted,
/// its "Failed: " prefix included (seen in its PutHostCommandComplete).
pub const RESTART_MESSAGE: &str =
    "Failed: Failing in-progress lifecycle event after an agent restart.";

/// Commands run at once, as the official agent's thread pool allows.
pub const MAX_CONCURRENT_COMMANDS: usize = 16;

/// Everything the loop works with.
#[derive(Debug)]
pub struct Poller {
    /// The signed client.
    pub client: CommandClient,
    /// Our HostIdentifier.
    pub host_identifier: String,
    /// Runs the events.
    pub executor: Executor,
    /// The ongoing-deployment files.
    pub tracker: Tracker,
    /// What envelopes are accepted.
    pub policy: EnvelopePolicy,
    /// `wait_between_runs`.
    pub wait_between_runs: Duration,
    /// The pauses after errors.
    pub backoff: Backoff,
    /// How long running commands may go on after the stop signal.
    pub grace: Duration,
    /// What the status API shows.
    pub board: Board,
    /// Commands run at once.
    pub max_concurrent: usize,
    /// The pause between PostHostCommandUpdate calls while a command runs.
    pub update_interval: Duration,
    /// One lock per deployment group, held while its command runs.
    pub groups: GroupLocks,
}

/// Serialises the commands of each deployment group, first polled first run
/// (tokio's mutex is fair).
#[derive(Debug, Default)]
pub struct GroupLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl GroupLocks {
    /// Runs `work` once the group's earlier commands are done.
    async fn run<T>(&self, group: &str, work: impl Future<Output = T>) -> T {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(group.to_owned()).or_default().clone()
        };
        let out = {
            let _held = lock.lock().await;
            work.await
        };
        drop(lock);
        // Forget the groups nobody holds or waits for.
        let mut locks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        out
    }
}

/// When the event's `scripts` will be done at the latest: now plus the sum
/// of their timeouts, when every script names one (the official agent's
/// `total_timeout_for_all_lifecycle_events` sends nothing when one is left
/// to the default).
fn estimated_completion(scripts: Option<&[Hook]>) -> Option<SystemTime> {
    let scripts = scripts?;
    if scripts.is_empty() || scripts.iter().any(|s| !s.timeout_given) {
        return None;
    }
    let total: u64 = scripts.iter().map(|s| s.timeout_secs).sum();
    Some(SystemTime::now() + Duration::from_secs(total))
}

/// Why a command could not be run, reported as its failure.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("GetDeploymentSpecification failed")]
    Call(#[from] CommandError),
    #[error("deployment system is {0:?}, not CodeDeploy")]
    DeploymentSystem(Option<String>),
    #[error("the deployment specification has no GenericEnvelope")]
    NoEnvelope,
    #[error("the deployment specification envelope was refused")]
    Envelope(#[from] envelope::EnvelopeError),
    #[error("the deployment specification was refused")]
    Spec(#[from] crate::spec::deployment_spec::SpecError),
}

impl Poller {
    /// Fails, with code 7, the commands a previous run left in progress.
    pub async fn recover(&self) {
        for interrupted in self.tracker.take_interrupted(SystemTime::now()) {
            let diagnostics = Diagnostics {
                error_code: ErrorCode::FailedAfterRestart,
                script_name: String::new(),
                message: RESTART_MESSAGE.to_owned(),
                log: String::new(),
            };
            let sent = self
                .complete(
                    &interrupted.host_command_identifier,
                    CommandStatus::Failed,
                    &diagnostics,
                )
                .await;
            match sent {
                Ok(()) => tracing::warn!(
                    deployment_id = %interrupted.deployment_id,
                    "failed the command a restart interrupted (FailedAfterRestart)"
                ),
                Err(e) => tracing::warn!(
                    deployment_id = %interrupted.deployment_id,
                    error = %crate::executor::chain(&e),
                    "could not fail the command a restart interrupted"
                ),
            }
            self.board.command("FailedAfterRestart");
        }
    }

    /// Polls until `shutdown`; commands running then get the grace period,
    /// after which their hooks' process groups are ended.
    pub async fn run(self, mut shutdown: Shutdown) {
        self.recover().await;
        let mut backoff = self.backoff.clone();
        let slots = Arc::new(Semaphore::new(self.max_concurrent.max(1)));
        let this = Arc::new(self);
        let mut running = JoinSet::new();
        while !shutdown.is_triggered() {
            while running.try_join_next().is_some() {}
            // A free slot first: a command polled is a command started.
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                () = shutdown.wait() => break,
            };
            let started = Instant::now();
            let polled = tokio::select! {
                polled = this.client.poll_host_command(&this.host_identifier) => polled,
                () = shutdown.wait() => break,
            };
            let pause = match polled {
                Ok(command) => {
                    this.board.polled();
                    backoff.reset();
                    if let Some(command) = command {
                        let this = this.clone();
                        running.spawn(async move {
                            this.handle(command).await;
                            drop(slot);
                            super::memory::release_free();
                        });
                    }
                    this.wait_between_runs
                }
                Err(error) => {
                    this.board.poll_failed();
                    let pause = backoff.next(error.is_throttling(), started.elapsed());
                    tracing::warn!(
                        error = %crate::executor::chain(&error),
                        pause_ms = pause.as_millis() as u64,
                        "PollHostCommand failed; backing off"
                    );
                    pause
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = shutdown.wait() => break,
            }
        }
        tracing::info!("stopped polling");
        this.drain(running).await;
    }

    /// Lets the running commands finish within the grace period, then ends
    /// their hooks and waits for the reports.
    async fn drain(&self, mut running: JoinSet<()>) {
        if running.is_empty() {
            return;
        }
        tracing::info!(
            commands = running.len(),
            grace_s = self.grace.as_secs(),
            "stop requested: running commands may finish within the grace period"
        );
        let all = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(self.grace, all).await.is_ok() {
            return;
        }
        let groups = crate::hooks::running::terminate_all().await;
        tracing::warn!(
            ?groups,
            "grace period over: ended the running hooks' process groups"
        );
        while running.join_next().await.is_some() {}
    }

    /// Carries one polled command to its completion.
    pub async fn handle(&self, command: HostCommand) {
        let id = command.host_command_identifier.clone();
        let theirs = command.host_identifier.clone().unwrap_or_default();
        // The official agent matches by substring; a command for another host is dropped.
        if !self.host_identifier.contains(&theirs) {
            tracing::error!(ours = %self.host_identifier, %theirs, "refused a command for another host");
            self.board.command("Refused");
            return;
        }
        let name = command.command_name.clone().unwrap_or_default();
        if name.is_empty() {
            tracing::error!(host_command_identifier = %id, "refused a command without a name");
            self.board.command("Refused");
            return;
        }
        let spec = self.specification(&command).await;
        let deployment_id = spec
            .as_ref()
            .map(|s| s.deployment_id.clone())
            .unwrap_or_default();
        let span = tracing::info_span!("command", deployment_id = %deployment_id, event = %name);
        self.run_command(command, spec).instrument(span).await;
    }

    /// The scripts the command's event would run (see
    /// [`Executor::planned_scripts`]), read once for both the ack's
    /// `IsCommandNoop` and the update's estimate; `None` when there is no
    /// list (DownloadBundle, Install, or a revision that cannot be read,
    /// which is not a no-op: the event runs and reports why).
    fn planned_scripts(
        &self,
        command: &HostCommand,
        spec: &Result<DeploymentSpec, Refusal>,
    ) -> Option<Vec<Hook>> {
        let (Ok(spec), Some(event)) = (spec, command.event()) else {
            return None;
        };
        self.executor.planned_scripts(spec, event).ok().flatten()
    }

    async fn run_command(&self, command: HostCommand, spec: Result<DeploymentSpec, Refusal>) {
        let id = command.host_command_identifier.clone();
        let name = command.command_name.clone().unwrap_or_default();
        let planned = self.planned_scripts(&command, &spec);
        // As the official agent tells the service: nothing to run.
        let noop = planned.as_ref().is_some_and(Vec::is_empty);
        let ack = Envelope::json(&json!({ "IsCommandNoop": noop }));
        match self
            .retried(|| {
                self.client
                    .put_host_command_acknowledgement(&id, Some(&ack))
            })
            .await
        {
            Ok(Some(CommandStatus::Failed)) if noop => {
                // The official agent completes a no-op the service failed
                // (CompletedNoopCommand), so the event need not wait.
                tracing::info!("the service failed a no-op command; completed it");
                let diagnostics = Diagnostics {
                    message: "Succeeded: CompletedNoopCommand".to_owned(),
                    ..Diagnostics::succeeded()
                };
                self.finish(&id, &diagnostics).await;
                self.board.command("Skipped");
                return;
            }
            Ok(Some(status)) if status.is_final() => {
                tracing::info!(
                    status = status.as_str(),
                    "the service already ended this command; skipped"
                );
                self.board.command("Skipped");
                return;
            }
            Ok(_) => {}
            Err(error) => {
                // The service does not hand a command out again: failing it,
                // as the official agent does, beats leaving the event to
                // wait out its timeout.
                tracing::error!(error = %crate::executor::chain(&error), "PutHostCommandAcknowledgement failed; nothing runs");
                self.finish(&id, &unknown(crate::executor::chain(&error)))
                    .await;
                self.board.command("Failed");
                return;
            }
        }
        let spec = match spec {
            Ok(spec) => spec,
            Err(refusal) => {
                tracing::error!(error = %crate::executor::chain(&refusal), "nothing runs");
                let diagnostics = unknown(crate::executor::chain(&refusal));
                self.finish(&id, &diagnostics).await;
                self.board.command("Failed");
                return;
            }
        };
        let Some(event) = command.event() else {
            let diagnostics = unknown(format!("Unsupported command type: {name}."));
            self.finish(&id, &diagnostics).await;
            self.board.command("Failed");
            return;
        };
        if let Err(e) = self.tracker.start(&spec.deployment_id, &id) {
            tracing::warn!(error = %e, dir = %self.tracker.dir().display(), "cannot write the tracking file");
        }
        let group = spec.deployment_group_id.clone();
        self.groups
            .run(&group, self.execute(&id, &name, &spec, event, planned))
            .await;
    }

    async fn execute(
        &self,
        id: &str,
        name: &str,
        spec: &DeploymentSpec,
        event: slipway_shared::lifecycle::LifecycleEvent,
        planned: Option<Vec<Hook>>,
    ) {
        self.board.started(Current {
            deployment_id: spec.deployment_id.clone(),
            event: name.to_owned(),
            started_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        });
        tracing::info!("running");
        let started = Instant::now();
        let estimate = estimated_completion(planned.as_deref());
        let diagnostics = {
            let run = self.executor.run_event(spec, event);
            tokio::pin!(run);
            tokio::select! {
                diagnostics = &mut run => diagnostics,
                never = self.keep_alive(id, estimate) => match never {},
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            error_code = diagnostics.error_code.name(),
            // Not `message`, which is the line's own in JSON.
            diagnostics = %diagnostics.message,
            "event ended"
        );
        self.finish(id, &diagnostics).await;
        self.tracker.finish(&spec.deployment_id);
        let deployment = Deployment {
            deployment_id: spec.deployment_id.clone(),
            application_name: spec.application_name.clone(),
            deployment_group_name: spec.deployment_group_name.clone(),
            events: Vec::new(),
        };
        self.board
            .finished(&deployment, name, &diagnostics, seconds);
    }

    /// While a command runs: PostHostCommandUpdate every `update_interval`,
    /// so that a long hook shows the service it is alive and when it will
    /// end. The service's answer is logged; a command it has given up on
    /// (host timeout, stop) still runs to its end, as the official agent's
    /// does, and its completion is then refused.
    async fn keep_alive(&self, id: &str, estimate: Option<SystemTime>) -> std::convert::Infallible {
        let mut warned = false;
        loop {
            tokio::time::sleep(self.update_interval).await;
            match self
                .client
                .post_host_command_update(id, estimate, None)
                .await
            {
                Ok(Some(status)) if status.is_final() && !warned => {
                    warned = true;
                    tracing::warn!(
                        status = status.as_str(),
                        "the service has ended this command while it runs (host timeout or stop)"
                    );
                }
                Ok(_) => tracing::debug!("PostHostCommandUpdate sent"),
                Err(error) => {
                    tracing::warn!(error = %crate::executor::chain(&error), "PostHostCommandUpdate failed")
                }
            }
        }
    }

    async fn finish(&self, id: &str, diagnostics: &Diagnostics) {
        let status = if diagnostics.error_code == ErrorCode::Succeeded {
            CommandStatus::Succeeded
        } else {
            CommandStatus::Failed
        };
        if let Err(error) = self.complete(id, status, diagnostics).await {
            tracing::error!(error = %crate::executor::chain(&error), "PutHostCommandComplete failed");
        }
    }

    /// PutHostCommandComplete, retried a few times on throttling, 5xx and
    /// transport errors: losing it would leave the host's event to time out.
    async fn complete(
        &self,
        id: &str,
        status: CommandStatus,
        diagnostics: &Diagnostics,
    ) -> Result<(), CommandError> {
        let report = Envelope::json(diagnostics);
        self.retried(|| {
            self.client
                .put_host_command_complete(id, status, Some(&report))
        })
        .await
    }

    /// `call`, retried a few times on throttling, 5xx and transport errors,
    /// as the official agent's SDK retries every call three times: a call
    /// carrying a command must not be lost to one bad answer, or the
    /// host's event would wait out its timeout.
    async fn retried<T, F>(&self, call: impl Fn() -> F) -> Result<T, CommandError>
    where
        F: Future<Output = Result<T, CommandError>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Err(error) if attempt < 3 && retryable(&error) => {
                    attempt += 1;
                    let pause = Duration::from_millis(250 << attempt).mul_f64(self.backoff.scale);
                    tracing::warn!(error = %crate::executor::chain(&error), attempt, "retrying");
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }
}

fn retryable(error: &CommandError) -> bool {
    match error {
        CommandError::Transport { .. } => true,
        CommandError::Service { status, .. } => *status >= 500 || error.is_throttling(),
        _ => false,
    }
}

fn unknown(message: String) -> Diagnostics {
    Diagnostics {
        error_code: ErrorCode::UnknownError,
        script_name: String::new(),
        message,
        log: String::new(),
    }
}

impl Poller {
    async fn specification(&self, command: &HostCommand) -> Result<DeploymentSpec, Refusal> {
        let output = self
            .retried(|| {
                self.client.get_deployment_specification(
                    &command.deployment_execution_id,
                    &self.host_identifier,
                )
            })
            .await?;
        if output.deployment_system.as_deref() != Some("CodeDeploy") {
            return Err(Refusal::DeploymentSystem(output.deployment_system));
        }
        let envelope = output
            .deployment_specification
            .and_then(|s| s.generic_envelope)
            .ok_or(Refusal::NoEnvelope)?;
        let json = envelope::open(&envelope, &self.policy)?;
        Ok(crate::spec::deployment_spec::parse(&json)?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;

    use super::*;
    use crate::clock::SystemClock;
    use crate::config::Config;
    use crate::daemon::shutdown;
    use crate::executor::Host;

    /// A command plane that throttles twice, fails once with a 500, then
    /// answers with no command.
    async fn flaky_service(calls: Arc<AtomicUsize>) -> String {
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || {
                let calls = calls.clone();
                async move {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 | 1 => (
                            StatusCode::BAD_REQUEST,
                            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                        ),
                        2 => (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            r#"{"__type":"ServerException"}"#,
                        ),
                        _ => (StatusCode::OK, "{}"),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn a_groups_commands_run_one_at_a_time_in_order_and_other_groups_alongside() {
        let locks = Arc::new(GroupLocks::default());
        let (release, gate) = tokio::sync::watch::channel(false);
        let order = Arc::new(Mutex::new(Vec::new()));
        let task = |group: &'static str, name: &'static str, wait: bool| {
            let (locks, order, mut gate) = (locks.clone(), order.clone(), gate.clone());
            tokio::spawn(async move {
                locks
                    .run(group, async {
                        order.lock().unwrap().push(name);
                        if wait {
                            let _ = gate.wait_for(|open| *open).await;
                        }
                    })
                    .await
            })
        };
        let first = task("g1", "g1-first", true);
        tokio::task::yield_now().await;
        let second = task("g1", "g1-second", false);
        let other = task("g2", "g2", false);
        other.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["g1-first", "g2"]);
        release.send(true).unwrap();
        first.await.unwrap();
        second.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["g1-first", "g2", "g1-second"]);
        assert!(
            locks.0.lock().unwrap().is_empty(),
            "idle groups are forgotten"
        );
    }

    #[tokio::test]
    async fn throttling_and_server_errors_back_off_and_polling_goes_on() {
        let calls = Arc::new(AtomicUsize::new(0));
        let endpoint = flaky_service(calls.clone()).await;
        let root = tempfile::tempdir().unwrap();
        let credentials = aws_credential_types::Credentials::new("AKIA", "s", None, None, "t");
        let board = Board::default();
        let mut backoff = Backoff::new(Duration::from_secs(60));
        // 60 s after throttling and 10 s after the 500, shrunk a thousandfold.
        backoff.scale = 0.001;
        let poller = Poller {
            client: CommandClient::new(
                reqwest::Client::new(),
                endpoint,
                "us-east-1",
                credentials,
                "t",
            ),
            host_identifier: "arn:aws:iam::1:user/h".into(),
            executor: Executor::new(Host {
                config: Config {
                    root_dir: root.path().to_owned(),
                    ..Config::default()
                },
                s3: None,
                clock: Arc::new(SystemClock),
                env: Vec::new(),
            }),
            tracker: Tracker::new(root.path(), "ongoing-deployment"),
            policy: EnvelopePolicy::default(),
            wait_between_runs: Duration::ZERO,
            backoff,
            grace: Duration::from_secs(1),
            board: board.clone(),
            max_concurrent: MAX_CONCURRENT_COMMANDS,
            update_interval: Duration::from_secs(300),
            groups: GroupLocks::default(),
        };
        let (trigger, stop) = shutdown::channel();
        let running = tokio::spawn(poller.run(stop));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while calls.load(Ordering::SeqCst) < 6 {
            assert!(tokio::time::Instant::now() < deadline, "polling stopped");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        trigger.trigger();
        running.await.unwrap();
        let metrics = board.metrics();
        assert!(
            metrics.contains("slipway_agent_poll_errors_total 3\n"),
            "{metrics}"
        );
    }
}
