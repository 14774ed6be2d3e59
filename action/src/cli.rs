//! The `slipway` command line.
//!
//! Flags double as GitHub Action inputs: each command documents which
//! `INPUT_*` variable feeds which flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit code of a command that could not do its job (STS refused, a
/// file could not be written, …). 1 is `appspec check`'s "found problems"
/// and 2 is clap's usage error (an unknown flag, a missing argument), so a
/// wrapper script can tell a typo in its own call from a failed job.
pub const EXIT_JOB_FAILED: u8 = 3;

/// Ship a commit to EC2 through AWS CodeDeploy, with no long-lived keys.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `slipway` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with appspec.yml.
    #[command(subcommand)]
    Appspec(AppspecCommand),
    /// Trade the job's GitHub OIDC token for an IAM role's credentials.
    ///
    /// Under GitHub Actions the keys are masked and written to GITHUB_ENV,
    /// and the account, ARN and expiry to GITHUB_OUTPUT. Elsewhere the
    /// command prints `export` lines for `eval`. With --cleanup it empties
    /// them again instead.
    Credentials(Box<CredentialsArgs>),
    /// Pack a commit (never the work tree) into a reproducible archive and
    /// check its appspec. Prints the path, SHA-256, size and file count.
    Bundle(BundleArgs),
    /// Bundle, upload to S3 and deploy a commit with CodeDeploy, following
    /// the deployment host by host to its end.
    Deploy(Box<DeployArgs>),
    /// Put a deployment group back on an earlier revision.
    Rollback(Box<RollbackArgs>),
    /// A deployment group's active and recent deployments.
    Status(Box<StatusArgs>),
}

/// `slipway bundle`. Each flag is also the action input of the same name.
#[derive(Debug, Clone, Default, Args)]
pub struct BundleArgs {
    /// The commit to bundle [default: HEAD].
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// tar.gz (tgz), zip or tar [default: tgz].
    #[arg(long, value_name = "FORMAT")]
    pub bundle_format: Option<String>,
    /// Globs of repository paths to leave out (comma- or newline-separated,
    /// or repeated), beside `.gitattributes` export-ignore.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// gzip/deflate level 0-9 [default: 6].
    #[arg(long, value_name = "N")]
    pub compression_level: Option<String>,
    /// The repository [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub repository: Option<String>,
    /// Where to write the archive [default: a temporary directory for
    /// deploy, the current directory for bundle].
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// The application and deployment group a command acts on.
#[derive(Debug, Clone, Default, Args)]
pub struct GroupArgs {
    /// The CodeDeploy application.
    #[arg(long, value_name = "NAME")]
    pub application: Option<String>,
    /// The deployment group.
    #[arg(long, value_name = "NAME")]
    pub deployment_group: Option<String>,
}

/// How a deployment is followed.
#[derive(Debug, Clone, Default, Args)]
pub struct FollowArgs {
    /// Give up waiting after this many seconds (the deployment goes on)
    /// [default: no limit].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<String>,
    /// Seconds between polls [default: 5].
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<String>,
    /// Return once the deployment is created, without following it.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub no_wait: Option<String>,
}

/// `slipway deploy`.
#[derive(Debug, Clone, Default, Args)]
pub struct DeployArgs {
    /// The application and deployment group.
    #[command(flatten)]
    pub group: GroupArgs,
    /// What to bundle, and how.
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// How the deployment is followed.
    #[command(flatten)]
    pub follow: FollowArgs,
    /// Whose credentials make the AWS calls.
    #[command(flatten)]
    pub credentials: CredentialsArgs,
    /// The bucket for bundles.
    #[arg(long, value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// Key prefix in the bucket [default: slipway].
    #[arg(long, value_name = "PREFIX")]
    pub s3_prefix: Option<String>,
    /// aws:kms (default) or AES256.
    #[arg(long, value_name = "SSE")]
    pub server_side_encryption: Option<String>,
    /// The KMS key for aws:kms [default: the bucket's default key].
    #[arg(long, value_name = "KEY")]
    pub kms_key_id: Option<String>,
    /// The deployment config [default: the group's].
    #[arg(long, value_name = "NAME")]
    pub deployment_config: Option<String>,
    /// DISALLOW (default), OVERWRITE or RETAIN.
    #[arg(long, value_name = "BEHAVIOR")]
    pub file_exists_behavior: Option<String>,
    /// Roll back automatically when the deployment fails [default: the group's setting].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub auto_rollback: Option<String>,
    /// Let ApplicationStop failures pass [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub ignore_application_stop_failures: Option<String>,
    /// When the group is busy: wait (default), fail, or stop the active deployment.
    #[arg(long, value_name = "WHAT")]
    pub if_active: Option<String>,
    /// Deploy even a commit older than the group's last successful one.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_older: Option<String>,
}

/// `slipway rollback`.
#[derive(Debug, Clone, Default, Args)]
pub struct RollbackArgs {
    /// The application and deployment group.
    #[command(flatten)]
    pub group: GroupArgs,
    /// How the deployment is followed.
    #[command(flatten)]
    pub follow: FollowArgs,
    /// Whose credentials make the AWS calls.
    #[command(flatten)]
    pub credentials: CredentialsArgs,
    /// Redeploy this deployment's revision.
    #[arg(long = "to", value_name = "DEPLOYMENT_ID")]
    pub to_deployment: Option<String>,
    /// Redeploy the revision built from this commit (full or abbreviated).
    #[arg(long, value_name = "SHA")]
    pub to_commit: Option<String>,
    /// Stop the active deployment with CodeDeploy's automatic rollback, and
    /// follow that.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub stop_current: Option<String>,
}

/// `slipway status`.
#[derive(Debug, Clone, Default, Args)]
pub struct StatusArgs {
    /// The application and deployment group.
    #[command(flatten)]
    pub group: GroupArgs,
    /// Whose credentials make the AWS calls.
    #[command(flatten)]
    pub credentials: CredentialsArgs,
    /// How many recent deployments [default: 10].
    #[arg(long, value_name = "N")]
    pub limit: Option<String>,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `slipway appspec …`
#[derive(Debug, Subcommand)]
pub enum AppspecCommand {
    /// Check a bundle directory's appspec against the tree, as CodeDeploy
    /// reads it. Prints every problem and exits 1 if there are any.
    Check {
        /// The bundle's root directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The deployment's AppSpecFilename, when it is not appspec.yml:
        /// the hook steps on the host read only this file.
        #[arg(long)]
        appspec_filename: Option<String>,
    },
}

/// `slipway credentials`. Each flag is also the action input of the same
/// name (`--role-to-assume` is `INPUT_ROLE-TO-ASSUME`); a flag wins. Values
/// are strings here and checked by the library, so that flags and inputs
/// share one set of rules and messages.
#[derive(Debug, Clone, Default, Args)]
pub struct CredentialsArgs {
    /// The AWS region (falls back to AWS_REGION, then AWS_DEFAULT_REGION).
    #[arg(long, value_name = "REGION")]
    pub aws_region: Option<String>,
    /// The ARN of the role to assume.
    #[arg(long, value_name = "ARN")]
    pub role_to_assume: Option<String>,
    /// The token's audience [default: sts.amazonaws.com; .cn in China].
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,
    /// The role session name [default: slipway-REPO-RUN_ID-ATTEMPT].
    #[arg(long, value_name = "NAME")]
    pub role_session_name: Option<String>,
    /// The session's lifetime in seconds, 900 to 43200 [default: 3600].
    #[arg(long, value_name = "SECONDS")]
    pub role_duration_seconds: Option<String>,
    /// Comma-separated accounts the credentials may belong to.
    #[arg(long, value_name = "IDS")]
    pub allowed_account_ids: Option<String>,
    /// Mask the account id (and so the ARN) in the log [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub mask_aws_account_id: Option<String>,
    /// Also set the keys as step outputs [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub output_credentials: Option<String>,
    /// Write the keys to GITHUB_ENV for later steps [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub output_env_credentials: Option<String>,
    /// A JSON IAM policy that narrows the session below the role's own.
    #[arg(long, value_name = "JSON")]
    pub inline_session_policy: Option<String>,
    /// Managed policy ARNs (comma- or newline-separated) that narrow the
    /// session below the role's own.
    #[arg(long, value_name = "ARNS")]
    pub managed_session_policies: Option<String>,
    /// Read the web identity token from this file instead of the runner.
    #[arg(long, value_name = "PATH")]
    pub web_identity_token_file: Option<String>,
    /// Call STS here (overrides AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    pub sts_endpoint: Option<String>,
    /// STS calls at most, 1 to 20 [default: 6]. Only throttling, IdP,
    /// server and network errors are retried.
    #[arg(long, value_name = "N")]
    pub retry_max_attempts: Option<String>,
    /// Make one STS call, with no retries [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub disable_retry: Option<String>,
    /// Write empty AWS_* credential variables to GITHUB_ENV first, so no
    /// earlier step's keys are used [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub unset_current_credentials: Option<String>,
    /// Assume the role again until the secret key has only letters and
    /// digits, for tools that cannot take `+` or `/` [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub special_characters_workaround: Option<String>,
    /// Also write the keys as this named profile to the shared credentials
    /// file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) and its
    /// region to the config file.
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// Replace the profile if the files have it already [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub overwrite_aws_profile: Option<String>,
    /// An HTTP proxy for the token endpoint and STS.
    #[arg(long, value_name = "URL")]
    pub http_proxy: Option<String>,
    /// Comma-separated hosts that bypass the proxy.
    #[arg(long, value_name = "HOSTS")]
    pub no_proxy: Option<String>,
    /// Fail the command after this many seconds [default: no limit].
    #[arg(long, value_name = "SECONDS")]
    pub action_timeout_s: Option<String>,
    /// Assume role-to-assume with AssumeRole from the credentials already in
    /// the environment (AWS_ACCESS_KEY_ID…), not with the OIDC token
    /// [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub role_chaining: Option<String>,
    /// The external id the role's trust policy requires (AssumeRole only).
    #[arg(long, value_name = "ID")]
    pub role_external_id: Option<String>,
    /// Session tag keys (comma- or newline-separated) that pass on to a
    /// further chained role.
    #[arg(long, value_name = "KEYS")]
    pub transitive_tag_keys: Option<String>,
    /// Send no session tags with AssumeRole [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub role_skip_session_tagging: Option<String>,
    /// Write empty AWS_* variables to GITHUB_ENV, as the official action's
    /// post step does, and do nothing else (`command: cleanup`).
    #[arg(long)]
    pub cleanup: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appspec_check_defaults_to_the_current_directory() {
        let cli = Cli::try_parse_from(["slipway", "appspec", "check"]).unwrap();
        let Command::Appspec(AppspecCommand::Check { dir, .. }) = cli.command else {
            panic!("not appspec check");
        };
        assert_eq!(dir, PathBuf::from("."));
    }

    #[test]
    fn appspec_check_takes_a_directory() {
        let cli = Cli::try_parse_from(["slipway", "appspec", "check", "appspec/"]).unwrap();
        let Command::Appspec(AppspecCommand::Check { dir, .. }) = cli.command else {
            panic!("not appspec check");
        };
        assert_eq!(dir, PathBuf::from("appspec/"));
    }

    fn credentials(args: &[&str]) -> CredentialsArgs {
        let cli = Cli::try_parse_from([&["slipway", "credentials"], args].concat()).unwrap();
        let Command::Credentials(args) = cli.command else {
            panic!("not credentials");
        };
        *args
    }

    #[test]
    fn credentials_flags_are_named_as_the_inputs() {
        let args = credentials(&["--aws-region", "eu-west-1", "--role-to-assume", "arn:x"]);
        assert_eq!(args.aws_region.as_deref(), Some("eu-west-1"));
        assert_eq!(args.role_to_assume.as_deref(), Some("arn:x"));
        assert_eq!(args.audience, None);
    }

    #[test]
    fn a_bare_boolean_flag_means_true() {
        assert_eq!(
            credentials(&["--mask-aws-account-id"])
                .mask_aws_account_id
                .as_deref(),
            Some("true")
        );
        assert_eq!(
            credentials(&["--output-env-credentials=false"])
                .output_env_credentials
                .as_deref(),
            Some("false")
        );
    }
}
