//! `slipway deploy`: bundle, upload, register, create, follow.
//!
//! # Layout
//! - [`error`]: the deploy path's error enum, shared by bundle, upload, follow, rollback and status.
//! - [`concurrency`]: one deployment at a time per group (wait, fail, stop).
//! - [`ordering`]: never an ancestor of the last successful commit by accident.
//! - [`create`]: RegisterApplicationRevision and CreateDeployment.

pub mod error;

pub mod concurrency;
pub mod create;
pub mod ordering;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use aws_sdk_codedeploy::types::FileExistsBehavior;

use crate::aws::Clients;
use crate::bundle;
use crate::cli::{DeployArgs, FollowArgs, GroupArgs};
use crate::env::Env;
use crate::follow::{self, Outcome, render::Style};
use crate::github::files::FileCommand;
use crate::github::inputs::Inputs;
use crate::summary;
use crate::upload::{self, Destination, Encryption};
use concurrency::IfActive;
use error::{DeployError, Result};

/// Who and what started this run, for descriptions and metadata.
#[derive(Debug, Clone)]
pub struct Job {
    /// The GitHub actor, or the local user.
    pub actor: String,
    /// The workflow run's URL, under Actions.
    pub run_url: Option<String>,
}

impl Job {
    /// Read from the runner's variables.
    pub fn from_env(env: &Env) -> Self {
        let actor = env
            .get("GITHUB_ACTOR")
            .or_else(|| env.get("USER"))
            .or_else(|| env.get("LOGNAME"))
            .unwrap_or("unknown")
            .to_owned();
        let run_url = match (
            env.get("GITHUB_SERVER_URL").unwrap_or("https://github.com"),
            env.get("GITHUB_REPOSITORY"),
            env.get("GITHUB_RUN_ID"),
        ) {
            (server, Some(repo), Some(run)) => Some(format!("{server}/{repo}/actions/runs/{run}")),
            _ => None,
        };
        Self { actor, run_url }
    }

    /// `… by ACTOR (run URL)`.
    pub fn suffix(&self) -> String {
        match &self.run_url {
            Some(url) => format!("by {} ({url})", self.actor),
            None => format!("by {}", self.actor),
        }
    }
}

/// The application and group inputs.
pub fn group_inputs(args: &GroupArgs, env: &Env) -> Result<(String, String)> {
    let inputs = Inputs::new(env);
    Ok((
        inputs.required("application", args.application.as_deref())?,
        inputs.required("deployment-group", args.deployment_group.as_deref())?,
    ))
}

/// The follow inputs, with the output style for `env`.
pub fn follow_options(args: &FollowArgs, env: &Env) -> Result<(follow::Options, bool)> {
    let inputs = Inputs::new(env);
    let seconds = |name: &str, flag: Option<&str>| {
        inputs.parsed(name, flag, |v| {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("`{v}` is not a positive number of seconds"))
        })
    };
    let actions = env.is_actions();
    let style = if !actions && std::io::stdout().is_terminal() {
        Style::Table
    } else {
        Style::Lines
    };
    Ok((
        follow::Options {
            interval: seconds("poll-interval", args.poll_interval.as_deref())?
                .unwrap_or(follow::DEFAULT_INTERVAL),
            timeout: seconds("timeout", args.timeout.as_deref())?,
            style,
            actions,
        },
        inputs.bool("no-wait", args.no_wait.as_deref(), false)?,
    ))
}

/// Sets step outputs under Actions.
pub fn set_outputs(env: &Env, entries: &[(&str, &str)]) -> Result<()> {
    if !env.is_actions() {
        return Ok(());
    }
    let Some(path) = env.get("GITHUB_OUTPUT") else {
        return Ok(());
    };
    FileCommand::new(path).append(entries)?;
    Ok(())
}

/// Reports the end of a followed deployment: outputs and summary.
pub fn finish(env: &Env, facts: &summary::Facts, outcome: &Outcome) -> Result<()> {
    let rolled_back_to = outcome
        .rollback
        .as_ref()
        .map(|r| r.id.clone())
        .unwrap_or_default();
    set_outputs(
        env,
        &[
            ("status", outcome.deployment.status.as_str()),
            ("rolled-back-to", rolled_back_to.as_str()),
        ],
    )?;
    crate::github::summary::append(env, &summary::markdown(facts, outcome))?;
    Ok(())
}

/// Runs `slipway deploy`. Returns whether the deployment succeeded (or
/// was created, with no-wait).
pub async fn run(
    args: &DeployArgs,
    env: &Env,
    http: reqwest::Client,
    out: &mut dyn Write,
) -> Result<bool> {
    let inputs = Inputs::new(env);
    let actions = env.is_actions();
    let (application, group) = group_inputs(&args.group, env)?;
    let bucket = inputs.required("s3-bucket", args.s3_bucket.as_deref())?;
    let prefix = inputs
        .get("s3-prefix", args.s3_prefix.as_deref())
        .unwrap_or_else(|| "slipway".into())
        .trim_matches('/')
        .to_owned();
    let kms_key = inputs.get("kms-key-id", args.kms_key_id.as_deref());
    let encryption = inputs
        .parsed(
            "server-side-encryption",
            args.server_side_encryption.as_deref(),
            |v| match v {
                "aws:kms" => Ok(Encryption::Kms(kms_key.clone())),
                "AES256" => Ok(Encryption::S3),
                _ => Err(format!("`{v}` is not aws:kms or AES256")),
            },
        )?
        .unwrap_or(Encryption::Kms(kms_key.clone()));
    let file_exists = inputs.parsed(
        "file-exists-behavior",
        args.file_exists_behavior.as_deref(),
        |v| match v.to_ascii_uppercase().as_str() {
            "DISALLOW" => Ok(FileExistsBehavior::Disallow),
            "OVERWRITE" => Ok(FileExistsBehavior::Overwrite),
            "RETAIN" => Ok(FileExistsBehavior::Retain),
            _ => Err(format!("`{v}` is not DISALLOW, OVERWRITE or RETAIN")),
        },
    )?;
    let auto_rollback = match inputs.get("auto-rollback", args.auto_rollback.as_deref()) {
        Some(v) => Some(crate::github::inputs::parse_bool("auto-rollback", &v)?),
        None => None,
    };
    let ignore_stop = inputs.bool(
        "ignore-application-stop-failures",
        args.ignore_application_stop_failures.as_deref(),
        false,
    )?;
    let if_active = inputs
        .parsed("if-active", args.if_active.as_deref(), |v| {
            v.parse::<IfActive>()
        })?
        .unwrap_or_default();
    let allow_older = inputs.bool("allow-older", args.allow_older.as_deref(), false)?;
    let config = inputs.get("deployment-config", args.deployment_config.as_deref());
    let (follow_options, no_wait) = follow_options(&args.follow, env)?;
    let job = Job::from_env(env);

    // The bundle and its appspec first: no call is made for a bad commit.
    let options = bundle::options_from(&args.bundle, env)?;
    let scratch = tempfile::tempdir().map_err(|source| DeployError::WriteBundle { source })?;
    let out_dir = args.bundle.output_dir.as_deref().unwrap_or(scratch.path());
    let built = bundle::build(&options, out_dir)?;
    bundle::require_valid_appspec(&built, Path::new(""), actions, out)?;
    bundle::describe(&built, out)?;

    let clients = crate::aws::clients(&args.credentials, env, http).await?;
    let Clients {
        s3, codedeploy: cd, ..
    } = &clients;
    create::check_group(cd, &application, &group).await?;
    upload::check_bucket(s3, &bucket, &clients.region).await?;

    concurrency::settle(
        cd,
        &application,
        &group,
        if_active,
        follow_options.interval,
        out,
    )
    .await?;
    if !allow_older && let Some(last) = ordering::successes(cd, &application, &group).await?.first()
    {
        let repo = git2::Repository::discover(&options.repo).map_err(|source| {
            DeployError::OpenRepository {
                path: options.repo.clone(),
                source,
            }
        })?;
        ordering::check(&repo, &built.commit, last, &group)?;
    }

    let mut metadata = vec![
        ("commit".to_owned(), built.commit.clone()),
        ("actor".to_owned(), job.actor.clone()),
    ];
    if let Some(url) = &job.run_url {
        metadata.push(("run-url".to_owned(), url.clone()));
    }
    let destination = Destination {
        bucket,
        prefix,
        application: application.clone(),
        encryption,
        metadata,
    };
    let uploaded = upload::upload(s3, &built, &destination, follow_options.style, out).await?;
    writeln!(
        out,
        "{} {} (ETag {})",
        if uploaded.reused {
            "already in S3:"
        } else {
            "uploaded"
        },
        uploaded.uri(),
        uploaded.etag
    )
    .map_err(DeployError::Output)?;

    let request = create::Request {
        application,
        group,
        revision: create::s3_revision(&uploaded, built.format),
        description: format!("slipway: commit {} {}", built.commit, job.suffix()),
        config,
        file_exists,
        auto_rollback,
        ignore_application_stop_failures: ignore_stop,
    };
    let id = create::create(cd, &request).await?;
    writeln!(
        out,
        "created {id}: {}",
        summary::console_url(&clients.region, &id)
    )
    .map_err(DeployError::Output)?;
    let uri = uploaded.uri();
    set_outputs(
        env,
        &[
            ("deployment-id", id.as_str()),
            ("s3-uri", uri.as_str()),
            ("etag", uploaded.etag.as_str()),
            ("version-id", uploaded.version_id.as_deref().unwrap_or("")),
        ],
    )?;
    if no_wait {
        return Ok(true);
    }
    let outcome = follow::follow(cd, &id, &follow_options, out).await?;
    let facts = summary::Facts {
        title: "slipway deploy".into(),
        region: clients.region.clone(),
        commit: Some(built.commit.clone()),
        revision: Some(uri),
        note: None,
    };
    finish(env, &facts, &outcome)?;
    Ok(outcome.succeeded())
}
