//! One deployment at a time per group, decided through ListDeployments with
//! statuses, never by reading an error's text.

use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_codedeploy::types::DeploymentStatus;

use crate::deploy::error::{DeployError, Result};

/// What to do when the group is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfActive {
    /// Wait for it to end (the default).
    #[default]
    Wait,
    /// Fail the step.
    Fail,
    /// Stop it (without rollback), then go on.
    Stop,
}

impl FromStr for IfActive {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "wait" => Ok(Self::Wait),
            "fail" => Ok(Self::Fail),
            "stop" => Ok(Self::Stop),
            _ => Err(format!("`{s}` is not one of wait, fail, stop")),
        }
    }
}

/// The statuses of a deployment that still holds the group.
pub const ACTIVE: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];

/// The group's active deployments.
pub async fn active(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
) -> Result<Vec<String>> {
    deployment_ids(cd, application, group, &ACTIVE).await
}

/// The ids of the group's deployments in `statuses` (any status when
/// empty), every page.
pub async fn deployment_ids(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
    statuses: &[DeploymentStatus],
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let page = cd
            .list_deployments()
            .application_name(application)
            .deployment_group_name(group)
            .set_include_only_statuses((!statuses.is_empty()).then(|| statuses.to_vec()))
            .set_next_token(token)
            .send()
            .await
            .map_err(DeployError::codedeploy(
                "ListDeployments",
                format!("{application}/{group}"),
            ))?;
        ids.extend(page.deployments().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(ids);
        }
    }
}

/// Stops deployment `id`, with CodeDeploy's automatic rollback or without.
pub async fn stop(cd: &aws_sdk_codedeploy::Client, id: &str, auto_rollback: bool) -> Result<()> {
    cd.stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(auto_rollback)
        .send()
        .await
        .map_err(DeployError::codedeploy("StopDeployment", id))?;
    Ok(())
}

/// Returns once the group has no active deployment, as `policy` says.
pub async fn settle(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
    policy: IfActive,
    interval: Duration,
    out: &mut dyn Write,
) -> Result<()> {
    let mut announced = Vec::new();
    loop {
        let busy = active(cd, application, group).await?;
        let Some(first) = busy.first() else {
            return Ok(());
        };
        match policy {
            IfActive::Fail => {
                return Err(DeployError::ActiveDeployment {
                    group: group.to_owned(),
                    deployment: first.clone(),
                });
            }
            IfActive::Stop => {
                for id in &busy {
                    if !announced.contains(id) {
                        writeln!(out, "stopping {id}, active on {group} (if-active: stop)")
                            .map_err(DeployError::Output)?;
                        stop(cd, id, false).await?;
                        announced.push(id.clone());
                    }
                }
            }
            IfActive::Wait => {
                if !announced.contains(first) {
                    writeln!(
                        out,
                        "waiting for {first}, active on {group} (if-active: wait)"
                    )
                    .map_err(DeployError::Output)?;
                    announced.push(first.clone());
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}
