//! Runs deployments: picks hosts under the minimum-healthy rule, sends each
//! host its lifecycle events one command at a time, and settles failures,
//! Skipped hosts, HEALTH_CONSTRAINTS, stops, host timeouts and rollbacks.
//!
//! This file holds the shared core ([`Simulation`], the effects a state
//! change leaves to apply); `scheduling`, `completion`, `stop` and
//! `finish` hold the state machine's steps, `tests` their tests.

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
    LastDeployment, RollbackInfo, State, Status,
};
use crate::credentials::CredentialStore;
use crate::sync::lock;

mod completion;
mod finish;
mod scheduling;
mod stop;
#[cfg(test)]
mod tests;

use self::completion::*;
pub use self::completion::{CompleteError, command_timed_out, complete_command};
use self::finish::*;
pub use self::scheduling::start_deployment;
use self::scheduling::*;
pub use self::stop::{StopOutcome, deployment_timed_out, stop_deployment};

/// What a simulator was configured with and never changes.
#[derive(Debug)]
pub struct Settings {
    pub region: String,
    pub account_id: String,
    pub credentials: CredentialStore,
    pub poll_wait: Duration,
    pub envelope: EnvelopeFormat,
    pub signer: Signer,
    pub faults: super::faults::Faults,
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
        state.ids = config.ids.clone();
        let now = state.now();
        for c in state.configs.values_mut() {
            c.create_time = now;
        }
        Ok(Simulation {
            state: Mutex::new(state),
            settings: Settings {
                region: config.region,
                account_id: config.account_id,
                credentials: config.credentials,
                poll_wait: config.poll_wait,
                envelope: config.envelope,
                signer,
                faults: config.faults,
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
