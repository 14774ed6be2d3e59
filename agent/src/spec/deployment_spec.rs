//! The deployment specification as CodeDeploy sends it: every field the
//! official agent reads (`deployment_specification.rb`), checked as strictly
//! as it checks them, turned into the [`DeploymentSpec`] the executor runs.
//! Unknown fields are ignored, as the official agent ignores them.

use std::path::PathBuf;

use serde::Deserialize;
use slipway_shared::appspec::FileExistsBehavior;
use slipway_shared::bundle::BundleType;

use super::{DeploymentSpec, Revision};

/// Why a specification was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The spec is not JSON of the expected shape.
    #[error("deployment specification is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// A field the agent requires is missing or empty.
    #[error("deployment specification lacks {field}")]
    Missing {
        /// The JSON field.
        field: &'static str,
    },
    /// A field holds a value the agent refuses.
    #[error("deployment specification field {field} has unsupported value {value:?}")]
    Unsupported {
        /// The JSON field.
        field: &'static str,
        /// What it held.
        value: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
    // Unknown fields (GitHubAccessToken among them) are ignored.
    deployment_id: Option<String>,
    deployment_group_id: Option<String>,
    deployment_group_name: Option<String>,
    application_name: Option<String>,
    deployment_creator: Option<String>,
    deployment_type: Option<String>,
    app_spec_filename: Option<String>,
    agent_action_overrides: Option<Overrides>,
    all_possible_lifecycle_events: Option<Vec<String>>,
    revision: Option<WireRevision>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Overrides {
    agent_overrides: Option<AgentOverrides>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AgentOverrides {
    file_exists_behavior: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireRevision {
    revision_type: Option<String>,
    s3_revision: Option<WireS3>,
    local_revision: Option<WireLocal>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireS3 {
    bucket: Option<String>,
    key: Option<String>,
    bundle_type: Option<String>,
    version: Option<String>,
    #[serde(rename = "ETag")]
    etag: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireLocal {
    location: Option<String>,
    bundle_type: Option<String>,
}

fn required(value: Option<String>, field: &'static str) -> Result<String, SpecError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or(SpecError::Missing { field })
}

fn bundle_type(value: String, field: &'static str) -> Result<BundleType, SpecError> {
    value
        .parse()
        .map_err(|_| SpecError::Unsupported { field, value })
}

/// Parses and checks the JSON an envelope carried.
pub fn parse(json: &[u8]) -> Result<DeploymentSpec, SpecError> {
    let wire: Wire = serde_json::from_slice(json).map_err(SpecError::Json)?;
    let mut deployment_id = required(wire.deployment_id, "DeploymentId")?;
    if deployment_id.starts_with("arn:") {
        let resource = deployment_id.split(':').nth(5).unwrap_or_default();
        deployment_id = resource
            .split_once('/')
            .map_or(resource, |(_, id)| id)
            .to_owned();
    }
    let deployment_type = wire
        .deployment_type
        .unwrap_or_else(|| "IN_PLACE".to_owned());
    let blue_green = match deployment_type.as_str() {
        "IN_PLACE" => false,
        "BLUE_GREEN" => true,
        _ => {
            return Err(SpecError::Unsupported {
                field: "DeploymentType",
                value: deployment_type,
            });
        }
    };
    let behavior = wire
        .agent_action_overrides
        .and_then(|o| o.agent_overrides)
        .and_then(|o| o.file_exists_behavior)
        .map_or_else(|| "DISALLOW".to_owned(), |b| b.to_uppercase());
    let file_exists_behavior = FileExistsBehavior::ALL
        .iter()
        .find(|(name, _)| *name == behavior)
        .map(|(_, b)| *b)
        .ok_or(SpecError::Unsupported {
            field: "AgentActionOverrides.AgentOverrides.FileExistsBehavior",
            value: behavior,
        })?;
    Ok(DeploymentSpec {
        deployment_id,
        deployment_group_id: required(wire.deployment_group_id, "DeploymentGroupId")?,
        deployment_group_name: required(wire.deployment_group_name, "DeploymentGroupName")?,
        application_name: required(wire.application_name, "ApplicationName")?,
        creator: wire.deployment_creator.unwrap_or_else(|| "user".to_owned()),
        blue_green,
        appspec_filename: wire
            .app_spec_filename
            .unwrap_or_else(|| "appspec.yml".to_owned()),
        file_exists_behavior,
        revision: revision(
            wire.revision
                .ok_or(SpecError::Missing { field: "Revision" })?,
        )?,
        all_possible_events: wire.all_possible_lifecycle_events,
    })
}

fn revision(wire: WireRevision) -> Result<Revision, SpecError> {
    let kind = required(wire.revision_type, "Revision.RevisionType")?;
    match kind.as_str() {
        "S3" => {
            let s3 = wire.s3_revision.ok_or(SpecError::Missing {
                field: "Revision.S3Revision",
            })?;
            Ok(Revision::S3 {
                bucket: required(s3.bucket, "Revision.S3Revision.Bucket")?,
                key: required(s3.key, "Revision.S3Revision.Key")?,
                bundle_type: bundle_type(
                    required(s3.bundle_type, "Revision.S3Revision.BundleType")?,
                    "Revision.S3Revision.BundleType",
                )?,
                version: s3.version,
                etag: s3.etag,
            })
        }
        "Local File" | "Local Directory" => {
            let local = wire.local_revision.ok_or(SpecError::Missing {
                field: "Revision.LocalRevision",
            })?;
            let path = PathBuf::from(required(local.location, "Revision.LocalRevision.Location")?);
            let kind = required(local.bundle_type, "Revision.LocalRevision.BundleType")?;
            if kind == "directory" {
                return Ok(Revision::LocalDirectory { path });
            }
            Ok(Revision::LocalFile {
                path,
                bundle_type: bundle_type(kind, "Revision.LocalRevision.BundleType")?,
            })
        }
        // The official agent fetches GitHub revisions with a token; Slipway
        // deploys from S3 only, so say so rather than half-support it.
        _ => Err(SpecError::Unsupported {
            field: "Revision.RevisionType",
            value: kind,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{
        "DeploymentId": "arn:aws:codedeploy:us-east-1:123456789012:deployment/d-ABCDEFGH1",
        "DeploymentGroupId": "0c6f1d2e-1111-2222-3333-444455556666",
        "DeploymentGroupName": "web",
        "ApplicationName": "shop",
        "DeploymentCreator": "codeDeployRollback",
        "AgentActionOverrides": {"AgentOverrides": {"FileExistsBehavior": "overwrite"}},
        "AllPossibleLifecycleEvents": ["ApplicationStop", "DownloadBundle"],
        "GitHubAccessToken": "secret", "Unknown": 1,
        "Revision": {"RevisionType": "S3", "S3Revision": {"Bucket": "b", "Key": "k.tgz",
            "BundleType": "tgz", "ETag": "abc"}}
    }"#;

    #[test]
    fn reads_the_fields_the_agent_reads() {
        let spec = parse(SPEC.as_bytes()).unwrap();
        assert_eq!(spec.deployment_id, "d-ABCDEFGH1");
        assert_eq!(spec.creator, "codeDeployRollback");
        assert!(!spec.blue_green);
        assert_eq!(spec.appspec_filename, "appspec.yml");
        assert_eq!(spec.file_exists_behavior, FileExistsBehavior::Overwrite);
        assert_eq!(
            spec.revision,
            Revision::S3 {
                bucket: "b".into(),
                key: "k.tgz".into(),
                bundle_type: BundleType::Tgz,
                version: None,
                etag: Some("abc".into())
            }
        );
    }

    #[test]
    fn names_a_missing_required_field() {
        let spec = SPEC.replace(
            r#""DeploymentGroupName": "web","#,
            r#""DeploymentGroupName": "","#,
        );
        let err = parse(spec.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deployment specification lacks DeploymentGroupName"
        );
    }

    #[test]
    fn refuses_an_unknown_bundle_type() {
        let spec = SPEC.replace(r#""BundleType": "tgz""#, r#""BundleType": "rar""#);
        let err = parse(spec.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("Revision.S3Revision.BundleType"),
            "{err}"
        );
    }
}
