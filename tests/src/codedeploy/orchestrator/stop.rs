//! Stopping a deployment: on request, or at its deployment timeout.

use super::*;

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
