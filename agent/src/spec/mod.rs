//! What one deployment asks of this host: the fields of CodeDeploy's
//! deployment specification that the agent acts on. `local` builds one from
//! its flags; the daemon builds it from the host command's envelope.
//!
//! - [`envelope`]: opening and verifying the envelope the spec comes in.
//! - [`deployment_spec`]: the spec's JSON, as CodeDeploy sends it.

pub mod deployment_spec;
pub mod envelope;

use std::path::PathBuf;

use slipway_shared::appspec::FileExistsBehavior;
use slipway_shared::bundle::BundleType;

/// A deployment, as far as this host is concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSpec {
    /// `d-XXXXXXXXX`.
    pub deployment_id: String,
    /// The deployment group's id: names its directory in the root.
    pub deployment_group_id: String,
    /// For the hooks' environment.
    pub deployment_group_name: String,
    /// For the hooks' environment.
    pub application_name: String,
    /// `user`, `codeDeployRollback`, `autoscaling`…
    pub creator: String,
    /// Blue/green rather than in-place.
    pub blue_green: bool,
    /// The appspec's file name (the official default `appspec.yml`).
    pub appspec_filename: String,
    /// The deployment's own setting; the appspec's beats it.
    pub file_exists_behavior: FileExistsBehavior,
    /// Where the bundle comes from.
    pub revision: Revision,
    /// Every event the deployment may run, when CodeDeploy sent the list;
    /// Install refuses hooks for events outside it.
    pub all_possible_events: Option<Vec<String>>,
}

/// Where a revision's bundle comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// An object in S3.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// How it is packed.
        bundle_type: BundleType,
        /// The object version to fetch.
        version: Option<String>,
        /// The ETag the object must have (quotes optional).
        etag: Option<String>,
    },
    /// An archive on this host.
    LocalFile {
        /// The archive.
        path: PathBuf,
        /// How it is packed.
        bundle_type: BundleType,
    },
    /// An unpacked revision on this host.
    LocalDirectory {
        /// The directory.
        path: PathBuf,
    },
}

impl DeploymentSpec {
    /// Whether this is a blue/green rollback, which swaps the revisions the
    /// traffic hooks run from.
    pub fn is_blue_green_rollback(&self) -> bool {
        self.blue_green && self.creator == "codeDeployRollback"
    }

    /// The variables the official agent adds for the bundle's origin; a
    /// `None` is unset in the script's environment, as the official agent
    /// unsets a version or ETag the revision does not have.
    pub fn bundle_env(&self) -> Vec<(&'static str, Option<String>)> {
        match &self.revision {
            Revision::S3 {
                bucket,
                key,
                version,
                etag,
                ..
            } => vec![
                ("BUNDLE_BUCKET", Some(bucket.clone())),
                ("BUNDLE_KEY", Some(key.clone())),
                ("BUNDLE_VERSION", version.clone()),
                ("BUNDLE_ETAG", etag.clone()),
            ],
            _ => Vec::new(),
        }
    }
}
