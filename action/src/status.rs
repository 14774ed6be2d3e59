//! `slipway status`: a group's active and recent deployments.

use std::io::Write;
use std::time::SystemTime;

use serde::Serialize;

use crate::cli::StatusArgs;
use crate::deploy::error::{DeployError, Result};
use crate::deploy::{create, group_inputs, ordering};
use crate::env::Env;
use crate::github::inputs::Inputs;

/// One deployment, as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The id.
    pub id: String,
    /// Its status.
    pub status: String,
    /// The commit deployed, when known.
    pub commit: Option<String>,
    /// user, autoscaling, codeDeployRollback, …
    pub creator: String,
    /// Who started it, from the description.
    pub actor: Option<String>,
    /// RFC 3339.
    pub started: Option<String>,
    /// Seconds from creation to completion.
    pub duration_seconds: Option<f64>,
    /// The description.
    pub description: String,
}

fn rfc3339(t: SystemTime) -> Option<String> {
    let t = time::OffsetDateTime::from(t).replace_nanosecond(0).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Runs `slipway status`.
pub async fn run(
    args: &StatusArgs,
    env: &Env,
    http: reqwest::Client,
    out: &mut dyn Write,
) -> Result<()> {
    let (application, group) = group_inputs(&args.group, env)?;
    let limit = Inputs::new(env)
        .parsed("limit", args.limit.as_deref(), |v| {
            v.parse::<usize>()
                .map_err(|_| format!("`{v}` is not a count"))
        })?
        .unwrap_or(10);
    let clients = crate::aws::clients(&args.credentials, env, http).await?;
    let cd = &clients.codedeploy;
    create::check_group(cd, &application, &group).await?;
    let infos = ordering::deployments(cd, &application, &group, &[]).await?;
    let rows: Vec<Row> = infos
        .iter()
        .take(limit)
        .map(|i| {
            let description = i.description().unwrap_or_default().to_owned();
            let created = i.create_time().and_then(|t| SystemTime::try_from(*t).ok());
            let completed = i
                .complete_time()
                .and_then(|t| SystemTime::try_from(*t).ok());
            Row {
                id: i.deployment_id().unwrap_or_default().to_owned(),
                status: i
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                commit: ordering::commit_of(i.revision(), &description),
                creator: i
                    .creator()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                actor: description
                    .split(" by ")
                    .nth(1)
                    .map(|a| a.split_whitespace().next().unwrap_or_default().to_owned()),
                started: created.and_then(rfc3339),
                duration_seconds: completed
                    .zip(created)
                    .and_then(|(c, s)| c.duration_since(s).ok())
                    .map(|d| d.as_secs_f64()),
                description,
            }
        })
        .collect();
    let w = DeployError::Output;
    if args.json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| w(e.into()))?;
        writeln!(out, "{text}").map_err(w)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<12} {:<11} {:<12} {:<19} {:<14} {:<20} DURATION",
        "DEPLOYMENT", "STATUS", "COMMIT", "CREATOR", "ACTOR", "STARTED"
    )
    .map_err(w)?;
    for r in &rows {
        writeln!(
            out,
            "{:<12} {:<11} {:<12} {:<19} {:<14} {:<20} {}",
            r.id,
            r.status,
            r.commit.as_deref().map_or("-", |c| &c[..c.len().min(12)]),
            r.creator,
            r.actor.as_deref().unwrap_or("-"),
            r.started.as_deref().unwrap_or("-"),
            r.duration_seconds
                .map(|s| crate::follow::render::duration(std::time::Duration::from_secs_f64(s)))
                .unwrap_or_else(|| "-".into())
        )
        .map_err(w)?;
    }
    Ok(())
}
