//! RegisterApplicationRevision, then CreateDeployment.

use aws_sdk_codedeploy::types::{
    AutoRollbackConfiguration, AutoRollbackEvent, BundleType as CdBundleType, FileExistsBehavior,
    RevisionLocation, RevisionLocationType, S3Location,
};
use slipway_shared::bundle::BundleType;

use crate::deploy::error::{DeployError, Result, code, describe};
use crate::upload::Uploaded;

/// A deployment to create.
#[derive(Debug, Clone)]
pub struct Request {
    /// The application.
    pub application: String,
    /// The group.
    pub group: String,
    /// What to deploy.
    pub revision: RevisionLocation,
    /// Commit, run URL, actor.
    pub description: String,
    /// A deployment config other than the group's.
    pub config: Option<String>,
    /// What Install does with files it did not put there.
    pub file_exists: Option<FileExistsBehavior>,
    /// Roll back on failure (and on stop); `None` keeps the group's setting.
    pub auto_rollback: Option<bool>,
    /// Let ApplicationStop failures pass.
    pub ignore_application_stop_failures: bool,
}

/// The S3 revision of an uploaded bundle.
pub fn s3_revision(uploaded: &Uploaded, format: BundleType) -> RevisionLocation {
    RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(
            S3Location::builder()
                .bucket(&uploaded.bucket)
                .key(&uploaded.key)
                .bundle_type(CdBundleType::from(format.as_str()))
                .e_tag(&uploaded.etag)
                .set_version(uploaded.version_id.clone())
                .build(),
        )
        .build()
}

/// Fails with a clear message unless the application and group exist.
pub async fn check_group(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
) -> Result<()> {
    let Err(e) = cd
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(group)
        .send()
        .await
    else {
        return Ok(());
    };
    let message = match code(&e) {
        Some("ApplicationDoesNotExistException") => {
            format!("application `{application}` does not exist in this account and region")
        }
        Some("DeploymentGroupDoesNotExistException") => {
            format!("application `{application}` has no deployment group `{group}`")
        }
        _ => describe(&e),
    };
    Err(DeployError::CodeDeploy {
        operation: "GetDeploymentGroup",
        subject: format!("{application}/{group}"),
        message,
    })
}

/// Registers the revision and creates the deployment; returns its id.
pub async fn create(cd: &aws_sdk_codedeploy::Client, request: &Request) -> Result<String> {
    let subject = format!("{}/{}", request.application, request.group);
    cd.register_application_revision()
        .application_name(&request.application)
        .revision(request.revision.clone())
        .description(truncate(&request.description, 255))
        .send()
        .await
        .map_err(DeployError::codedeploy(
            "RegisterApplicationRevision",
            subject.clone(),
        ))?;
    let mut call = cd
        .create_deployment()
        .application_name(&request.application)
        .deployment_group_name(&request.group)
        .revision(request.revision.clone())
        .description(truncate(&request.description, 255))
        .set_deployment_config_name(request.config.clone())
        .set_file_exists_behavior(request.file_exists.clone())
        .ignore_application_stop_failures(request.ignore_application_stop_failures);
    if let Some(enabled) = request.auto_rollback {
        call = call.auto_rollback_configuration(
            AutoRollbackConfiguration::builder()
                .enabled(enabled)
                .events(AutoRollbackEvent::DeploymentFailure)
                .events(AutoRollbackEvent::DeploymentStopOnRequest)
                .build(),
        );
    }
    let created = call
        .send()
        .await
        .map_err(DeployError::codedeploy("CreateDeployment", subject))?;
    Ok(created.deployment_id().unwrap_or_default().to_owned())
}

fn truncate(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}
