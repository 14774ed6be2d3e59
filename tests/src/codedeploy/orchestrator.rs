//! Runs deployments: picks hosts under the minimum-healthy rule, sends each
//! host its lifecycle events one command at a time, and settles failures,
//! Skipped hosts, HEALTH_CONSTRAINTS, stops, host timeouts and rollbacks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use slipway_shared::lifecycle::LifecycleEvent as Event;
use tokio::sync::Notify;

use super::configs::MinimumHealthy;
use super::envelope::{EnvelopeFormat, Signer};
use super::server::{SimulatorConfig, SimulatorError};
use super::state::{
    CommandPhase, Deployment, DeploymentStatus, ErrorInformation, EventDiagnostics, HostCommand,
    LastDeployment, RollbackInfo, State, Status, new_deployment_id,
};
use crate::credentials::CredentialStore;
use crate::sync::lock;

/// What a simulator was configured with and never changes.
#[derive(Debug)]
pub struct Settings {
    pub region: String,
    pub account_id: String,
    pub credentials: CredentialStore,
    pub poll_wait: Duration,
    pub envelope: EnvelopeFormat,
    pub signer: Signer,
}

/// The simulator's shared core: its records, and the wake-up for pollers.
#[derive(Debug)]
pub struct Simulation {
    pub settings: Settings,
    state: Mutex<State>,
    commands_ready: Notify,
    waiting_polls: AtomicUsize,
    /// Bumped after every access to the state, so a test can wait for a
    /// change instead of polling on a timer.
    changes: tokio::sync::watch::Sender<u64>,
}

/// Work to do once the state lock is released.
#[derive(Debug, Default)]
#[must_use]
pub struct Effects {
    /// Commands just queued: arm their host timeouts, wake pollers.
    commands: Vec<(String, Duration)>,
    /// Deployments just created (rollbacks) to start.
    started: Vec<String>,
    /// Deployments just started, with their deployment timeout.
    deadlines: Vec<(String, Duration)>,
}

const AGENT_UNREACHABLE: &str = "CodeDeploy agent was not able to receive the lifecycle event. \
     Check the CodeDeploy agent logs on your underlying instance and then try again.";
const HEALTH_CONSTRAINTS: &str = "The overall deployment failed because too many individual \
     instances failed deployment, too few healthy instances are available for deployment, or \
     some instances in your deployment group are experiencing problems.";
const NO_INSTANCES: &str = "The deployment failed because no instances were found for your \
     deployment group. Check your deployment group settings to make sure the tags for your \
     instances correctly identify the instances you want to deploy to, and then try again.";

impl Simulation {
    pub fn new(config: SimulatorConfig) -> Result<Self, SimulatorError> {
        let signer = Signer::generate_test().map_err(|source| SimulatorError::Signer { source })?;
        let mut state = State::new(
            config.region.clone(),
            config.account_id.clone(),
            config.host_timeout,
        );
        state.deployment_timeout = config.deployment_timeout;
        state.page_size = config.page_size.max(1);
        state.clock = config.clock.clone();
        Ok(Simulation {
            state: Mutex::new(state),
            settings: Settings {
                region: config.region,
                account_id: config.account_id,
                credentials: config.credentials,
                poll_wait: config.poll_wait,
                envelope: config.envelope,
                signer,
            },
            commands_ready: Notify::new(),
            waiting_polls: AtomicUsize::new(0),
            changes: tokio::sync::watch::Sender::new(0),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation completes before it can panic, so a poisoned lock
        // still guards consistent records.
        lock(&self.state)
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.lock());
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        out
    }

    /// Fires after the state may have changed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Fails every unfinished command of `host_identifier` now, as its host
    /// timeout would; returns how many there were.
    pub fn expire_commands(self: &Arc<Self>, host_identifier: &str) -> usize {
        let ids: Vec<String> = self.with_state(|st| {
            st.commands
                .values()
                .filter(|c| {
                    c.host_identifier == host_identifier
                        && !matches!(c.phase, CommandPhase::Completed | CommandPhase::Abandoned)
                })
                .map(|c| c.id.clone())
                .collect()
        });
        for id in &ids {
            let effects = self.with_state(|st| command_timed_out(st, id));
            self.apply(effects);
        }
        ids.len()
    }

    pub fn on_premises_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:codedeploy:{}:{}:instance/{name}",
            self.settings.region, self.settings.account_id
        )
    }

    pub fn waiting_polls(&self) -> usize {
        self.waiting_polls.load(Ordering::SeqCst)
    }

    /// Waits on `notified` (made from [`Self::commands_ready`] before the
    /// caller looked for work) until it fires or `deadline` passes.
    pub async fn wait_for(
        &self,
        notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
        deadline: tokio::time::Instant,
    ) -> bool {
        self.waiting_polls.fetch_add(1, Ordering::SeqCst);
        let woke = tokio::select! {
            _ = notified => true,
            _ = tokio::time::sleep_until(deadline) => false,
        };
        self.waiting_polls.fetch_sub(1, Ordering::SeqCst);
        woke
    }

    /// Fires whenever commands are queued.
    pub fn commands_ready(&self) -> &Notify {
        &self.commands_ready
    }

    /// Applies `effects`: arms host timeouts, wakes pollers, and starts
    /// newly created deployments.
    pub fn apply(self: &Arc<Self>, effects: Effects) {
        for (command, timeout) in &effects.commands {
            let weak: Weak<Simulation> = Arc::downgrade(self);
            let command = command.clone();
            let timeout = *timeout;
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                if let Some(sim) = weak.upgrade() {
                    let effects = sim.with_state(|st| command_timed_out(st, &command));
                    sim.apply(effects);
                }
            });
        }
        for (id, timeout) in effects.deadlines {
            let weak: Weak<Simulation> = Arc::downgrade(self);
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                if let Some(sim) = weak.upgrade() {
                    let effects = sim.with_state(|st| deployment_timed_out(st, &id));
                    sim.apply(effects);
                }
            });
        }
        if !effects.commands.is_empty() {
            self.commands_ready.notify_waiters();
        }
        for id in effects.started {
            let sim = self.clone();
            tokio::spawn(async move {
                let effects = sim.with_state(|st| start_deployment(st, &id));
                sim.apply(effects);
            });
        }
    }

    /// Schedules `id`, just created, to leave `Created`.
    pub fn schedule_start(self: &Arc<Self>, id: String) {
        self.apply(Effects {
            started: vec![id],
            ..Effects::default()
        });
    }
}

/// Moves a `Created` deployment to `InProgress` with its targets, or fails
/// it when it has no hosts or can never keep minimum healthy.
pub fn start_deployment(st: &mut State, id: &str) -> Effects {
    let mut effects = Effects::default();
    let now = st.now();
    let Some(d) = st.deployments.get(id) else {
        return effects;
    };
    if d.status != DeploymentStatus::Created {
        return effects;
    }
    let Some(group) = st.groups.get(&d.group_id).cloned() else {
        finish(
            st,
            id,
            DeploymentStatus::Failed,
            Some((
                "DEPLOYMENT_GROUP_MISSING",
                "The deployment group is missing.",
            )),
            &mut effects,
        );
        return effects;
    };
    let targets = st.resolve_targets(&group, now);
    let minimum = minimum_healthy(st, id);
    let fleet = targets.len();
    let d = st.deployments.get_mut(id).expect("checked above");
    d.start_time = Some(now);
    d.status = DeploymentStatus::InProgress;
    d.targets = targets;
    tracing::info!(deployment_id = id, targets = fleet, "deployment InProgress");
    if fleet == 0 {
        finish(
            st,
            id,
            DeploymentStatus::Failed,
            Some(("NO_INSTANCES", NO_INSTANCES)),
            &mut effects,
        );
    } else if minimum.required(fleet) >= fleet && minimum != MinimumHealthy::MostConcurrency {
        let message = format!(
            "The deployment failed because the minimum number of healthy instances ({}) for \
             the deployment configuration is not less than the number of instances ({fleet}) \
             in the deployment group.",
            minimum.required(fleet)
        );
        finish(
            st,
            id,
            DeploymentStatus::Failed,
            Some(("HEALTH_CONSTRAINTS_INVALID", &message)),
            &mut effects,
        );
    } else {
        if let Some(timeout) = st.deployment_timeout {
            effects.deadlines.push((id.to_owned(), timeout));
        }
        advance(st, id, &mut effects);
    }
    effects
}

/// Fails a deployment that outran the deployment timeout: the events in
/// hand fail, hosts not started are Skipped.
pub fn deployment_timed_out(st: &mut State, id: &str) -> Effects {
    let mut effects = Effects::default();
    if st
        .deployments
        .get(id)
        .is_none_or(|d| d.status != DeploymentStatus::InProgress)
    {
        return effects;
    }
    let now = st.now();
    let open: Vec<(i64, usize, usize)> = st
        .commands
        .values_mut()
        .filter(|c| {
            c.deployment_id == id
                && !matches!(c.phase, CommandPhase::Completed | CommandPhase::Abandoned)
        })
        .map(|c| {
            c.phase = CommandPhase::Abandoned;
            (c.nonce, c.target_index, c.event_index)
        })
        .collect();
    for (nonce, target, event) in open {
        st.queued.remove(&nonce);
        let e =
            &mut st.deployments.get_mut(id).expect("checked above").targets[target].events[event];
        e.status = Status::Failed;
        e.end = Some(now);
        e.diagnostics = Some(EventDiagnostics {
            error_code: "UnknownError".to_owned(),
            script_name: String::new(),
            message: "The deployment timed out before the lifecycle event completed.".to_owned(),
            log_tail: String::new(),
        });
        fail_target(st, id, target, now);
    }
    let d = st.deployments.get_mut(id).expect("checked above");
    for t in d.targets.iter_mut().filter(|t| t.status == Status::Pending) {
        skip_target(t, now);
    }
    finish(
        st,
        id,
        DeploymentStatus::Failed,
        Some(("TIMEOUT", "The deployment has timed out.")),
        &mut effects,
    );
    effects
}

fn minimum_healthy(st: &State, id: &str) -> MinimumHealthy {
    st.deployments
        .get(id)
        .and_then(|d| st.configs.get(&d.config_name))
        .and_then(|c| c.rule.minimum_healthy())
        .unwrap_or(MinimumHealthy::MostConcurrency)
}

/// Starts as many hosts as minimum healthy allows, and settles the
/// deployment once nothing is left to run.
fn advance(st: &mut State, id: &str, effects: &mut Effects) {
    let minimum = minimum_healthy(st, id);
    let now = st.now();
    let Some(d) = st.deployments.get_mut(id) else {
        return;
    };
    if d.status != DeploymentStatus::InProgress {
        return;
    }
    let fleet = d.targets.len();
    let count = |d: &Deployment, s: Status| d.targets.iter().filter(|t| t.status == s).count();
    let (succeeded, failed, in_flight, pending) = (
        count(d, Status::Succeeded),
        count(d, Status::Failed),
        count(d, Status::InProgress),
        count(d, Status::Pending),
    );
    let needed = minimum.needed_successes(fleet);
    // Hosts that may be unhealthy at once: in flight or failed.
    let budget = fleet - minimum.required(fleet).min(fleet);
    if d.stopping.is_none() && !d.doomed {
        let cannot_succeed = succeeded + in_flight + pending < needed;
        let cannot_continue = pending > 0 && in_flight == 0 && failed >= budget;
        if cannot_succeed || cannot_continue {
            d.doomed = true;
        }
    }
    if d.stopping.is_some() || d.doomed {
        for t in d.targets.iter_mut().filter(|t| t.status == Status::Pending) {
            skip_target(t, now);
        }
    } else {
        let slots = budget.saturating_sub(failed + in_flight);
        let starting: Vec<usize> = d
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.status == Status::Pending)
            .map(|(i, _)| i)
            .take(slots)
            .collect();
        for i in starting {
            start_target(st, id, i, effects);
        }
    }
    let d = st.deployments.get(id).expect("checked above");
    let busy = d.targets.iter().any(|t| t.status == Status::InProgress);
    let pending = d.targets.iter().any(|t| t.status == Status::Pending);
    if busy || pending {
        return;
    }
    let succeeded = d
        .targets
        .iter()
        .filter(|t| t.status == Status::Succeeded)
        .count();
    if d.stopping.is_some() {
        finish(
            st,
            id,
            DeploymentStatus::Stopped,
            Some(("MANUAL_STOP", "The deployment was stopped by the user.")),
            effects,
        );
    } else if d.doomed || succeeded < needed {
        finish(
            st,
            id,
            DeploymentStatus::Failed,
            Some(("HEALTH_CONSTRAINTS", HEALTH_CONSTRAINTS)),
            effects,
        );
    } else {
        finish(st, id, DeploymentStatus::Succeeded, None, effects);
    }
}

fn skip_target(t: &mut super::state::Target, now: SystemTime) {
    tracing::info!(target = %t.id, "target skipped");
    t.status = Status::Skipped;
    t.last_updated = now;
    for e in t
        .events
        .iter_mut()
        .filter(|e| matches!(e.status, Status::Pending))
    {
        skip_event(e, now);
    }
}

/// Skips `e`. AWS shows a skipped event with the time it was passed over
/// as its end.
fn skip_event(e: &mut super::state::LifecycleEvent, now: SystemTime) {
    e.status = Status::Skipped;
    e.end = Some(now);
}

fn start_target(st: &mut State, id: &str, index: usize, effects: &mut Effects) {
    let now = st.now();
    let d = &st.deployments[id];
    let first_time = !st.has_installed_before(&d.group_id, &d.targets[index].id, id);
    let t = &mut st.deployments.get_mut(id).expect("caller checked").targets[index];
    t.status = Status::InProgress;
    t.last_updated = now;
    if first_time {
        // The agent has no earlier revision to run these from.
        for e in t
            .events
            .iter_mut()
            .filter(|e| e.event.uses_previous_revision())
        {
            skip_event(e, now);
        }
    }
    send_next_event(st, id, index, effects);
}

/// Queues the command for the target's next event, or settles the target
/// when it has none left.
fn send_next_event(st: &mut State, id: &str, index: usize, effects: &mut Effects) {
    let now = st.now();
    let nonce = st.next_nonce();
    let timeout = st.host_timeout;
    let account = st.account_id.clone();
    let region = st.region.clone();
    let d = st.deployments.get_mut(id).expect("caller checked");
    let stopping = d.stopping.is_some();
    let t = &mut d.targets[index];
    let Some(event) = t.next_event() else {
        t.status = if t.events.iter().any(|e| e.status == Status::Failed)
            && !ignored_failure_only(t, d.ignore_application_stop_failures)
        {
            Status::Failed
        } else {
            Status::Succeeded
        };
        t.last_updated = now;
        tracing::info!(deployment_id = id, target = %t.id, status = t.status.as_str(), "target settled");
        return;
    };
    if stopping {
        skip_target(t, now);
        return;
    }
    let command = HostCommand {
        id: uuid::Uuid::new_v4().simple().to_string(),
        host_identifier: t.host_identifier.clone(),
        deployment_id: id.to_owned(),
        execution_id: format!("{account}/{region}/{id}/{index}"),
        target_index: index,
        event_index: event,
        event: t.events[event].event,
        nonce,
        phase: CommandPhase::Queued,
    };
    tracing::debug!(
        deployment_id = id,
        target = %t.id,
        command_id = %command.id,
        event = %command.event,
        "command queued"
    );
    effects.commands.push((command.id.clone(), timeout));
    st.queued.insert(command.nonce, command.id.clone());
    st.commands.insert(command.id.clone(), command);
}

/// Whether the target's only failure is an ApplicationStop the deployment
/// was told to ignore.
fn ignored_failure_only(t: &super::state::Target, ignore: bool) -> bool {
    ignore
        && t.events
            .iter()
            .filter(|e| e.status == Status::Failed)
            .all(|e| e.event == Event::ApplicationStop)
}

/// Why a command could not be completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteError {
    Unknown,
    NotDispatched,
    AlreadyCompleted,
    Abandoned,
}

/// Records the agent's result for a command and moves its host on.
pub fn complete_command(
    st: &mut State,
    command_id: &str,
    succeeded: bool,
    diagnostics: EventDiagnostics,
) -> Result<Effects, CompleteError> {
    let command = st.commands.get(command_id).ok_or(CompleteError::Unknown)?;
    match command.phase {
        CommandPhase::Queued => return Err(CompleteError::NotDispatched),
        CommandPhase::Completed => return Err(CompleteError::AlreadyCompleted),
        CommandPhase::Abandoned => return Err(CompleteError::Abandoned),
        CommandPhase::Dispatched | CommandPhase::Acknowledged => {}
    }
    Ok(settle_command(
        st,
        command_id,
        CommandPhase::Completed,
        succeeded,
        diagnostics,
    ))
}

/// Fails a command's host when the agent never finished it in time.
pub fn command_timed_out(st: &mut State, command_id: &str) -> Effects {
    let Some(phase) = st.commands.get(command_id).map(|c| c.phase) else {
        return Effects::default();
    };
    let message = match phase {
        CommandPhase::Completed | CommandPhase::Abandoned => return Effects::default(),
        CommandPhase::Queued | CommandPhase::Dispatched => AGENT_UNREACHABLE,
        CommandPhase::Acknowledged => {
            "The host did not complete the lifecycle event before the host timeout."
        }
    };
    let diagnostics = EventDiagnostics {
        error_code: "UnknownError".to_owned(),
        script_name: String::new(),
        message: message.to_owned(),
        log_tail: String::new(),
    };
    settle_command(st, command_id, CommandPhase::Abandoned, false, diagnostics)
}

/// Ends a command in `phase` with the event's outcome, then sends the host
/// its next event or fails it, and lets the deployment move on.
fn settle_command(
    st: &mut State,
    command_id: &str,
    phase: CommandPhase,
    succeeded: bool,
    diagnostics: EventDiagnostics,
) -> Effects {
    let mut effects = Effects::default();
    let Some(command) = st.commands.get_mut(command_id) else {
        return effects;
    };
    command.phase = phase;
    let nonce = command.nonce;
    st.queued.remove(&nonce);
    let command = &st.commands[command_id];
    let (id, index, event) = (
        command.deployment_id.clone(),
        command.target_index,
        command.event_index,
    );
    let now = st.now();
    let Some(d) = st.deployments.get_mut(&id) else {
        return effects;
    };
    let ignore = d.ignore_application_stop_failures;
    let t = &mut d.targets[index];
    let e = &mut t.events[event];
    e.status = if succeeded {
        Status::Succeeded
    } else {
        Status::Failed
    };
    e.start.get_or_insert(now);
    e.end = Some(now);
    tracing::info!(
        deployment_id = %id,
        target = %t.id,
        command_id,
        event = %e.event,
        status = e.status.as_str(),
        error_code = %diagnostics.error_code,
        "lifecycle event settled"
    );
    e.diagnostics = Some(diagnostics);
    t.last_updated = now;
    let carry_on = succeeded || (ignore && e.event == Event::ApplicationStop);
    if carry_on {
        send_next_event(st, &id, index, &mut effects);
    } else {
        fail_target(st, &id, index, now);
    }
    advance(st, &id, &mut effects);
    effects
}

fn fail_target(st: &mut State, id: &str, index: usize, now: SystemTime) {
    let Some(d) = st.deployments.get_mut(id) else {
        return;
    };
    let t = &mut d.targets[index];
    tracing::info!(deployment_id = id, target = %t.id, "target failed");
    t.status = Status::Failed;
    t.last_updated = now;
    for e in t.events.iter_mut().filter(|e| e.status == Status::Pending) {
        skip_event(e, now);
    }
}

/// What StopDeployment reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// Hosts are still finishing their current lifecycle event.
    Pending,
    Succeeded,
}

/// Stops `id`: no new commands go out, commands not yet picked up are
/// withdrawn, and the deployment is Stopped once its hosts in flight finish.
pub fn stop_deployment(st: &mut State, id: &str, rollback: bool) -> (StopOutcome, Effects) {
    let mut effects = Effects::default();
    let now = st.now();
    let withdrawn: Vec<(i64, usize)> = st
        .commands
        .values_mut()
        .filter(|c| c.deployment_id == id && c.phase == CommandPhase::Queued)
        .map(|c| {
            c.phase = CommandPhase::Abandoned;
            (c.nonce, c.target_index)
        })
        .collect();
    for (nonce, _) in &withdrawn {
        st.queued.remove(nonce);
    }
    let Some(d) = st.deployments.get_mut(id) else {
        return (StopOutcome::Succeeded, effects);
    };
    if d.stopping.is_none() {
        d.stopping = Some(rollback);
    }
    for (_, target) in withdrawn {
        skip_target(&mut d.targets[target], now);
    }
    if d.status == DeploymentStatus::Created {
        d.status = DeploymentStatus::InProgress;
    }
    advance(st, id, &mut effects);
    let done = st.deployments.get(id).is_some_and(|d| d.status.is_done());
    (
        if done {
            StopOutcome::Succeeded
        } else {
            StopOutcome::Pending
        },
        effects,
    )
}

/// Settles `id` and, when its rollback configuration asks, starts the
/// rollback deployment.
fn finish(
    st: &mut State,
    id: &str,
    status: DeploymentStatus,
    error: Option<(&'static str, &str)>,
    effects: &mut Effects,
) {
    let now = st.now();
    let Some(d) = st.deployments.get_mut(id) else {
        return;
    };
    d.status = status;
    d.complete_time = Some(now);
    tracing::info!(
        deployment_id = id,
        status = status.as_str(),
        error = error.map(|(code, _)| code),
        "deployment finished"
    );
    d.error = error.map(|(code, message)| ErrorInformation {
        code,
        message: message.to_owned(),
    });
    if let Some((_, message)) = error {
        d.status_messages.push(message.to_owned());
    }
    let d = d.clone();
    let group_rollback = st
        .groups
        .get(&d.group_id)
        .and_then(|g| g.auto_rollback.clone());
    if let Some(g) = st.groups.get_mut(&d.group_id) {
        let last = LastDeployment {
            deployment_id: d.id.clone(),
            status,
            create_time: d.create_time,
            end_time: Some(now),
        };
        if status == DeploymentStatus::Succeeded {
            g.last_successful = Some(last.clone());
            g.last_successful_revision = Some(d.revision.clone());
        }
        if g.last_attempted
            .as_ref()
            .is_none_or(|l| l.deployment_id == d.id)
        {
            g.last_attempted = Some(last);
        }
    }
    let rollback_config = d
        .auto_rollback
        .clone()
        .or(group_rollback)
        .unwrap_or_default();
    let wants_rollback = d.creator != "codeDeployRollback"
        && match status {
            DeploymentStatus::Failed => rollback_config.on("DEPLOYMENT_FAILURE"),
            DeploymentStatus::Stopped => d.stopping == Some(true),
            _ => false,
        };
    if wants_rollback {
        roll_back(st, &d, effects);
    }
}

fn roll_back(st: &mut State, failed: &Deployment, effects: &mut Effects) {
    let now = st.now();
    let revision = st
        .groups
        .get(&failed.group_id)
        .and_then(|g| g.last_successful_revision.clone());
    let Some(revision) = revision else {
        if let Some(d) = st.deployments.get_mut(&failed.id) {
            d.rollback_info = Some(RollbackInfo {
                rollback_message: Some(
                    "Automatic rollback was not performed because no previous successful \
                     deployment exists."
                        .to_owned(),
                ),
                ..RollbackInfo::default()
            });
        }
        return;
    };
    let rollback_id = new_deployment_id();
    let rollback = Deployment {
        id: rollback_id.clone(),
        previous_revision: Some(failed.revision.clone()),
        revision,
        status: DeploymentStatus::Created,
        error: None,
        create_time: now,
        start_time: None,
        complete_time: None,
        description: None,
        creator: "codeDeployRollback",
        auto_rollback: None,
        rollback_info: Some(RollbackInfo {
            rollback_triggering_deployment_id: Some(failed.id.clone()),
            ..RollbackInfo::default()
        }),
        targets: Vec::new(),
        stopping: None,
        doomed: false,
        status_messages: Vec::new(),
        spec_envelope: None,
        ..failed.clone()
    };
    if let Some(d) = st.deployments.get_mut(&failed.id) {
        d.rollback_info = Some(RollbackInfo {
            rollback_deployment_id: Some(rollback_id.clone()),
            ..RollbackInfo::default()
        });
    }
    if let Some(g) = st.groups.get_mut(&failed.group_id) {
        g.last_attempted = Some(LastDeployment {
            deployment_id: rollback_id.clone(),
            status: DeploymentStatus::Created,
            create_time: now,
            end_time: None,
        });
    }
    st.deployments.insert(rollback_id.clone(), rollback);
    st.deployment_order.push(rollback_id.clone());
    effects.started.push(rollback_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codedeploy::state::in_place_events;
    use crate::codedeploy::{commands, control};
    use serde_json::{Value, json};

    fn in_place_after_stop() -> Vec<&'static str> {
        in_place_events()
            .filter(|e| !e.uses_previous_revision())
            .map(Event::name)
            .collect()
    }

    /// An application `app` with group `g` over `hosts` on-premises hosts
    /// tagged role=web, driven through the planes' dispatchers.
    struct Bed {
        sim: Arc<Simulation>,
    }

    fn host_arn(n: usize) -> String {
        format!("arn:aws:iam::123456789012:user/h{n}")
    }

    fn caller(n: usize) -> crate::credentials::IssuedCredential {
        crate::credentials::IssuedCredential {
            access_key_id: format!("AKIAHOST{n}"),
            secret_access_key: String::new(),
            session_token: None,
            expiration: None,
            principal_arn: host_arn(n),
        }
    }

    impl Bed {
        async fn new(config: &str, hosts: usize, group: Value) -> Bed {
            Bed::polling(config, hosts, group, Duration::from_millis(10)).await
        }

        async fn polling(config: &str, hosts: usize, group: Value, poll_wait: Duration) -> Bed {
            let mut settings = SimulatorConfig::new(CredentialStore::default());
            settings.poll_wait = poll_wait;
            Bed::configured(config, hosts, group, settings).await
        }

        async fn configured(
            config: &str,
            hosts: usize,
            group: Value,
            settings: SimulatorConfig,
        ) -> Bed {
            let bed = Bed {
                sim: Arc::new(Simulation::new(settings).unwrap()),
            };
            bed.call("CreateApplication", json!({"applicationName": "app"}));
            let mut input = json!({
                "applicationName": "app", "deploymentGroupName": "g",
                "serviceRoleArn": "arn:aws:iam::123456789012:role/cd",
                "deploymentConfigName": config,
                "onPremisesInstanceTagFilters": [{"Key": "role", "Value": "web", "Type": "KEY_AND_VALUE"}],
            });
            input
                .as_object_mut()
                .unwrap()
                .extend(group.as_object().unwrap().clone());
            bed.call("CreateDeploymentGroup", input);
            for n in 1..=hosts {
                let name = format!("h{n}");
                bed.call(
                    "RegisterOnPremisesInstance",
                    json!({"instanceName": name, "iamUserArn": host_arn(n)}),
                );
                bed.call(
                    "AddTagsToOnPremisesInstances",
                    json!({"instanceNames": [name], "tags": [{"Key": "role", "Value": "web"}]}),
                );
            }
            bed
        }

        fn try_call(&self, op: &str, input: Value) -> Result<Value, crate::codedeploy::AwsError> {
            control::dispatch(&self.sim, op, input)
        }

        fn call(&self, op: &str, input: Value) -> Value {
            self.try_call(op, input)
                .unwrap_or_else(|e| panic!("{op}: {e:?}"))
        }

        async fn deploy(&self, key: &str, extra: Value) -> String {
            let mut input = json!({
                "applicationName": "app", "deploymentGroupName": "g",
                "revision": {"revisionType": "S3", "s3Location": {"bucket": "b", "key": key, "bundleType": "tgz"}},
            });
            input
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let id = self.call("CreateDeployment", input)["deploymentId"]
                .as_str()
                .unwrap()
                .to_owned();
            settle().await;
            id
        }

        fn info(&self, id: &str) -> Value {
            self.call("GetDeployment", json!({"deploymentId": id}))["deploymentInfo"].clone()
        }

        fn status(&self, id: &str) -> String {
            self.info(id)["status"].as_str().unwrap().to_owned()
        }

        fn target(&self, id: &str, host: usize) -> Value {
            let out = self.call(
                "BatchGetDeploymentTargets",
                json!({"deploymentId": id, "targetIds": [format!("h{host}")]}),
            );
            out["deploymentTargets"][0]["instanceTarget"].clone()
        }

        fn event_statuses(&self, id: &str, host: usize) -> Vec<String> {
            self.target(id, host)["lifecycleEvents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["status"].as_str().unwrap().to_owned())
                .collect()
        }

        /// A command-plane call signed by host `n`.
        async fn host_as(
            &self,
            n: usize,
            op: &str,
            input: Value,
        ) -> Result<Value, crate::codedeploy::AwsError> {
            commands::dispatch(&self.sim, op, input, &caller(n)).await
        }

        async fn host(&self, op: &str, input: Value) -> Result<Value, crate::codedeploy::AwsError> {
            self.host_as(1, op, input).await
        }

        /// One poll for host `n`: the command id and name, if any.
        async fn poll(&self, n: usize) -> Option<(String, String)> {
            let out = self
                .host_as(n, "PollHostCommand", json!({"HostIdentifier": host_arn(n)}))
                .await
                .unwrap();
            let c = out.get("HostCommand")?;
            Some((
                c["HostCommandIdentifier"].as_str()?.to_owned(),
                c["CommandName"].as_str()?.to_owned(),
            ))
        }

        async fn complete(&self, n: usize, command: &str, code: i64) {
            let diagnostics =
                json!({"error_code": code, "script_name": "", "message": "", "log": ""});
            self.host_as(
                n,
                "PutHostCommandComplete",
                json!({
                    "HostCommandIdentifier": command,
                    "CommandStatus": if code == 0 { "Succeeded" } else { "Failed" },
                    "Diagnostics": {"Format": "JSON", "Payload": diagnostics.to_string()},
                }),
            )
            .await
            .unwrap();
        }

        /// Runs host `n`'s commands until it has none, or until it fails
        /// with code 4 at `fail_at`; returns the events it was sent.
        async fn run_host(&self, n: usize, fail_at: Option<&str>) -> Vec<String> {
            let mut ran = Vec::new();
            while let Some((command, name)) = self.poll(n).await {
                let code = if Some(name.as_str()) == fail_at { 4 } else { 0 };
                self.complete(n, &command, code).await;
                ran.push(name);
                if code != 0 {
                    break;
                }
            }
            ran
        }
    }

    /// Lets spawned deployment starts and timers run.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn one_at_a_time_runs_hosts_in_turn_and_skips_a_first_application_stop() {
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 3, json!({})).await;
        let id = bed.deploy("v1.tgz", json!({})).await;
        assert_eq!(bed.status(&id), "InProgress");
        assert!(bed.poll(2).await.is_none(), "only one host at a time");
        for n in 1..=3 {
            assert_eq!(bed.run_host(n, None).await, in_place_after_stop());
            assert_eq!(bed.event_statuses(&id, n)[0], "Skipped");
        }
        assert_eq!(bed.status(&id), "Succeeded");
        let second = bed.deploy("v2.tgz", json!({})).await;
        assert_eq!(bed.run_host(1, None).await[0], "ApplicationStop");
        let group = bed.call(
            "GetDeploymentGroup",
            json!({"applicationName": "app", "deploymentGroupName": "g"}),
        )["deploymentGroupInfo"]
            .clone();
        assert_eq!(
            group["lastSuccessfulDeployment"]["deploymentId"],
            id.as_str()
        );
        assert_eq!(
            group["lastAttemptedDeployment"]["deploymentId"],
            second.as_str()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_host_skips_the_rest_fails_the_deployment_and_rolls_back() {
        let rollback = json!({"autoRollbackConfiguration": {"enabled": true, "events": ["DEPLOYMENT_FAILURE"]}});
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 3, rollback).await;
        let good = bed.deploy("v1.tgz", json!({})).await;
        for n in 1..=3 {
            bed.run_host(n, None).await;
        }
        assert_eq!(bed.status(&good), "Succeeded");

        let bad = bed.deploy("v2.tgz", json!({})).await;
        assert_eq!(
            bed.run_host(1, Some("AfterInstall")).await.last().unwrap(),
            "AfterInstall"
        );
        let info = bed.info(&bad);
        assert_eq!(info["status"], "Failed");
        assert_eq!(info["errorInformation"]["code"], "HEALTH_CONSTRAINTS");
        assert_eq!(info["deploymentOverview"]["Skipped"], 2);
        assert_eq!(bed.target(&bad, 2)["status"], "Skipped");
        let failed = bed.target(&bad, 1);
        assert_eq!(failed["status"], "Failed");
        let after_install = &failed["lifecycleEvents"][4];
        assert_eq!(after_install["diagnostics"]["errorCode"], "ScriptFailed");
        assert_eq!(failed["lifecycleEvents"][5]["status"], "Skipped");

        let rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
            .as_str()
            .unwrap()
            .to_owned();
        let rollback = bed.info(&rollback_id);
        assert_eq!(rollback["creator"], "codeDeployRollback");
        assert_eq!(
            rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"],
            bad.as_str()
        );
        assert_eq!(rollback["revision"]["s3Location"]["key"], "v1.tgz");
        for n in 1..=3 {
            bed.run_host(n, None).await;
        }
        assert_eq!(
            bed.status(&rollback_id),
            "Succeeded",
            "{:#}",
            bed.info(&rollback_id)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_good_revision_there_is_nothing_to_roll_back_to() {
        let rollback = json!({"autoRollbackConfiguration": {"enabled": true, "events": ["DEPLOYMENT_FAILURE"]}});
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 1, rollback).await;
        let id = bed.deploy("v1.tgz", json!({})).await;
        bed.run_host(1, Some("Install")).await;
        let info = bed.info(&id);
        assert_eq!(info["status"], "Failed");
        assert!(info["rollbackInfo"].get("rollbackDeploymentId").is_none());
        assert!(info["rollbackInfo"]["rollbackMessage"].is_string());
    }

    #[tokio::test(start_paused = true)]
    async fn one_at_a_time_forgives_a_failure_on_the_last_host() {
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 3, json!({})).await;
        let id = bed.deploy("v1.tgz", json!({})).await;
        bed.run_host(1, None).await;
        bed.run_host(2, None).await;
        bed.run_host(3, Some("ValidateService")).await;
        assert_eq!(bed.status(&id), "Succeeded");
        assert_eq!(bed.target(&id, 3)["status"], "Failed");
    }

    #[tokio::test(start_paused = true)]
    async fn half_at_a_time_runs_half_the_fleet_at_once() {
        let bed = Bed::new("CodeDeployDefault.HalfAtATime", 4, json!({})).await;
        let id = bed.deploy("v1.tgz", json!({})).await;
        let mut first = vec![];
        for n in 1..=4 {
            if bed.poll(n).await.is_some() {
                first.push(n);
            }
        }
        assert_eq!(first, [1, 2]);
        assert_eq!(bed.info(&id)["deploymentOverview"]["InProgress"], 2);
    }

    #[tokio::test(start_paused = true)]
    async fn all_at_once_succeeds_while_one_host_succeeds() {
        let bed = Bed::new("CodeDeployDefault.AllAtOnce", 3, json!({})).await;
        let id = bed.deploy("v1.tgz", json!({})).await;
        // Every host has its first command before any has finished one.
        let mut first = Vec::new();
        for n in 1..=3 {
            let (command, name) = bed.poll(n).await.expect("every host starts at once");
            assert_eq!(name, "DownloadBundle", "host {n}");
            first.push(command);
        }
        // Host 3 fails at once, host 1 at Install; host 2 alone succeeds.
        bed.complete(3, &first[2], 4).await;
        for (n, command) in [(1, &first[0]), (2, &first[1])] {
            bed.complete(n, command, 0).await;
        }
        assert_eq!(
            bed.run_host(1, Some("Install")).await,
            ["BeforeInstall", "Install"]
        );
        let rest = bed.run_host(2, None).await;
        assert_eq!(rest.last().map(String::as_str), Some("ValidateService"));
        assert_eq!(bed.status(&id), "Succeeded");
        for (n, status) in [(1, "Failed"), (2, "Succeeded"), (3, "Failed")] {
            assert_eq!(bed.target(&id, n)["status"], status, "host {n}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn custom_minimum_healthy_hosts_limit_concurrency() {
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 4, json!({})).await;
        bed.call(
            "CreateDeploymentConfig",
            json!({"deploymentConfigName": "KeepOne", "minimumHealthyHosts": {"type": "HOST_COUNT", "value": 1}}),
        );
        bed.call(
            "CreateDeploymentConfig",
            json!({"deploymentConfigName": "All", "minimumHealthyHosts": {"type": "FLEET_PERCENT", "value": 99}}),
        );
        let id = bed
            .deploy("v1.tgz", json!({"deploymentConfigName": "KeepOne"}))
            .await;
        assert_eq!(bed.info(&id)["deploymentOverview"]["InProgress"], 3);
        bed.call("StopDeployment", json!({"deploymentId": id}));
        // 99 % of 4 hosts rounds up to all four: no host may go down.
        let id = bed
            .deploy("v2.tgz", json!({"deploymentConfigName": "All"}))
            .await;
        let info = bed.info(&id);
        assert_eq!(info["status"], "Failed");
        assert_eq!(
            info["errorInformation"]["code"],
            "HEALTH_CONSTRAINTS_INVALID"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ignored_application_stop_failures_let_the_host_carry_on() {
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 1, json!({})).await;
        bed.deploy("v1.tgz", json!({})).await;
        bed.run_host(1, None).await;
        let id = bed
            .deploy("v2.tgz", json!({"ignoreApplicationStopFailures": true}))
            .await;
        assert_eq!(bed.run_host(1, Some("ApplicationStop")).await.len(), 1);
        assert_eq!(bed.run_host(1, None).await, in_place_after_stop());
        assert_eq!(bed.status(&id), "Succeeded");
        assert_eq!(bed.target(&id, 1)["status"], "Succeeded");
        let id = bed.deploy("v3.tgz", json!({})).await;
        assert_eq!(bed.run_host(1, Some("ApplicationStop")).await.len(), 1);
        assert_eq!(bed.status(&id), "Failed");
    }

    #[tokio::test(start_paused = true)]
    async fn stop_waits_for_the_event_in_flight_then_rolls_back_when_asked() {
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 2, json!({})).await;
        bed.deploy("v1.tgz", json!({})).await;
        bed.run_host(1, None).await;
        bed.run_host(2, None).await;
        let id = bed.deploy("v2.tgz", json!({})).await;
        let (command, name) = bed.poll(1).await.unwrap();
        assert_eq!(name, "ApplicationStop");
        let out = bed.call(
            "StopDeployment",
            json!({"deploymentId": id, "autoRollbackEnabled": true}),
        );
        assert_eq!(out["status"], "Pending");
        assert_eq!(bed.status(&id), "InProgress");
        let limit = bed.try_call(
            "CreateDeployment",
            json!({"applicationName": "app", "deploymentGroupName": "g"}),
        );
        assert_eq!(limit.unwrap_err().code, "DeploymentLimitExceededException");
        bed.complete(1, &command, 0).await;
        let info = bed.info(&id);
        assert_eq!(info["status"], "Stopped");
        assert_eq!(info["errorInformation"]["code"], "MANUAL_STOP");
        assert_eq!(bed.target(&id, 2)["status"], "Skipped");
        let rollback = info["rollbackInfo"]["rollbackDeploymentId"]
            .as_str()
            .unwrap();
        settle().await;
        assert_eq!(bed.info(rollback)["creator"], "codeDeployRollback");
        assert_eq!(bed.status(rollback), "InProgress");
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_that_never_answers_fails_at_the_host_timeout() {
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 2, json!({})).await;
        bed.sim
            .with_state(|st| st.host_timeout = Duration::from_secs(30));
        let id = bed.deploy("v1.tgz", json!({})).await;
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(bed.status(&id), "InProgress");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let info = bed.info(&id);
        assert_eq!(info["status"], "Failed");
        assert_eq!(info["errorInformation"]["code"], "HEALTH_CONSTRAINTS");
        let event = &bed.target(&id, 1)["lifecycleEvents"][1];
        assert_eq!(event["status"], "Failed");
        assert_eq!(event["diagnostics"]["errorCode"], "UnknownError");
        assert_eq!(bed.target(&id, 2)["status"], "Skipped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deployment_that_outruns_the_deployment_timeout_fails_with_timeout() {
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 2, json!({})).await;
        bed.sim
            .with_state(|st| st.deployment_timeout = Some(Duration::from_secs(600)));
        let id = bed.deploy("v1.tgz", json!({})).await;
        let (command, _) = bed.poll(1).await.unwrap();
        tokio::time::sleep(Duration::from_secs(601)).await;
        let info = bed.info(&id);
        assert_eq!(info["status"], "Failed");
        assert_eq!(info["errorInformation"]["code"], "TIMEOUT");
        assert_eq!(bed.target(&id, 1)["status"], "Failed");
        assert_eq!(bed.target(&id, 2)["status"], "Skipped");
        let late = json!({"HostCommandIdentifier": command, "CommandStatus": "Succeeded"});
        let late = bed.host("PutHostCommandComplete", late).await;
        assert_eq!(late.unwrap_err().code, "ClientException");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deployment_timeout_given_at_start_fails_a_deployment_with_timeout() {
        let mut settings = SimulatorConfig::new(CredentialStore::default());
        settings.poll_wait = Duration::from_millis(10);
        settings.deployment_timeout = Some(Duration::from_secs(600));
        let bed = Bed::configured("CodeDeployDefault.OneAtATime", 1, json!({}), settings).await;
        let id = bed.deploy("v1.tgz", json!({})).await;
        assert!(bed.poll(1).await.is_some());
        tokio::time::sleep(Duration::from_secs(601)).await;
        let info = bed.info(&id);
        assert_eq!(info["status"], "Failed");
        assert_eq!(info["errorInformation"]["code"], "TIMEOUT");
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_or_repeated_completion_is_a_client_error() {
        let bed = Bed::new("CodeDeployDefault.OneAtATime", 1, json!({})).await;
        bed.sim
            .with_state(|st| st.host_timeout = Duration::from_secs(30));
        bed.deploy("v1.tgz", json!({})).await;
        let (command, _) = bed.poll(1).await.unwrap();
        let ack = bed
            .host(
                "PutHostCommandAcknowledgement",
                json!({"HostCommandIdentifier": command, "Diagnostics": {"Format": "JSON", "Payload": "{\"IsCommandNoop\":false}"}}),
            )
            .await
            .unwrap();
        assert_eq!(ack["CommandStatus"], "InProgress");
        bed.complete(1, &command, 0).await;
        let twice = bed
            .host(
                "PutHostCommandComplete",
                json!({"HostCommandIdentifier": command, "CommandStatus": "Succeeded"}),
            )
            .await;
        assert_eq!(twice.unwrap_err().code, "ClientException");
        let (late, _) = bed.poll(1).await.unwrap();
        tokio::time::sleep(Duration::from_secs(31)).await;
        let ack = bed
            .host(
                "PutHostCommandAcknowledgement",
                json!({"HostCommandIdentifier": late}),
            )
            .await
            .unwrap();
        assert_eq!(
            ack["CommandStatus"], "Failed",
            "the agent is told to skip it"
        );
        let after = bed
            .host(
                "PutHostCommandComplete",
                json!({"HostCommandIdentifier": late, "CommandStatus": "Succeeded"}),
            )
            .await;
        assert_eq!(after.unwrap_err().code, "ClientException");
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_may_not_poll_or_complete_for_another() {
        let bed = Bed::new("CodeDeployDefault.AllAtOnce", 2, json!({})).await;
        bed.deploy("v1.tgz", json!({})).await;
        let as_other = bed
            .host_as(2, "PollHostCommand", json!({"HostIdentifier": host_arn(1)}))
            .await;
        assert_eq!(as_other.unwrap_err().code, "ClientException");
        let (command, _) = bed.poll(1).await.unwrap();
        let complete = json!({"HostCommandIdentifier": command, "CommandStatus": "Succeeded"});
        let stolen = bed.host_as(2, "PutHostCommandComplete", complete).await;
        assert_eq!(stolen.unwrap_err().code, "ClientException");
        let execution = bed
            .sim
            .with_state(|st| st.commands[&command].execution_id.clone());
        let spec = json!({"DeploymentExecutionId": execution, "HostIdentifier": host_arn(2)});
        let foreign = bed.host_as(2, "GetDeploymentSpecification", spec).await;
        assert_eq!(foreign.unwrap_err().code, "ClientException");
        let spec = json!({"DeploymentExecutionId": execution, "HostIdentifier": host_arn(1)});
        let own = bed.host("GetDeploymentSpecification", spec).await.unwrap();
        let envelope = &own["DeploymentSpecification"]["GenericEnvelope"];
        assert_eq!(envelope["Format"], "PKCS7/JSON");
        assert!(
            envelope["Payload"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN PKCS7-----")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_poll_answers_as_soon_as_a_command_is_queued() {
        let wait = Duration::from_secs(60);
        let bed = Bed::polling("CodeDeployDefault.OneAtATime", 1, json!({}), wait).await;
        let sim = bed.sim.clone();
        let poll = tokio::spawn(async move {
            commands::dispatch(
                &sim,
                "PollHostCommand",
                json!({"HostIdentifier": host_arn(1)}),
                &caller(1),
            )
            .await
        });
        settle().await;
        let started = tokio::time::Instant::now();
        bed.deploy("v1.tgz", json!({})).await;
        let out = poll.await.unwrap().unwrap();
        assert_eq!(out["HostCommand"]["CommandName"], "DownloadBundle");
        assert!(started.elapsed() < Duration::from_millis(10));
    }
}
