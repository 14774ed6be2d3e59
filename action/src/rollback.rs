//! `slipway rollback`: a group put back on an earlier revision, chosen as
//! the previous successful one, a deployment's, or a commit's; or the
//! active deployment stopped with CodeDeploy's own rollback.

use std::io::Write;
use std::time::Duration;

use aws_sdk_codedeploy::types::RevisionLocation;

use crate::cli::RollbackArgs;
use crate::deploy::error::{DeployError, Result};
use crate::deploy::ordering::{self, Deployed, commit_of};
use crate::deploy::{Job, concurrency, create, finish, follow_options, group_inputs};
use crate::env::Env;
use crate::follow;
use crate::github::inputs::Inputs;
use crate::summary::{self, Facts};

/// Where the rollback goes.
#[derive(Debug, Clone)]
struct Target {
    revision: RevisionLocation,
    commit: Option<String>,
    from: String,
}

fn short(commit: Option<&str>) -> String {
    commit.map_or_else(
        || "an unknown commit".into(),
        |c| c[..c.len().min(12)].to_owned(),
    )
}

fn key_of(r: Option<&RevisionLocation>) -> Option<String> {
    let s3 = r?.s3_location()?;
    Some(format!(
        "s3://{}/{}",
        s3.bucket().unwrap_or_default(),
        s3.key().unwrap_or_default()
    ))
}

/// Runs `slipway rollback`; returns whether the group ended on the target.
pub async fn run(
    args: &RollbackArgs,
    env: &Env,
    http: reqwest::Client,
    out: &mut dyn Write,
) -> Result<bool> {
    let inputs = Inputs::new(env);
    let (application, group) = group_inputs(&args.group, env)?;
    let (options, no_wait) = follow_options(&args.follow, env)?;
    let to = inputs.get("to", args.to_deployment.as_deref());
    let to_commit = inputs.get("to-commit", args.to_commit.as_deref());
    let stop_current = inputs.bool("stop-current", args.stop_current.as_deref(), false)?;
    let job = Job::from_env(env);
    let w = DeployError::Output;

    let clients = crate::aws::clients(&args.credentials, env, http).await?;
    let cd = &clients.codedeploy;
    create::check_group(cd, &application, &group).await?;
    let facts = |note: String, commit: Option<String>, revision: Option<String>| Facts {
        title: "slipway rollback".into(),
        region: clients.region.clone(),
        commit,
        revision,
        note: Some(note),
    };

    if stop_current {
        let active = concurrency::active(cd, &application, &group).await?;
        let Some(id) = active.first() else {
            return Err(DeployError::NoRollbackTarget {
                reason: format!("{group} has no active deployment to stop"),
            });
        };
        let note = format!(
            "Stopping {id} on {group}; CodeDeploy rolls its hosts back ({}).",
            job.suffix()
        );
        writeln!(out, "{note}").map_err(w)?;
        concurrency::stop(cd, id, true).await?;
        let mut outcome = follow::follow(cd, id, &options, out).await?;
        if outcome.rollback.is_none() {
            outcome.rollback = follow_late_rollback(cd, id, &options, out).await?;
        }
        finish(env, &facts(note, None, None), &outcome)?;
        return Ok(outcome
            .rollback
            .as_ref()
            .is_some_and(|r| r.status == "Succeeded"));
    }

    let successes = ordering::successes(cd, &application, &group).await?;
    let current = successes.first();
    let target = match (&to, &to_commit) {
        (Some(id), _) => by_deployment(cd, id).await?,
        (None, Some(sha)) => by_commit(cd, &application, &successes, sha).await?,
        (None, None) => previous(&successes)?,
    };
    let note = format!(
        "Replacing {} (commit {}, {}) with commit {} ({}, from {}) on {group}, {}.",
        current.map_or("nothing", |c| c.deployment.as_str()),
        short(current.and_then(|c| c.commit.as_deref())),
        key_of(current.and_then(|c| c.revision.as_ref())).unwrap_or_default(),
        short(target.commit.as_deref()),
        key_of(Some(&target.revision)).unwrap_or_default(),
        target.from,
        job.suffix()
    );
    writeln!(out, "{note}").map_err(w)?;
    concurrency::settle(
        cd,
        &application,
        &group,
        concurrency::IfActive::Wait,
        options.interval,
        out,
    )
    .await?;
    let description = format!(
        "slipway rollback: commit {} (from {}) {}",
        target.commit.as_deref().unwrap_or("unknown"),
        target.from,
        job.suffix()
    );
    let request = create::Request {
        application,
        group,
        revision: target.revision.clone(),
        description,
        config: None,
        file_exists: None,
        auto_rollback: None,
        ignore_application_stop_failures: false,
    };
    let id = create::create(cd, &request).await?;
    writeln!(
        out,
        "created {id}: {}",
        summary::console_url(&clients.region, &id)
    )
    .map_err(w)?;
    crate::deploy::set_outputs(env, &[("deployment-id", id.as_str())])?;
    if no_wait {
        return Ok(true);
    }
    let outcome = follow::follow(cd, &id, &options, out).await?;
    finish(
        env,
        &facts(note, target.commit.clone(), key_of(Some(&target.revision))),
        &outcome,
    )?;
    Ok(outcome.succeeded())
}

/// A stop's rollback may be named only after the stop completes.
async fn follow_late_rollback(
    cd: &aws_sdk_codedeploy::Client,
    id: &str,
    options: &follow::Options,
    out: &mut dyn Write,
) -> Result<Option<follow::poll::Snapshot>> {
    let until = tokio::time::Instant::now() + follow::ROLLBACK_GRACE;
    while tokio::time::Instant::now() < until {
        if let Some(rb) = follow::poll::snapshot(cd, id).await?.rollback_id {
            writeln!(out, "CodeDeploy is rolling {id} back with {rb}")
                .map_err(DeployError::Output)?;
            let snap = follow::watch(&rb, || follow::poll::snapshot(cd, &rb), options, out).await?;
            follow::report_failures(&snap, options.actions, out)?;
            return Ok(Some(snap));
        }
        tokio::time::sleep(options.interval.min(Duration::from_secs(2))).await;
    }
    Ok(None)
}

/// The newest successful revision that differs from the live one.
fn previous(successes: &[Deployed]) -> Result<Target> {
    let Some(current) = successes.first() else {
        return Err(DeployError::NoRollbackTarget {
            reason: "the group has no successful deployment".into(),
        });
    };
    successes
        .iter()
        .skip(1)
        .find(|d| d.revision != current.revision)
        .map(|d| Target {
            revision: d
                .revision
                .clone()
                .unwrap_or_else(|| RevisionLocation::builder().build()),
            commit: d.commit.clone(),
            from: d.deployment.clone(),
        })
        .ok_or_else(|| DeployError::NoRollbackTarget {
            reason: format!(
                "every successful deployment of the group deployed the live revision ({})",
                current.deployment
            ),
        })
}

async fn by_deployment(cd: &aws_sdk_codedeploy::Client, id: &str) -> Result<Target> {
    let info = cd
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(DeployError::codedeploy("GetDeployment", id))?;
    let info = info.deployment_info();
    let revision =
        info.and_then(|i| i.revision())
            .cloned()
            .ok_or_else(|| DeployError::NoRollbackTarget {
                reason: format!("{id} has no revision"),
            })?;
    Ok(Target {
        commit: commit_of(
            Some(&revision),
            info.and_then(|i| i.description()).unwrap_or_default(),
        ),
        revision,
        from: id.to_owned(),
    })
}

async fn by_commit(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    successes: &[Deployed],
    sha: &str,
) -> Result<Target> {
    let sha = sha.to_ascii_lowercase();
    if sha.len() < 7 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DeployError::NoRollbackTarget {
            reason: format!("`{sha}` is not a commit id (7 to 40 hex digits)"),
        });
    }
    if let Some(d) = successes
        .iter()
        .find(|d| d.commit.as_deref().is_some_and(|c| c.starts_with(&sha)))
    {
        return Ok(Target {
            revision: d
                .revision
                .clone()
                .unwrap_or_else(|| RevisionLocation::builder().build()),
            commit: d.commit.clone(),
            from: d.deployment.clone(),
        });
    }
    // Registered but never deployed successfully to this group.
    let mut token = None;
    loop {
        let page = cd
            .list_application_revisions()
            .application_name(application)
            .set_next_token(token)
            .send()
            .await
            .map_err(DeployError::codedeploy(
                "ListApplicationRevisions",
                application,
            ))?;
        for revision in page.revisions() {
            if let Some(commit) = commit_of(Some(revision), "").filter(|c| c.starts_with(&sha)) {
                return Ok(Target {
                    revision: revision.clone(),
                    commit: Some(commit),
                    from: "its registered revision".into(),
                });
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Err(DeployError::NoRollbackTarget {
        reason: format!("no revision of {application} was built from commit {sha}"),
    })
}
