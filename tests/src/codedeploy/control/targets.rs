//! Deployment targets and instances, with their lifecycle events.

use serde_json::{Value, json};

use super::deployments::started_deployment;
use super::pages::page;
use super::{Input, Output, deployment, epoch};
use crate::codedeploy::server::AwsError;
use crate::codedeploy::state::{Deployment, LifecycleEvent, State, Target};

pub(super) fn list_targets(st: &mut State, input: &Input, instances: bool) -> Output {
    let d = started_deployment(st, input)?;
    let statuses: Vec<String> = if instances {
        input.get("instanceStatusFilter")?.unwrap_or_default()
    } else {
        let filters: Option<std::collections::HashMap<String, Vec<String>>> =
            input.get("targetFilters")?;
        let filters = filters.unwrap_or_default();
        if let Some(bad) = filters
            .keys()
            .find(|k| !["TargetStatus", "ServerInstanceLabel"].contains(&k.as_str()))
        {
            return Err(AwsError::new(
                "InvalidTargetFilterNameException",
                format!("The target filter name is invalid: {bad}"),
            ));
        }
        filters.get("TargetStatus").cloned().unwrap_or_default()
    };
    const KNOWN: [&str; 7] = [
        "Pending",
        "InProgress",
        "Succeeded",
        "Failed",
        "Skipped",
        "Unknown",
        "Ready",
    ];
    if let Some(bad) = statuses.iter().find(|s| !KNOWN.contains(&s.as_str())) {
        return Err(AwsError::new(
            "InvalidInstanceStatusException",
            format!("The instance status is invalid: {bad}"),
        ));
    }
    let ids: Vec<&str> = d
        .targets
        .iter()
        .filter(|t| statuses.is_empty() || statuses.iter().any(|s| s == t.status.as_str()))
        .map(|t| t.id.as_str())
        .collect();
    let op = if instances {
        "ListDeploymentInstances"
    } else {
        "ListDeploymentTargets"
    };
    let (ids, next) = page(input, op, &ids, st.page_size)?;
    Ok(if instances {
        json!({ "instancesList": ids, "nextToken": next })
    } else {
        json!({ "targetIds": ids, "nextToken": next })
    })
}

pub(super) fn event_json(e: &LifecycleEvent) -> Value {
    json!({
        "lifecycleEventName": e.event.name(),
        "status": e.status.as_str(),
        "startTime": e.start.map(epoch),
        "endTime": e.end.map(epoch),
        "diagnostics": e.diagnostics.as_ref().map(|d| json!({
            "errorCode": d.error_code,
            "scriptName": d.script_name,
            "message": d.message,
            "logTail": d.log_tail,
        })),
    })
}

pub(super) fn target_json(d: &Deployment, t: &Target) -> Value {
    json!({
        "deploymentTargetType": "InstanceTarget",
        "instanceTarget": {
            "deploymentId": d.id,
            "targetId": t.id,
            "targetArn": t.arn,
            "status": t.status.as_str(),
            "lastUpdatedAt": epoch(t.last_updated),
            "lifecycleEvents": t.events.iter().map(event_json).collect::<Vec<_>>(),
        }
    })
}

pub(super) fn find_target<'a>(d: &'a Deployment, id: &str) -> Result<&'a Target, AwsError> {
    d.targets.iter().find(|t| t.id == id).ok_or_else(|| {
        AwsError::new(
            "DeploymentTargetDoesNotExistException",
            format!("The target {id} is not part of deployment {}.", d.id),
        )
    })
}

pub(super) fn batch_get_targets(st: &mut State, input: &Input) -> Output {
    let d = started_deployment(st, input)?;
    let ids: Vec<String> = input.get("targetIds")?.unwrap_or_default();
    if ids.is_empty() {
        return Err(AwsError::new(
            "DeploymentTargetIdRequiredException",
            "Target ids must be specified.",
        ));
    }
    if ids.len() > 25 {
        return Err(AwsError::new(
            "DeploymentTargetListSizeExceededException",
            "The maximum number of targets that can be associated with a request (25) was exceeded.",
        ));
    }
    let targets = ids
        .iter()
        .map(|id| find_target(d, id).map(|t| target_json(d, t)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "deploymentTargets": targets }))
}

/// The `InstanceSummary` of `t`, as the deprecated instance operations
/// report a target.
pub(super) fn instance_summary(d: &Deployment, t: &Target) -> Value {
    json!({
        "deploymentId": d.id,
        "instanceId": t.id,
        "status": t.status.as_str(),
        "lastUpdatedAt": epoch(t.last_updated),
        "lifecycleEvents": t.events.iter().map(event_json).collect::<Vec<_>>(),
        "instanceType": "Blue",
    })
}

/// BatchGetDeploymentInstances: the summaries of the instances found,
/// and an `errorMessage` naming those that are not part of the deployment.
pub(super) fn batch_get_instances(st: &mut State, input: &Input) -> Output {
    let d = deployment(st, input)?;
    let ids: Vec<String> = input.get("instanceIds")?.unwrap_or_default();
    if ids.is_empty() {
        return Err(AwsError::new(
            "InstanceIdRequiredException",
            "Instance ids must be specified.",
        ));
    }
    if ids.len() > 25 {
        return Err(AwsError::new(
            "BatchLimitExceededException",
            "The maximum number of names or IDs allowed for this request (25) was exceeded.",
        ));
    }
    let (found, missing): (Vec<&String>, Vec<&String>) = ids
        .iter()
        .partition(|id| d.targets.iter().any(|t| &t.id == *id));
    let summaries: Vec<Value> = found
        .iter()
        .filter_map(|id| d.targets.iter().find(|t| &t.id == *id))
        .map(|t| instance_summary(d, t))
        .collect();
    let error = (!missing.is_empty()).then(|| {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        format!(
            "The instances {} are not part of deployment {}.",
            names.join(", "),
            d.id
        )
    });
    Ok(json!({ "instancesSummary": summaries, "errorMessage": error }))
}

pub(super) fn get_target(st: &mut State, input: &Input, field: &str) -> Output {
    let d = deployment(st, input)?;
    let (exception, what) = if field == "instanceId" {
        ("InstanceIdRequiredException", "Instance id")
    } else {
        ("DeploymentTargetIdRequiredException", "Target id")
    };
    let id = input.require(field, exception, what)?;
    let t = find_target(d, &id).map_err(|e| {
        if field == "instanceId" {
            AwsError::new("InstanceDoesNotExistException", e.message)
        } else {
            e
        }
    })?;
    Ok(if field == "instanceId" {
        json!({ "instanceSummary": instance_summary(d, t) })
    } else {
        json!({ "deploymentTarget": target_json(d, t) })
    })
}
