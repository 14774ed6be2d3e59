//! Deployment configs: the CodeDeployDefault ones and custom minimum healthy hosts.

use serde_json::{Value, json};

use super::pages::page;
use super::{Input, Output, check_name, epoch};
use crate::codedeploy::configs::{ConfigRule, DeploymentConfig, MinimumHealthy, TrafficRouting};
use crate::codedeploy::server::AwsError;
use crate::codedeploy::state::State;

pub(super) fn config_info(c: &DeploymentConfig) -> Value {
    json!({
        "deploymentConfigId": c.id,
        "deploymentConfigName": c.name,
        "minimumHealthyHosts": c.rule.minimum_healthy().map(|m| {
            let (kind, value) = m.wire();
            json!({ "type": kind, "value": value })
        }),
        "trafficRoutingConfig": c.rule.traffic_routing().map(traffic_routing_json),
        "createTime": epoch(c.create_time),
        "computePlatform": c.rule.compute_platform(),
    })
}

fn traffic_routing_json(t: TrafficRouting) -> Value {
    match t {
        TrafficRouting::AllAtOnce => json!({ "type": "AllAtOnce" }),
        TrafficRouting::TimeBasedCanary {
            percentage,
            interval,
        } => json!({
            "type": "TimeBasedCanary",
            "timeBasedCanary": { "canaryPercentage": percentage, "canaryInterval": interval },
        }),
        TrafficRouting::TimeBasedLinear {
            percentage,
            interval,
        } => json!({
            "type": "TimeBasedLinear",
            "timeBasedLinear": { "linearPercentage": percentage, "linearInterval": interval },
        }),
    }
}

/// ListDeploymentConfigs: the predefined configs of every platform, then
/// the custom ones, a page at a time.
pub(super) fn list_deployment_configs(st: &mut State, input: &Input) -> Output {
    let names: Vec<&String> = st.configs.keys().collect();
    let (page, next) = page(input, "ListDeploymentConfigs", &names, st.page_size)?;
    Ok(json!({ "deploymentConfigsList": page, "nextToken": next }))
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
            rule: ConfigRule::Server(minimum_healthy),
            create_time: st.now(),
        },
    );
    Ok(json!({ "deploymentConfigId": id }))
}
