//! The deploy path's errors: bundle, upload, deploy, follow, rollback and
//! status.

use std::path::PathBuf;

/// What went wrong on the way from a commit to a finished deployment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The directory is not inside a git repository.
    #[error("cannot open the git repository at {path}")]
    OpenRepository {
        /// Where we looked.
        path: PathBuf,
        /// libgit2's answer.
        #[source]
        source: git2::Error,
    },
    /// HEAD points at nothing yet.
    #[error("the repository at {path} has no commits: commit something to deploy first")]
    EmptyRepository {
        /// The repository.
        path: PathBuf,
    },
    /// The ref names no commit.
    #[error("`{reference}` names no commit in this repository")]
    Ref {
        /// What was asked for.
        reference: String,
        /// libgit2's answer.
        #[source]
        source: git2::Error,
    },
    /// An object of the commit could not be read.
    #[error("cannot read the commit's tree")]
    ReadTree {
        /// libgit2's answer.
        #[source]
        source: git2::Error,
    },
    /// A submodule's recorded commit is not available locally.
    #[error(
        "submodule {path} (commit {commit}) is not checked out: run `git submodule update --init` \
         (actions/checkout: `submodules: recursive`) or exclude it"
    )]
    SubmoduleMissing {
        /// Its path in the bundle.
        path: String,
        /// The commit the superproject records.
        commit: String,
    },
    /// An `--exclude` glob does not parse.
    #[error("exclude pattern `{pattern}`: {reason}")]
    Exclude {
        /// The glob.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the archive failed.
    #[error("cannot write the bundle")]
    WriteBundle {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The appspec could not be checked at all.
    #[error("cannot check the bundle's appspec")]
    CheckAppspec {
        /// Why.
        #[source]
        source: slipway_shared::Error,
    },
    /// The appspec has errors; nothing was uploaded.
    #[error("the appspec has {count} error(s) (shown above); nothing was uploaded")]
    InvalidAppspec {
        /// How many.
        count: usize,
    },
    /// The archive is over CodeDeploy's limit.
    #[error(
        "the bundle {path} is {size} bytes, over CodeDeploy's limit of {limit}: exclude build output or large assets (--exclude, export-ignore)"
    )]
    BundleTooLarge {
        /// The archive.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bucket does not exist or cannot be seen.
    #[error("S3 bucket {bucket}: {reason}")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// An S3 call failed.
    #[error("S3 {operation} on s3://{bucket}/{key} failed: {message}")]
    S3 {
        /// The operation.
        operation: &'static str,
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The service's code and message.
        message: String,
    },
    /// KMS refused to encrypt the bundle.
    #[error(
        "KMS key {key} refused to encrypt s3://{bucket}/{object}: {message}. The deploy role needs kms:GenerateDataKey on the key, and the key must be enabled and in the bucket's region"
    )]
    KmsRefused {
        /// The key id or "the bucket's default key".
        key: String,
        /// The bucket.
        bucket: String,
        /// The object.
        object: String,
        /// The service's message.
        message: String,
    },
    /// A CodeDeploy call failed.
    #[error("CodeDeploy {operation} for {subject} failed: {message}")]
    CodeDeploy {
        /// The operation.
        operation: &'static str,
        /// What it was about (application, group, deployment id).
        subject: String,
        /// The service's code and message.
        message: String,
    },
    /// The group has an active deployment and we were told to fail.
    #[error(
        "deployment group {group} already has {deployment} in progress (if-active: fail); wait for it or stop it"
    )]
    ActiveDeployment {
        /// The group.
        group: String,
        /// The active deployment.
        deployment: String,
    },
    /// The commit is older than what the group runs.
    #[error(
        "{commit} is an ancestor of {deployed}, which deployment {deployment} already put on {group}: refusing to go back in time. Use `slipway rollback` for that, or --allow-older"
    )]
    OlderCommit {
        /// The commit being deployed.
        commit: String,
        /// The commit the group last deployed successfully.
        deployed: String,
        /// That deployment.
        deployment: String,
        /// The group.
        group: String,
    },
    /// Ancestry cannot be decided because history is missing.
    #[error(
        "cannot tell whether {commit} is older than {deployed} (deployed by {deployment}): {deployed} is not in this clone{shallow}. Fetch the history (actions/checkout `fetch-depth: 0`, or `git fetch --unshallow`), or pass --allow-older"
    )]
    UnknownAncestry {
        /// The commit being deployed.
        commit: String,
        /// The commit last deployed.
        deployed: String,
        /// That deployment.
        deployment: String,
        /// ", which is shallow" or empty.
        shallow: &'static str,
    },
    /// The deployment did not end before `--timeout`.
    #[error(
        "deployment {deployment} still {status} after the {seconds} s timeout; it continues in CodeDeploy"
    )]
    Timeout {
        /// The deployment.
        deployment: String,
        /// Its last status.
        status: String,
        /// The timeout.
        seconds: u64,
    },
    /// Nothing to roll back to.
    #[error("no revision to roll back to: {reason}")]
    NoRollbackTarget {
        /// Why.
        reason: String,
    },
    /// Writing output failed.
    #[error("cannot write the report")]
    Output(#[source] std::io::Error),
    /// An action-level step (inputs, credentials, runner files) failed.
    #[error(transparent)]
    Action(#[from] crate::Error),
}

/// The deploy path's result.
pub type Result<T, E = DeployError> = std::result::Result<T, E>;

impl DeployError {
    /// For `map_err`: CodeDeploy's `operation` on `subject` failed.
    pub fn codedeploy<E, R>(
        operation: &'static str,
        subject: impl Into<String>,
    ) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        move |e| Self::CodeDeploy {
            operation,
            subject: subject.into(),
            message: describe(&e),
        }
    }
}

/// An SDK error as `Code: message`, without the request's noise.
pub fn describe<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => format!("{e}"),
            }
        }
        other => slipway_shared::error_chain(other),
    }
}

/// The service's error code, if the service answered.
pub fn code<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Option<&str>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match err {
        aws_smithy_runtime_api::client::result::SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}
