//! Runs deployments: picks hosts under the minimum-healthy rule, sends each
//! host its lifecycle events one command at a time, and settles failures,
//! Skipped hosts, HEALTH_CONSTRAINTS, stops, host timeouts and rollbacks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use super::configs::MinimumHealthy;
use super::envelope::{EnvelopeFormat, Signer};
use super::server::{SimulatorConfig, SimulatorError};
use super::state::{
    CommandPhase, Deployment, DeploymentStatus, Diagnostics, ErrorInformation, HostCommand,
    LastDeployment, RollbackInfo, State, Status, new_deployment_id,
};
use crate::credentials::CredentialStore;

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
}

/// Work to do once the state lock is released.
#[derive(Debug, Default)]
#[must_use]
pub struct Effects {
    /// Commands just queued: arm their host timeouts, wake pollers.
    commands: Vec<(String, Duration)>,
    /// Deployments just created (rollbacks) to start.
    started: Vec<String>,
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
        Ok(Simulation {
            state: Mutex::new(State::new(
                config.region.clone(),
                config.account_id.clone(),
                config.host_timeout,
            )),
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
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation completes before it can panic, so a poisoned lock
        // still guards consistent records.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.lock())
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
            commands: vec![],
            started: vec![id],
        });
    }
}

/// Moves a `Created` deployment to `InProgress` with its targets, or fails
/// it when it has no hosts or can never keep minimum healthy.
pub fn start_deployment(st: &mut State, id: &str) -> Effects {
    let mut effects = Effects::default();
    let now = SystemTime::now();
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
        advance(st, id, &mut effects);
    }
    effects
}

fn minimum_healthy(st: &State, id: &str) -> MinimumHealthy {
    st.deployments
        .get(id)
        .and_then(|d| st.configs.get(&d.config_name))
        .map(|c| c.minimum_healthy)
        .unwrap_or(MinimumHealthy::MostConcurrency)
}

/// Starts as many hosts as minimum healthy allows, and settles the
/// deployment once nothing is left to run.
fn advance(st: &mut State, id: &str, effects: &mut Effects) {
    let minimum = minimum_healthy(st, id);
    let now = SystemTime::now();
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
    t.status = Status::Skipped;
    t.last_updated = now;
    for e in t
        .events
        .iter_mut()
        .filter(|e| matches!(e.status, Status::Pending))
    {
        e.status = Status::Skipped;
    }
}

fn start_target(st: &mut State, id: &str, index: usize, effects: &mut Effects) {
    let now = SystemTime::now();
    let d = &st.deployments[id];
    let first_time = !st.has_installed_before(&d.group_id, &d.targets[index].id, id);
    let t = &mut st.deployments.get_mut(id).expect("caller checked").targets[index];
    t.status = Status::InProgress;
    t.last_updated = now;
    if first_time {
        // The agent has no earlier revision to stop.
        t.events[0].status = Status::Skipped;
    }
    send_next_event(st, id, index, effects);
}

/// Queues the command for the target's next event, or settles the target
/// when it has none left.
fn send_next_event(st: &mut State, id: &str, index: usize, effects: &mut Effects) {
    let now = SystemTime::now();
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
        name: t.events[event].name,
        nonce,
        phase: CommandPhase::Queued,
    };
    effects.commands.push((command.id.clone(), timeout));
    st.commands.insert(command.id.clone(), command);
}

/// Whether the target's only failure is an ApplicationStop the deployment
/// was told to ignore.
fn ignored_failure_only(t: &super::state::Target, ignore: bool) -> bool {
    ignore
        && t.events
            .iter()
            .filter(|e| e.status == Status::Failed)
            .all(|e| e.name == "ApplicationStop")
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
    diagnostics: Diagnostics,
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
    let diagnostics = Diagnostics {
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
    diagnostics: Diagnostics,
) -> Effects {
    let mut effects = Effects::default();
    let Some(command) = st.commands.get_mut(command_id) else {
        return effects;
    };
    command.phase = phase;
    let (id, index, event) = (
        command.deployment_id.clone(),
        command.target_index,
        command.event_index,
    );
    let now = SystemTime::now();
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
    e.diagnostics = Some(diagnostics);
    t.last_updated = now;
    let carry_on = succeeded || (ignore && e.name == "ApplicationStop");
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
    t.status = Status::Failed;
    t.last_updated = now;
    for e in t.events.iter_mut().filter(|e| e.status == Status::Pending) {
        e.status = Status::Skipped;
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
    let now = SystemTime::now();
    let withdrawn: Vec<(usize, usize)> = st
        .commands
        .values_mut()
        .filter(|c| c.deployment_id == id && c.phase == CommandPhase::Queued)
        .map(|c| {
            c.phase = CommandPhase::Abandoned;
            (c.target_index, c.event_index)
        })
        .collect();
    let Some(d) = st.deployments.get_mut(id) else {
        return (StopOutcome::Succeeded, effects);
    };
    if d.stopping.is_none() {
        d.stopping = Some(rollback);
    }
    for (target, _) in withdrawn {
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
    let now = SystemTime::now();
    let Some(d) = st.deployments.get_mut(id) else {
        return;
    };
    d.status = status;
    d.complete_time = Some(now);
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
    let now = SystemTime::now();
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
