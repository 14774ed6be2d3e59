//! Following a deployment to its end, host by host, and the rollback
//! CodeDeploy starts when it fails.
//!
//! # Layout
//! - [`poll`]: one look at a deployment and its targets.
//! - [`render`]: change-driven lines, or a table redrawn in place.

pub mod poll;
pub mod render;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use poll::Snapshot;
use render::{Renderer, Style};

use crate::deploy::error::{DeployError, Result};
use crate::github::commands::{self, Annotation, Level};

/// The default time between polls. GetDeployment and friends allow a few
/// calls a second per account; this leaves room for other jobs.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// How long to wait for CodeDeploy to name the rollback of a failed
/// deployment whose group rolls back on failure.
pub const ROLLBACK_GRACE: Duration = Duration::from_secs(60);

/// How to follow.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Time between polls.
    pub interval: Duration,
    /// Give up after this long (the deployment goes on).
    pub timeout: Option<Duration>,
    /// Lines or a table.
    pub style: Style,
    /// Under GitHub Actions: groups and annotations.
    pub actions: bool,
}

/// How a followed deployment ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The deployment, at its end.
    pub deployment: Snapshot,
    /// The rollback CodeDeploy started, at its end.
    pub rollback: Option<Snapshot>,
}

impl Outcome {
    /// Whether the deployment succeeded.
    pub fn succeeded(&self) -> bool {
        self.deployment.status == "Succeeded"
    }
}

/// Polls with `poll` until the deployment ends or `timeout` passes,
/// printing each change. Time is tokio's, so tests can pause it.
pub async fn watch<F, Fut>(
    id: &str,
    mut poll: F,
    options: &Options,
    out: &mut dyn Write,
) -> Result<Snapshot>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Snapshot>>,
{
    let deadline = options.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut renderer = Renderer::default();
    loop {
        let snap = poll().await?;
        renderer.update(&snap, options.style, out)?;
        if snap.is_done() {
            return Ok(snap);
        }
        if let Some(deadline) = deadline
            && tokio::time::Instant::now() + options.interval >= deadline
        {
            return Err(DeployError::Timeout {
                deployment: id.to_owned(),
                status: snap.status,
                seconds: options.timeout.unwrap_or_default().as_secs(),
            });
        }
        tokio::time::sleep(options.interval).await;
    }
}

/// Follows deployment `id` and, if it fails and CodeDeploy rolls it back,
/// the rollback; reports failed events with their log tails.
pub async fn follow(
    cd: &aws_sdk_codedeploy::Client,
    id: &str,
    options: &Options,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let deployment = watch_grouped(cd, id, &format!("Deployment {id}"), options, out).await?;
    report_failures(&deployment, options.actions, out)?;
    let mut rollback_id = deployment.rollback_id.clone();
    if rollback_id.is_none() && deployment.status == "Failed" && deployment.auto_rollback_on_failure
    {
        // CodeDeploy names the rollback shortly after the failure.
        let until = tokio::time::Instant::now() + ROLLBACK_GRACE;
        while rollback_id.is_none() && tokio::time::Instant::now() < until {
            tokio::time::sleep(options.interval.min(Duration::from_secs(2))).await;
            rollback_id = poll::snapshot(cd, id).await?.rollback_id;
        }
    }
    let rollback = match rollback_id {
        Some(rb) => {
            writeln!(out, "CodeDeploy is rolling {id} back with {rb}")
                .map_err(DeployError::Output)?;
            let snap = watch_grouped(cd, &rb, &format!("Rollback {rb}"), options, out).await?;
            report_failures(&snap, options.actions, out)?;
            writeln!(out, "rollback {rb}: {}", snap.status).map_err(DeployError::Output)?;
            Some(snap)
        }
        None => None,
    };
    Ok(Outcome {
        deployment,
        rollback,
    })
}

async fn watch_grouped(
    cd: &aws_sdk_codedeploy::Client,
    id: &str,
    title: &str,
    options: &Options,
    out: &mut dyn Write,
) -> Result<Snapshot> {
    if options.actions {
        writeln!(out, "{}", commands::group(title)).map_err(DeployError::Output)?;
    }
    let result = watch(id, || poll::snapshot(cd, id), options, out).await;
    if options.actions {
        writeln!(out, "{}", commands::end_group()).map_err(DeployError::Output)?;
    }
    result
}

/// Every failed event: host, event, error code, message and log tail, as
/// text and, under Actions, as an error annotation.
pub fn report_failures(snap: &Snapshot, actions: bool, out: &mut dyn Write) -> Result<()> {
    let w = |e| DeployError::Output(e);
    for host in &snap.hosts {
        for event in host.events.iter().filter(|e| e.status == "Failed") {
            let d = event.diagnostics.clone().unwrap_or_default();
            let mut message = format!("{} failed {} on {}", snap.id, event.name, host.id);
            if !d.code.is_empty() {
                message.push_str(&format!(": {}", d.code));
            }
            if !d.message.is_empty() {
                message.push_str(&format!(": {}", d.message));
            }
            writeln!(out, "{message}").map_err(w)?;
            if !d.log_tail.is_empty() {
                writeln!(
                    out,
                    "log tail of {}:",
                    if d.script.is_empty() {
                        "the script"
                    } else {
                        &d.script
                    }
                )
                .map_err(w)?;
                for line in d.log_tail.lines() {
                    writeln!(out, "  {line}").map_err(w)?;
                }
            }
            if actions {
                let title = format!("{} {}", host.id, event.name);
                let body = if d.log_tail.is_empty() {
                    message.clone()
                } else {
                    format!("{message}\n{}", d.log_tail)
                };
                let annotation = Annotation {
                    level: Level::Error,
                    file: None,
                    line: None,
                    col: None,
                    title: Some(&title),
                    message: &body,
                };
                writeln!(out, "{annotation}").map_err(w)?;
            }
        }
    }
    if let (Some(error), true) = (&snap.error, snap.status != "Succeeded") {
        writeln!(out, "{}: {error}", snap.id).map_err(w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn options(timeout: Option<Duration>) -> Options {
        Options {
            interval: DEFAULT_INTERVAL,
            timeout,
            style: Style::Lines,
            actions: false,
        }
    }

    fn snap(status: &str) -> Snapshot {
        Snapshot {
            id: "d-1".into(),
            status: status.into(),
            ..Snapshot::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_timeout_it_waits_as_long_as_the_deployment_runs() {
        let polls = AtomicUsize::new(0);
        let start = tokio::time::Instant::now();
        let end = watch(
            "d-1",
            || async {
                // Six hours of InProgress, then done.
                let n = polls.fetch_add(1, Ordering::Relaxed);
                Ok(snap(if n < 6 * 720 {
                    "InProgress"
                } else {
                    "Succeeded"
                }))
            },
            &options(None),
            &mut Vec::new(),
        )
        .await
        .unwrap();
        assert_eq!(end.status, "Succeeded");
        assert_eq!(polls.load(Ordering::Relaxed), 6 * 720 + 1);
        assert_eq!(start.elapsed(), Duration::from_secs(6 * 3600));
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_ends_the_wait_not_the_deployment() {
        let polls = AtomicUsize::new(0);
        let err = watch(
            "d-1",
            || async {
                polls.fetch_add(1, Ordering::Relaxed);
                Ok(snap("InProgress"))
            },
            &options(Some(Duration::from_secs(60))),
            &mut Vec::new(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, DeployError::Timeout { seconds: 60, .. }),
            "{err}"
        );
        // Polls at 0, 5, …, 55 s: twelve, none after the deadline.
        assert_eq!(polls.load(Ordering::Relaxed), 12);
    }
}
