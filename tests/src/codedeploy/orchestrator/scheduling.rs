//! Starting deployments and scheduling hosts under the minimum-healthy
//! rule, one lifecycle command at a time.

use super::*;

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

pub(super) fn minimum_healthy(st: &State, id: &str) -> MinimumHealthy {
    st.deployments
        .get(id)
        .and_then(|d| st.configs.get(&d.config_name))
        .and_then(|c| c.rule.minimum_healthy())
        .unwrap_or(MinimumHealthy::MostConcurrency)
}

/// Starts as many hosts as minimum healthy allows, and settles the
/// deployment once nothing is left to run.
pub(super) fn advance(st: &mut State, id: &str, effects: &mut Effects) {
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

pub(super) fn skip_target(t: &mut crate::codedeploy::state::Target, now: SystemTime) {
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
pub(super) fn skip_event(e: &mut crate::codedeploy::state::LifecycleEvent, now: SystemTime) {
    e.status = Status::Skipped;
    e.end = Some(now);
}

pub(super) fn start_target(st: &mut State, id: &str, index: usize, effects: &mut Effects) {
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
pub(super) fn send_next_event(st: &mut State, id: &str, index: usize, effects: &mut Effects) {
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
    let command_id = st.ids.command_id();
    let d = st.deployments.get_mut(id).expect("caller checked");
    let t = &mut d.targets[index];
    let command = HostCommand {
        id: command_id,
        host_identifier: t.host_identifier.clone(),
        deployment_id: id.to_owned(),
        execution_id: format!("{account}/{region}/{id}/{index}"),
        target_index: index,
        event_index: event,
        event: t.events[event].event,
        nonce,
        phase: CommandPhase::Queued,
        acknowledgement: None,
        updates: Vec::new(),
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
pub(super) fn ignored_failure_only(t: &crate::codedeploy::state::Target, ignore: bool) -> bool {
    ignore
        && t.events
            .iter()
            .filter(|e| e.status == Status::Failed)
            .all(|e| e.event == Event::ApplicationStop)
}
