//! The deployment specification, with exactly the fields the official agent
//! reads (`deployment_specification.rb`), checked as strictly as it checks them.

use serde::Deserialize;

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

/// A parsed deployment specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSpec {
    /// `d-…`; an ARN is cut to the part after `/` in its 6th field, as the agent does.
    pub deployment_id: String,
    /// The deployment group's id (the agent's directory name).
    pub deployment_group_id: String,
    /// The deployment group's name.
    pub deployment_group_name: String,
    /// The application's name.
    pub application_name: String,
    /// `user` unless the spec says otherwise (`codeDeployRollback`, `autoscaling`).
    pub deployment_creator: String,
    /// `IN_PLACE` unless the spec says otherwise.
    pub deployment_type: String,
    /// `appspec.yml` unless the spec says otherwise.
    pub app_spec_filename: String,
    /// DISALLOW, OVERWRITE or RETAIN (upper-cased), DISALLOW by default.
    pub file_exists_behavior: String,
    /// Every lifecycle event the deployment may run.
    pub all_possible_lifecycle_events: Option<Vec<String>>,
    /// Where the bundle comes from.
    pub revision: Revision,
}

/// The revision a deployment installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// A bundle in S3.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
        /// tar, tgz or zip.
        bundle_type: String,
        /// The object version, if pinned.
        version: Option<String>,
        /// The expected ETag, if pinned.
        etag: Option<String>,
    },
    /// A GitHub commit.
    GitHub {
        /// owner/repository.
        repository: String,
        /// The commit.
        commit_id: String,
        /// tar, tgz or zip, if given.
        bundle_type: Option<String>,
    },
    /// A local file or directory (the local CLI).
    Local {
        /// The path.
        location: String,
        /// tar, tgz, zip or directory.
        bundle_type: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
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
    git_hub_revision: Option<WireGitHub>,
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
struct WireGitHub {
    account: Option<String>,
    repository: Option<String>,
    commit_id: Option<String>,
    bundle_type: Option<String>,
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

fn one_of(value: String, field: &'static str, allowed: &[&str]) -> Result<String, SpecError> {
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(SpecError::Unsupported { field, value })
    }
}

impl DeploymentSpec {
    /// Parses and checks the JSON an envelope carried.
    pub fn parse(json: &[u8]) -> Result<Self, SpecError> {
        let wire: Wire = serde_json::from_slice(json).map_err(SpecError::Json)?;
        let mut deployment_id = required(wire.deployment_id, "DeploymentId")?;
        if deployment_id.starts_with("arn:") {
            let resource = deployment_id.split(':').nth(5).unwrap_or_default();
            deployment_id = resource
                .split_once('/')
                .map_or(resource, |(_, id)| id)
                .to_owned();
        }
        Ok(Self {
            deployment_id,
            deployment_group_id: required(wire.deployment_group_id, "DeploymentGroupId")?,
            deployment_group_name: required(wire.deployment_group_name, "DeploymentGroupName")?,
            application_name: required(wire.application_name, "ApplicationName")?,
            deployment_creator: wire.deployment_creator.unwrap_or_else(|| "user".to_owned()),
            deployment_type: one_of(
                wire.deployment_type
                    .unwrap_or_else(|| "IN_PLACE".to_owned()),
                "DeploymentType",
                &["IN_PLACE", "BLUE_GREEN"],
            )?,
            app_spec_filename: wire
                .app_spec_filename
                .unwrap_or_else(|| "appspec.yml".to_owned()),
            file_exists_behavior: one_of(
                wire.agent_action_overrides
                    .and_then(|o| o.agent_overrides)
                    .and_then(|o| o.file_exists_behavior)
                    .map_or_else(|| "DISALLOW".to_owned(), |b| b.to_uppercase()),
                "AgentActionOverrides.AgentOverrides.FileExistsBehavior",
                &["DISALLOW", "OVERWRITE", "RETAIN"],
            )?,
            all_possible_lifecycle_events: wire.all_possible_lifecycle_events,
            revision: Revision::parse(
                wire.revision
                    .ok_or(SpecError::Missing { field: "Revision" })?,
            )?,
        })
    }
}

impl Revision {
    fn parse(wire: WireRevision) -> Result<Self, SpecError> {
        const ARCHIVES: &[&str] = &["tar", "tgz", "zip"];
        let kind = required(wire.revision_type, "Revision.RevisionType")?;
        match kind.as_str() {
            "S3" => {
                let s3 = wire.s3_revision.ok_or(SpecError::Missing {
                    field: "Revision.S3Revision",
                })?;
                Ok(Self::S3 {
                    bucket: required(s3.bucket, "Revision.S3Revision.Bucket")?,
                    key: required(s3.key, "Revision.S3Revision.Key")?,
                    bundle_type: one_of(
                        required(s3.bundle_type, "Revision.S3Revision.BundleType")?,
                        "Revision.S3Revision.BundleType",
                        ARCHIVES,
                    )?,
                    version: s3.version,
                    etag: s3.etag,
                })
            }
            "GitHub" => {
                let gh = wire.git_hub_revision.ok_or(SpecError::Missing {
                    field: "Revision.GitHubRevision",
                })?;
                let account = required(gh.account, "Revision.GitHubRevision.Account")?;
                let repository = required(gh.repository, "Revision.GitHubRevision.Repository")?;
                Ok(Self::GitHub {
                    repository: format!("{account}/{repository}"),
                    commit_id: required(gh.commit_id, "Revision.GitHubRevision.CommitId")?,
                    bundle_type: gh.bundle_type,
                })
            }
            "Local File" | "Local Directory" => {
                let local = wire.local_revision.ok_or(SpecError::Missing {
                    field: "Revision.LocalRevision",
                })?;
                Ok(Self::Local {
                    location: required(local.location, "Revision.LocalRevision.Location")?,
                    bundle_type: one_of(
                        required(local.bundle_type, "Revision.LocalRevision.BundleType")?,
                        "Revision.LocalRevision.BundleType",
                        &["tar", "tgz", "zip", "directory"],
                    )?,
                })
            }
            _ => Err(SpecError::Unsupported {
                field: "Revision.RevisionType",
                value: kind,
            }),
        }
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
        "Revision": {"RevisionType": "S3", "S3Revision": {"Bucket": "b", "Key": "k.tgz",
            "BundleType": "tgz", "ETag": "abc"}}
    }"#;

    #[test]
    fn reads_the_fields_the_agent_reads() {
        let spec = DeploymentSpec::parse(SPEC.as_bytes()).unwrap();
        assert_eq!(spec.deployment_id, "d-ABCDEFGH1");
        assert_eq!(spec.deployment_creator, "codeDeployRollback");
        assert_eq!(spec.deployment_type, "IN_PLACE");
        assert_eq!(spec.app_spec_filename, "appspec.yml");
        assert_eq!(spec.file_exists_behavior, "OVERWRITE");
        assert_eq!(
            spec.revision,
            Revision::S3 {
                bucket: "b".into(),
                key: "k.tgz".into(),
                bundle_type: "tgz".into(),
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
        let err = DeploymentSpec::parse(spec.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deployment specification lacks DeploymentGroupName"
        );
    }

    #[test]
    fn refuses_an_unknown_bundle_type() {
        let spec = SPEC.replace(r#""BundleType": "tgz""#, r#""BundleType": "rar""#);
        let err = DeploymentSpec::parse(spec.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("Revision.S3Revision.BundleType"),
            "{err}"
        );
    }
}
