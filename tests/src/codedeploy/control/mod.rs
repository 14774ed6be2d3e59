//! The control plane, `CodeDeploy_20141006.<Op>` over AWS JSON 1.1: the
//! operations Slipway and its tests call, with AWS's exception names.
//!
//! This file dispatches and reads inputs; each kind of resource has its
//! operations in a file of its own:
//! - `applications`: creating, describing and listing applications.
//! - `groups`: deployment groups, their targeting, configs and auto-rollback settings.
//! - `revisions`: registering, finding and listing application revisions.
//! - `deployments`: creating, describing, listing and stopping deployments.
//! - `targets`: deployment targets and instances, with their lifecycle events.
//! - `instances`: on-premises instances: registering, tagging, listing, deregistering.
//! - `deployment_configs`: every platform's predefined configs and custom minimum healthy hosts.
//! - `pages`: `nextToken` pagination for the list operations.

mod applications;
mod deployment_configs;
mod deployments;
mod groups;
mod instances;
mod pages;
mod revisions;
mod targets;

use self::applications::{
    batch_get_applications, create_application, get_application, list_applications,
};
use self::deployment_configs::{
    create_deployment_config, get_deployment_config, list_deployment_configs,
};
use self::deployments::{
    batch_get_deployments, create_deployment, deployment_info, list_deployments, stop_deployment,
};
use self::groups::{
    batch_get_deployment_groups, create_deployment_group, delete_deployment_group,
    get_deployment_group, list_deployment_groups, update_deployment_group,
};
use self::instances::{
    add_tags, batch_get_on_premises, deregister_on_premises, get_on_premises, list_on_premises,
    register_on_premises, remove_tags,
};
use self::revisions::{get_revision, list_revisions, register_revision};
use self::targets::{batch_get_instances, batch_get_targets, get_target, list_targets};

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::orchestrator::Simulation;
use super::server::{AwsError, CONTROL_PREFIX, strip_nulls};
use super::state::{Application, Deployment, DeploymentGroup, State, is_deployment_id};

type Output = Result<Value, AwsError>;

/// Runs control-plane operation `op` on `input`.
pub fn dispatch(sim: &Arc<Simulation>, op: &str, input: Value) -> Output {
    let input = Input(input);
    type Handler = fn(&mut State, &Input) -> Output;
    let handler: Handler = match op {
        "CreateApplication" => create_application,
        "GetApplication" => get_application,
        "BatchGetApplications" => batch_get_applications,
        "ListApplications" => list_applications,
        "CreateDeploymentGroup" => create_deployment_group,
        "GetDeploymentGroup" => get_deployment_group,
        "BatchGetDeploymentGroups" => batch_get_deployment_groups,
        "UpdateDeploymentGroup" => update_deployment_group,
        "DeleteDeploymentGroup" => delete_deployment_group,
        "ListDeploymentGroups" => list_deployment_groups,
        "RegisterApplicationRevision" => register_revision,
        "GetApplicationRevision" => get_revision,
        "ListApplicationRevisions" => list_revisions,
        "CreateDeployment" => {
            let id = sim.with_state(|st| create_deployment(st, &input))?;
            sim.schedule_start(id.clone());
            return Ok(json!({ "deploymentId": id }));
        }
        "GetDeployment" => |st, input| {
            let d = deployment(st, input)?;
            Ok(json!({ "deploymentInfo": deployment_info(st, d) }))
        },
        "BatchGetDeployments" => batch_get_deployments,
        "ListDeployments" => list_deployments,
        "StopDeployment" => return stop_deployment(sim, &input).map(strip_nulls),
        "ListDeploymentTargets" => |st, input| list_targets(st, input, false),
        "ListDeploymentInstances" => |st, input| list_targets(st, input, true),
        "BatchGetDeploymentTargets" => batch_get_targets,
        "BatchGetDeploymentInstances" => batch_get_instances,
        "GetDeploymentTarget" => |st, input| get_target(st, input, "targetId"),
        "GetDeploymentInstance" => |st, input| get_target(st, input, "instanceId"),
        "RegisterOnPremisesInstance" => {
            return sim
                .with_state(|st| register_on_premises(sim, st, &input))
                .map(strip_nulls);
        }
        "DeregisterOnPremisesInstance" => deregister_on_premises,
        "AddTagsToOnPremisesInstances" => add_tags,
        "RemoveTagsFromOnPremisesInstances" => remove_tags,
        "GetOnPremisesInstance" => get_on_premises,
        "BatchGetOnPremisesInstances" => batch_get_on_premises,
        "ListOnPremisesInstances" => list_on_premises,
        "GetDeploymentConfig" => get_deployment_config,
        "CreateDeploymentConfig" => create_deployment_config,
        "ListDeploymentConfigs" => list_deployment_configs,
        _ => {
            return Err(AwsError::unknown_operation(&format!(
                "{CONTROL_PREFIX}{op}"
            )));
        }
    };
    sim.with_state(|st| handler(st, &input)).map(strip_nulls)
}

/// The request body, with typed access that names the offending field.
struct Input(Value);

impl Input {
    fn get<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>, AwsError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|_| {
                AwsError::serialization(&format!("Unexpected value type for field '{field}'"))
            }),
        }
    }

    fn string(&self, field: &str) -> Result<Option<String>, AwsError> {
        Ok(self.get::<String>(field)?.filter(|s| !s.is_empty()))
    }

    fn require(&self, field: &str, exception: &str, what: &str) -> Result<String, AwsError> {
        self.string(field)?
            .ok_or_else(|| AwsError::new(exception, format!("{what} must be specified.")))
    }

    fn application_name(&self) -> Result<String, AwsError> {
        let name = self.require(
            "applicationName",
            "ApplicationNameRequiredException",
            "Application name",
        )?;
        check_name(&name, "InvalidApplicationNameException", "Application name")?;
        Ok(name)
    }

    fn group_name(&self, field: &str) -> Result<String, AwsError> {
        let name = self.require(
            field,
            "DeploymentGroupNameRequiredException",
            "Deployment group name",
        )?;
        check_name(
            &name,
            "InvalidDeploymentGroupNameException",
            "Deployment group name",
        )?;
        Ok(name)
    }

    fn deployment_id(&self) -> Result<String, AwsError> {
        let id = self.require(
            "deploymentId",
            "DeploymentIdRequiredException",
            "Deployment id",
        )?;
        check_deployment_id(&id)?;
        Ok(id)
    }
}

fn check_name(name: &str, exception: &str, what: &str) -> Result<(), AwsError> {
    let valid = name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(AwsError::new(
            exception,
            format!("{what} is invalid: {name}"),
        ))
    }
}

fn check_deployment_id(id: &str) -> Result<(), AwsError> {
    if is_deployment_id(id) {
        Ok(())
    } else {
        Err(AwsError::new(
            "InvalidDeploymentIdException",
            format!("Specified DeploymentId is not in the valid format: {id}"),
        ))
    }
}

/// Epoch seconds with milliseconds, as AWS JSON 1.1 sends timestamps.
pub fn epoch(t: SystemTime) -> f64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    ms as f64 / 1000.0
}

/// A timestamp from the request's epoch seconds; one no clock can hold is
/// refused rather than allowed to overflow.
fn from_epoch(seconds: f64) -> Result<SystemTime, AwsError> {
    Duration::try_from_secs_f64(seconds.max(0.0))
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .ok_or_else(|| AwsError::serialization(&format!("Timestamp {seconds} is out of range")))
}

/// A `TimeRange`: epoch seconds, either end open.
#[derive(Debug, Default, serde::Deserialize)]
struct TimeRange {
    start: Option<f64>,
    end: Option<f64>,
}

fn application<'a>(st: &'a State, name: &str) -> Result<&'a Application, AwsError> {
    st.applications.get(name).ok_or_else(|| {
        AwsError::new(
            "ApplicationDoesNotExistException",
            format!("No application found for name: {name}"),
        )
    })
}

fn group<'a>(st: &'a State, app: &str, name: &str) -> Result<&'a DeploymentGroup, AwsError> {
    application(st, app)?;
    st.group(app, name).ok_or_else(|| {
        AwsError::new(
            "DeploymentGroupDoesNotExistException",
            format!("No Deployment Group found for name: {name}"),
        )
    })
}

fn deployment<'a>(st: &'a State, input: &Input) -> Result<&'a Deployment, AwsError> {
    let id = input.deployment_id()?;
    find_deployment(st, &id)
}

fn find_deployment<'a>(st: &'a State, id: &str) -> Result<&'a Deployment, AwsError> {
    st.deployments.get(id).ok_or_else(|| {
        AwsError::new(
            "DeploymentDoesNotExistException",
            format!("Deployment {id} does not exist."),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::revisions::check_revision;
    use super::*;
    use crate::codedeploy::state::{Revision, S3Location};

    #[test]
    fn timestamps_are_epoch_seconds_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(epoch(t), 1_700_000_000.123);
    }

    #[test]
    fn bundle_type_is_inferred_from_the_key_in_any_case() {
        // The one inference slipway-shared makes, which the action's upload
        // keys follow too.
        for (key, expected) in [("app.tar.gz", "tgz"), ("b.TGZ", "tgz"), ("b.Zip", "zip")] {
            let r = check_revision(Revision {
                revision_type: Some("S3".into()),
                s3_location: Some(S3Location {
                    bucket: Some("b".into()),
                    key: Some(key.into()),
                    ..S3Location::default()
                }),
                git_hub_location: None,
            })
            .unwrap();
            assert_eq!(
                r.s3_location.unwrap().bundle_type.as_deref(),
                Some(expected),
                "{key}"
            );
        }
    }

    #[test]
    fn string_revisions_are_invalid_for_server() {
        let e = check_revision(Revision {
            revision_type: Some("String".into()),
            ..Revision::default()
        })
        .unwrap_err();
        assert_eq!(e.code, "InvalidRevisionException");
    }

    #[test]
    fn a_minimum_healthy_value_beyond_32_bits_is_refused_not_truncated() {
        let mut st = State::new("us-east-1".into(), "123456789012".into(), Duration::ZERO);
        let input = Input(json!({
            "deploymentConfigName": "Huge",
            "minimumHealthyHosts": {"type": "HOST_COUNT", "value": 4_294_967_297_i64},
        }));
        let e = create_deployment_config(&mut st, &input).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("minimumHealthyHosts"), "{}", e.message);
        assert!(!st.configs.contains_key("Huge"));
    }
}
