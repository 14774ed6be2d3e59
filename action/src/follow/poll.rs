//! One look at a deployment: its status and every target's lifecycle
//! events, through GetDeployment, ListDeploymentTargets and
//! BatchGetDeploymentTargets.

use std::time::SystemTime;

use aws_sdk_codedeploy::types::{DeploymentTarget, LifecycleEvent};

use crate::deploy::error::{DeployError, Result};

/// BatchGetDeploymentTargets takes at most this many ids.
const BATCH: usize = 25;

/// A deployment as seen by one poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The deployment.
    pub id: String,
    /// Created, Queued, InProgress, Baking, Ready, Succeeded, Failed, Stopped.
    pub status: String,
    /// The deployment's own error, if it failed.
    pub error: Option<String>,
    /// The rollback CodeDeploy started for it.
    pub rollback_id: Option<String>,
    /// Whether CodeDeploy will start a rollback when it fails.
    pub auto_rollback_on_failure: bool,
    /// When it started and completed.
    pub created: Option<SystemTime>,
    /// When it completed.
    pub completed: Option<SystemTime>,
    /// Its hosts, by id.
    pub hosts: Vec<Host>,
}

impl Snapshot {
    /// Whether the deployment has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "Failed" | "Stopped")
    }
}

/// One target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Host {
    /// The instance name or id.
    pub id: String,
    /// Pending, InProgress, Succeeded, Failed, Skipped, Unknown, Ready.
    pub status: String,
    /// Its lifecycle events, in order.
    pub events: Vec<Event>,
}

/// One lifecycle event on one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// ApplicationStop, DownloadBundle, …
    pub name: String,
    /// Pending, InProgress, Succeeded, Failed, Skipped, Unknown.
    pub status: String,
    /// When it started.
    pub start: Option<SystemTime>,
    /// When it ended.
    pub end: Option<SystemTime>,
    /// The agent's diagnostics, when it failed.
    pub diagnostics: Option<Diagnostics>,
}

impl Event {
    /// How long it took, once ended.
    pub fn duration(&self) -> Option<std::time::Duration> {
        self.end?.duration_since(self.start?).ok()
    }
}

/// The agent's report of a failed event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    /// ScriptFailed, ScriptTimedOut, …
    pub code: String,
    /// The script.
    pub script: String,
    /// The agent's message.
    pub message: String,
    /// The end of the script's output.
    pub log_tail: String,
}

fn time(t: Option<&aws_sdk_codedeploy::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

/// Polls deployment `id` once.
pub async fn snapshot(cd: &aws_sdk_codedeploy::Client, id: &str) -> Result<Snapshot> {
    let info = cd
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(DeployError::codedeploy("GetDeployment", id))?;
    let info = info.deployment_info();
    let mut snapshot = Snapshot {
        id: id.to_owned(),
        status: info
            .and_then(|i| i.status())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        error: info
            .and_then(|i| i.error_information())
            .and_then(|e| e.message())
            .map(str::to_owned),
        rollback_id: info
            .and_then(|i| i.rollback_info())
            .and_then(|r| r.rollback_deployment_id())
            .map(str::to_owned),
        auto_rollback_on_failure: info
            .and_then(|i| i.auto_rollback_configuration())
            .is_some_and(|c| {
                c.enabled()
                    && c.events().iter().any(|e| {
                        *e == aws_sdk_codedeploy::types::AutoRollbackEvent::DeploymentFailure
                    })
            }),
        created: time(info.and_then(|i| i.create_time())),
        completed: time(info.and_then(|i| i.complete_time())),
        hosts: Vec::new(),
    };
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let page = cd
            .list_deployment_targets()
            .deployment_id(id)
            .set_next_token(token)
            .send()
            .await
            .map_err(DeployError::codedeploy("ListDeploymentTargets", id))?;
        ids.extend(page.target_ids().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for chunk in ids.chunks(BATCH) {
        let targets = cd
            .batch_get_deployment_targets()
            .deployment_id(id)
            .set_target_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(DeployError::codedeploy("BatchGetDeploymentTargets", id))?;
        snapshot
            .hosts
            .extend(targets.deployment_targets().iter().filter_map(host));
    }
    snapshot.hosts.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(snapshot)
}

fn host(target: &DeploymentTarget) -> Option<Host> {
    let t = target.instance_target()?;
    Some(Host {
        id: t.target_id().unwrap_or_default().to_owned(),
        status: t
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        events: t.lifecycle_events().iter().map(event).collect(),
    })
}

fn event(e: &LifecycleEvent) -> Event {
    Event {
        name: e.lifecycle_event_name().unwrap_or_default().to_owned(),
        status: e
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        start: time(e.start_time()),
        end: time(e.end_time()),
        diagnostics: e.diagnostics().map(|d| Diagnostics {
            code: d
                .error_code()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            script: d.script_name().unwrap_or_default().to_owned(),
            message: d.message().unwrap_or_default().to_owned(),
            log_tail: d.log_tail().unwrap_or_default().to_owned(),
        }),
    }
}
