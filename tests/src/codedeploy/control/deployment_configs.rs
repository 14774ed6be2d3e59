//! Deployment configs: the CodeDeployDefault ones and custom minimum healthy hosts.

use super::*;

pub(super) fn config_info(c: &DeploymentConfig) -> Value {
    let (kind, value) = c.minimum_healthy.wire();
    json!({
        "deploymentConfigId": c.id,
        "deploymentConfigName": c.name,
        "minimumHealthyHosts": { "type": kind, "value": value },
        "createTime": epoch(c.create_time),
        "computePlatform": "Server",
    })
}

pub(super) fn get_deployment_config(st: &mut State, input: &Input) -> Output {
    let name = input.require(
        "deploymentConfigName",
        "DeploymentConfigNameRequiredException",
        "Deployment config name",
    )?;
    let c = st.configs.get(&name).ok_or_else(|| {
        AwsError::new(
            "DeploymentConfigDoesNotExistException",
            format!("No deployment configuration found for name: {name}"),
        )
    })?;
    Ok(json!({ "deploymentConfigInfo": config_info(c) }))
}

#[derive(serde::Deserialize)]
pub(super) struct MinimumHealthyInput {
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The model's `MinimumHealthyHostsValue` is a 32-bit integer.
    value: Option<i32>,
}

pub(super) fn create_deployment_config(st: &mut State, input: &Input) -> Output {
    let name = input.require(
        "deploymentConfigName",
        "DeploymentConfigNameRequiredException",
        "Deployment config name",
    )?;
    check_name(
        &name,
        "InvalidDeploymentConfigNameException",
        "Deployment config name",
    )?;
    if name.starts_with("CodeDeployDefault.") || st.configs.contains_key(&name) {
        return Err(AwsError::new(
            "DeploymentConfigAlreadyExistsException",
            format!("A deployment configuration named {name} already exists."),
        ));
    }
    let minimum: MinimumHealthyInput = input.get("minimumHealthyHosts")?.ok_or_else(|| {
        AwsError::new(
            "InvalidMinimumHealthyHostValueException",
            "Minimum healthy hosts must be specified.",
        )
    })?;
    let value = minimum.value.unwrap_or(-1);
    let minimum_healthy = match (minimum.kind.as_deref(), value) {
        (Some("HOST_COUNT"), v) if v >= 0 => MinimumHealthy::HostCount(v as u32),
        (Some("FLEET_PERCENT"), v) if (0..=99).contains(&v) => {
            MinimumHealthy::FleetPercent(v as u32)
        }
        _ => {
            return Err(AwsError::new(
                "InvalidMinimumHealthyHostValueException",
                "The minimum healthy hosts value is invalid.",
            ));
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    st.configs.insert(
        name.clone(),
        DeploymentConfig {
            id: id.clone(),
            name,
            minimum_healthy,
            create_time: SystemTime::now(),
        },
    );
    Ok(json!({ "deploymentConfigId": id }))
}
