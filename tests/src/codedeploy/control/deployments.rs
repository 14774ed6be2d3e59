//! Deployments: creating, describing, listing and stopping them.

use serde_json::{Value, json};
use slipway_shared::appspec::FileExistsBehavior;
use std::sync::Arc;

use super::groups::{auto_rollback, config_name, default_style};
use super::pages::page;
use super::revisions::{check_description, input_revision, remember_revision};
use super::{
    Input, Output, TimeRange, check_deployment_id, deployment, epoch, find_deployment, from_epoch,
    group,
};
use crate::codedeploy::orchestrator::{self, Simulation, StopOutcome};
use crate::codedeploy::server::AwsError;
use crate::codedeploy::state::{Deployment, DeploymentStatus, LastDeployment, State, Status};

pub(super) fn create_deployment(st: &mut State, input: &Input) -> Result<String, AwsError> {
    let app = input.application_name()?;
    let group_name = input.group_name("deploymentGroupName")?;
    let g = group(st, &app, &group_name)?.clone();
    let revision = match input_revision(input)? {
        Some(r) => r,
        None => g.target_revision.clone().ok_or_else(|| {
            AwsError::new("RevisionRequiredException", "Revision must be specified.")
        })?,
    };
    let config = config_name(st, input)?.unwrap_or_else(|| g.config_name.clone());
    let description = input.string("description")?;
    check_description(&description)?;
    let file_exists = input
        .string("fileExistsBehavior")?
        .map(|f| {
            FileExistsBehavior::ALL
                .iter()
                .find(|(name, _)| *name == f)
                .map(|(_, behaviour)| *behaviour)
                .ok_or_else(|| {
                    AwsError::new(
                        "InvalidFileExistsBehaviorException",
                        format!("The fileExistsBehavior is invalid: {f}"),
                    )
                })
        })
        .transpose()?;
    let rollback = auto_rollback(input)?;
    let ignore_stop = input
        .get::<bool>("ignoreApplicationStopFailures")?
        .unwrap_or(false);
    let outdated_only = input
        .get::<bool>("updateOutdatedInstancesOnly")?
        .unwrap_or(false);
    let target_instances: Option<Value> = input.get("targetInstances")?;
    if let Some(active) = st.active_deployment(&g.id) {
        return Err(AwsError::new(
            "DeploymentLimitExceededException",
            format!(
                "The Deployment Group '{}' already has an active Deployment '{}'",
                g.name, active.id
            ),
        ));
    }
    let now = st.now();
    let id = st.ids.deployment_id();
    st.deployments.insert(
        id.clone(),
        Deployment {
            id: id.clone(),
            application_name: app.clone(),
            group_id: g.id.clone(),
            group_name: g.name.clone(),
            config_name: config,
            revision: revision.clone(),
            previous_revision: g.last_successful_revision.clone(),
            status: DeploymentStatus::Created,
            error: None,
            create_time: now,
            start_time: None,
            complete_time: None,
            description,
            creator: "user",
            ignore_application_stop_failures: ignore_stop,
            auto_rollback: rollback,
            update_outdated_instances_only: outdated_only,
            file_exists_behavior: file_exists,
            target_instances,
            rollback_info: None,
            targets: Vec::new(),
            stopping: None,
            doomed: false,
            status_messages: Vec::new(),
            spec_envelope: None,
        },
    );
    st.deployment_order.push(id.clone());
    remember_revision(st, &app, &revision, None, Some(&g.name));
    let group = st.groups.get_mut(&g.id).expect("found above");
    group.target_revision = Some(revision);
    group.last_attempted = Some(LastDeployment {
        deployment_id: id.clone(),
        status: DeploymentStatus::Created,
        create_time: now,
        end_time: None,
    });
    Ok(id)
}

pub(super) fn overview(d: &Deployment) -> Value {
    let count = |s: Status| d.targets.iter().filter(|t| t.status == s).count();
    json!({
        "Pending": count(Status::Pending),
        "InProgress": count(Status::InProgress),
        "Succeeded": count(Status::Succeeded),
        "Failed": count(Status::Failed),
        "Skipped": count(Status::Skipped),
        "Ready": 0,
    })
}

/// The `DeploymentInfo` of `d`.
pub(super) fn deployment_info(st: &State, d: &Deployment) -> Value {
    let style = st
        .groups
        .get(&d.group_id)
        .and_then(|g| g.deployment_style.clone())
        .unwrap_or_else(default_style);
    json!({
        "applicationName": d.application_name,
        "deploymentGroupName": d.group_name,
        "deploymentConfigName": d.config_name,
        "deploymentId": d.id,
        "previousRevision": d.previous_revision,
        "revision": d.revision,
        "status": d.status.as_str(),
        "errorInformation": d.error.as_ref().map(|e| json!({ "code": e.code, "message": e.message })),
        "createTime": epoch(d.create_time),
        "startTime": d.start_time.map(epoch),
        "completeTime": d.complete_time.map(epoch),
        "deploymentOverview": overview(d),
        "description": d.description,
        "creator": d.creator,
        "ignoreApplicationStopFailures": d.ignore_application_stop_failures,
        "autoRollbackConfiguration": d.auto_rollback.clone().or_else(|| {
            st.groups.get(&d.group_id).and_then(|g| g.auto_rollback.clone())
        }),
        "updateOutdatedInstancesOnly": d.update_outdated_instances_only,
        "rollbackInfo": d.rollback_info.as_ref().map(|r| json!({
            "rollbackDeploymentId": r.rollback_deployment_id,
            "rollbackTriggeringDeploymentId": r.rollback_triggering_deployment_id,
            "rollbackMessage": r.rollback_message,
        })),
        "deploymentStyle": style,
        "targetInstances": d.target_instances,
        "instanceTerminationWaitTimeStarted": false,
        "fileExistsBehavior": d.file_exists_behavior.unwrap_or(FileExistsBehavior::Disallow).name(),
        "deploymentStatusMessages": d.status_messages,
        "computePlatform": "Server",
    })
}

pub(super) fn batch_get_deployments(st: &mut State, input: &Input) -> Output {
    let ids: Vec<String> = input.get("deploymentIds")?.ok_or_else(|| {
        AwsError::new(
            "DeploymentIdRequiredException",
            "Deployment ids must be specified.",
        )
    })?;
    if ids.len() > 25 {
        return Err(AwsError::new(
            "BatchLimitExceededException",
            "The maximum number of names or IDs allowed for this request (25) was exceeded.",
        ));
    }
    for id in &ids {
        check_deployment_id(id)?;
    }
    let infos: Vec<Value> = ids
        .iter()
        .filter_map(|id| st.deployments.get(id))
        .map(|d| deployment_info(st, d))
        .collect();
    Ok(json!({ "deploymentsInfo": infos }))
}

pub(super) fn list_deployments(st: &mut State, input: &Input) -> Output {
    let app = input.string("applicationName")?;
    let group_name = input.string("deploymentGroupName")?;
    let group_id = match (&app, &group_name) {
        (Some(a), Some(g)) => Some(group(st, a, g)?.id.clone()),
        (Some(_), None) => {
            return Err(AwsError::new(
                "DeploymentGroupNameRequiredException",
                "Deployment group name must be specified when an application name is.",
            ));
        }
        (None, Some(_)) => {
            return Err(AwsError::new(
                "ApplicationNameRequiredException",
                "Application name must be specified when a deployment group name is.",
            ));
        }
        (None, None) => None,
    };
    let statuses: Vec<String> = input.get("includeOnlyStatuses")?.unwrap_or_default();
    const KNOWN: [&str; 8] = [
        "Created",
        "Queued",
        "InProgress",
        "Baking",
        "Succeeded",
        "Failed",
        "Stopped",
        "Ready",
    ];
    if let Some(bad) = statuses.iter().find(|s| !KNOWN.contains(&s.as_str())) {
        return Err(AwsError::new(
            "InvalidDeploymentStatusException",
            format!("The deployment status is invalid: {bad}"),
        ));
    }
    let range: TimeRange = input.get("createTimeRange")?.unwrap_or_default();
    let start = range.start.map(from_epoch).transpose()?;
    let end = range.end.map(from_epoch).transpose()?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(AwsError::new(
            "InvalidTimeRangeException",
            "The start time is after the end time.",
        ));
    }
    let ids: Vec<&String> = st
        .deployment_order
        .iter()
        .rev()
        .filter(|id| {
            let d = &st.deployments[*id];
            group_id.as_ref().is_none_or(|g| &d.group_id == g)
                && (statuses.is_empty() || statuses.iter().any(|s| s == d.status.as_str()))
                && start.is_none_or(|s| d.create_time >= s)
                && end.is_none_or(|e| d.create_time <= e)
        })
        .collect();
    let (page, next) = page(input, "ListDeployments", &ids, st.page_size)?;
    Ok(json!({ "deployments": page, "nextToken": next }))
}

pub(super) fn stop_deployment(sim: &Arc<Simulation>, input: &Input) -> Output {
    let id = input.deployment_id()?;
    let rollback: Option<bool> = input.get("autoRollbackEnabled")?;
    let (outcome, effects) = sim.with_state(|st| {
        let d = find_deployment(st, &id)?;
        if d.status.is_done() {
            return Err(AwsError::new(
                "DeploymentAlreadyCompletedException",
                format!("Deployment {id} has already completed."),
            ));
        }
        let rollback = rollback.unwrap_or_else(|| {
            d.auto_rollback
                .clone()
                .or_else(|| {
                    st.groups
                        .get(&d.group_id)
                        .and_then(|g| g.auto_rollback.clone())
                })
                .is_some_and(|r| r.on("DEPLOYMENT_STOP_ON_REQUEST"))
        });
        Ok(orchestrator::stop_deployment(st, &id, rollback))
    })?;
    sim.apply(effects);
    Ok(match outcome {
        StopOutcome::Pending => json!({
            "status": "Pending",
            "statusMessage": "Stopping Pending. Stopping to schedule commands in the deployment instances",
        }),
        StopOutcome::Succeeded => json!({
            "status": "Succeeded",
            "statusMessage": "Stopped",
        }),
    })
}

pub(super) fn started_deployment<'a>(
    st: &'a State,
    input: &Input,
) -> Result<&'a Deployment, AwsError> {
    let d = deployment(st, input)?;
    if d.status == DeploymentStatus::Created {
        return Err(AwsError::new(
            "DeploymentNotStartedException",
            format!("The deployment {} has not started.", d.id),
        ));
    }
    Ok(d)
}
