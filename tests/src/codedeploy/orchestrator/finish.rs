//! Ending a deployment, and redeploying the last good revision when a
//! failure or a stop asks for a rollback.

use super::*;

/// Settles `id` and, when its rollback configuration asks, starts the
/// rollback deployment.
pub(super) fn finish(
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

pub(super) fn roll_back(st: &mut State, failed: &Deployment, effects: &mut Effects) {
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
    let rollback_id = st.ids.deployment_id();
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
