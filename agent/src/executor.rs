//! The executor: one lifecycle event of one deployment, run against the
//! deployment root. Everything the agent does on a host goes through
//! [`Executor::run_event`]; `slipway-agent local` calls it once per event,
//! and the daemon's poller calls it once per host command.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use slipway_shared::appspec::{self, AppSpec, Os};
use slipway_shared::diagnostics::{Diagnostics, ErrorCode};
use slipway_shared::lifecycle::LifecycleEvent;
use slipway_shared::problem::Severity;

use crate::bundle::{extract, fetch};
use crate::clock::Clock;
use crate::config::Config;
use crate::hooks::{self, EventScripts, ScriptsLog};
use crate::spec::DeploymentSpec;
use crate::state::deployments_log::DeploymentsLog;
use crate::state::layout::DeploymentDir;
use crate::state::pointers::{self, Pointer};
use crate::state::{Layout, revisions};
use crate::{Error, Result, install};

/// The outside world the executor works in, passed in so that tests and the
/// daemon drive the same code.
#[derive(Debug, Clone)]
pub struct Host {
    /// The agent's configuration (deployment root, limits, max_revisions).
    pub config: Config,
    /// The S3 client for S3 revisions.
    pub s3: Option<aws_sdk_s3::Client>,
    /// The time of day, for logs.
    pub clock: Arc<dyn Clock>,
    /// The environment scripts inherit, before the official variables.
    pub env: Vec<(OsString, OsString)>,
}

/// Runs lifecycle events of deployments on this host.
#[derive(Debug, Clone)]
pub struct Executor {
    host: Host,
    layout: Layout,
}

impl Executor {
    /// An executor over the deployment root of `host.config`.
    pub fn new(host: Host) -> Executor {
        let layout = Layout::new(&host.config.root_dir);
        Executor { host, layout }
    }

    /// The deployment root.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Runs `event` of the deployment `spec` on this host and says how it
    /// went, as the diagnostics CodeDeploy is sent.
    ///
    /// This is the stable entry point: `slipway-agent local` calls it for
    /// each event it runs, and the daemon's poller (part 2) calls it for
    /// each host command, mapping the command name to `event`.
    pub async fn run_event(&self, spec: &DeploymentSpec, event: LifecycleEvent) -> Diagnostics {
        match self.try_run_event(spec, event).await {
            Ok(()) => Diagnostics::succeeded(),
            Err(error) => diagnostics_for(&error),
        }
    }

    /// [`Executor::run_event`], with the error itself.
    pub async fn try_run_event(&self, spec: &DeploymentSpec, event: LifecycleEvent) -> Result<()> {
        let deployment_dir = self
            .layout
            .deployment_dir(&spec.deployment_group_id, &spec.deployment_id);
        let logs = deployment_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(Error::io("create", &logs))?;
        match event {
            LifecycleEvent::DownloadBundle => self.download_bundle(spec, &deployment_dir).await,
            LifecycleEvent::Install => self.install(spec, &deployment_dir).await,
            hook_event => self.run_hooks(spec, hook_event, &deployment_dir).await,
        }
    }

    /// The scripts `event` would run, read from the revision the event runs
    /// from, without running anything: `None` for DownloadBundle and Install
    /// (never no-ops), an empty list for an event with nothing to run. The
    /// official agent asks this before the acknowledgement
    /// (`is_command_noop?`) and sends the answer as `IsCommandNoop`.
    pub fn planned_scripts(
        &self,
        spec: &DeploymentSpec,
        event: LifecycleEvent,
    ) -> Result<Option<Vec<appspec::Hook>>> {
        if matches!(
            event,
            LifecycleEvent::DownloadBundle | LifecycleEvent::Install
        ) {
            return Ok(None);
        }
        let deployment_dir = self
            .layout
            .deployment_dir(&spec.deployment_group_id, &spec.deployment_id);
        let Some(revision_dir) = self.hook_revision(spec, event, &deployment_dir)? else {
            return Ok(Some(Vec::new()));
        };
        let appspec = read_appspec(&revision_dir.archive(), &spec.appspec_filename)?;
        Ok(Some(appspec.hooks_for(event).to_vec()))
    }

    async fn download_bundle(&self, spec: &DeploymentSpec, deployment_dir: &Path) -> Result<()> {
        let group = &spec.deployment_group_id;
        let last = pointers::read(&self.layout, group, Pointer::LastSuccessful)?;
        let removed = revisions::clean_up(
            &self.layout.group_dir(group),
            deployment_dir,
            last.as_deref(),
            self.host.config.max_revisions,
        )?;
        for dir in removed {
            tracing::info!(dir = %dir.display(), "removed an old revision (max_revisions)");
        }
        let archive = deployment_dir.archive();
        if archive.exists() {
            std::fs::remove_dir_all(&archive).map_err(Error::io("remove", &archive))?;
        }
        let fetched = fetch::fetch(
            &spec.revision,
            &deployment_dir.bundle(),
            self.host.s3.as_ref(),
        )
        .await?;
        let limits = self.host.config.limits;
        let target = archive.clone();
        // Lines logged on the blocking thread keep the deployment's span.
        let span = tracing::Span::current();
        let extracted = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            extract::extract(&fetched.path, fetched.bundle_type, &target, limits)?;
            extract::lift_lone_directory(&target)
        })
        .await
        .map_err(|e| Error::Deployment(format!("extraction stopped: {e}")))?;
        if let Err(error) = extracted {
            // A refused or oversized archive leaves nothing half-unpacked.
            let _ = std::fs::remove_dir_all(&archive);
            return Err(error);
        }
        pointers::write(&self.layout, group, Pointer::MostRecent, deployment_dir)
    }

    async fn install(&self, spec: &DeploymentSpec, deployment_dir: &Path) -> Result<()> {
        let archive = deployment_dir.archive();
        if !archive.is_dir() {
            return Err(Error::Deployment(format!(
                "Install needs the unpacked revision at {}; run DownloadBundle first",
                archive.display()
            )));
        }
        // Install, unlike the hook steps, falls back to the other names.
        let name = std::iter::once(spec.appspec_filename.as_str())
            .chain(appspec::APPSPEC_NAMES)
            .find(|n| archive.join(n).is_file())
            .unwrap_or(&spec.appspec_filename)
            .to_owned();
        let parsed = read_appspec(&archive, &name)?;
        if let Some(allowed) = &spec.all_possible_events
            && let Some(h) = parsed
                .hooks
                .iter()
                .find(|h| !allowed.iter().any(|a| a == h.event.name()))
        {
            return Err(Error::AppSpec {
                path: archive.join(&name),
                reason: format!(
                    "line {}: {} is not a lifecycle event of this deployment",
                    h.pos.line, h.event
                ),
            });
        }
        let layout = self.layout.clone();
        let group = spec.deployment_group_id.clone();
        let behavior = spec.file_exists_behavior;
        let archive_dir = archive.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            install::install(&layout, &group, &archive_dir, &parsed, behavior)
        })
        .await
        .map_err(|e| Error::Deployment(format!("install stopped: {e}")))??;
        pointers::write(
            &self.layout,
            &spec.deployment_group_id,
            Pointer::LastSuccessful,
            deployment_dir,
        )
    }

    async fn run_hooks(
        &self,
        spec: &DeploymentSpec,
        event: LifecycleEvent,
        deployment_dir: &Path,
    ) -> Result<()> {
        let Some(revision_dir) = self.hook_revision(spec, event, deployment_dir)? else {
            tracing::info!(%event, "no previous revision: nothing to run");
            return Ok(());
        };
        let archive = revision_dir.archive();
        let appspec = read_appspec(&archive, &spec.appspec_filename)?;
        let scripts = appspec.hooks_for(event);
        if scripts.is_empty() {
            return Ok(());
        }
        let deployments_log = DeploymentsLog::open(
            &self.layout.deployments_log(),
            self.host.config.enable_deployments_log,
        )?;
        // Output always goes to the current deployment's log, whichever
        // revision the scripts come from.
        let mut log = ScriptsLog::open(
            &deployment_dir.scripts_log(),
            &spec.deployment_id,
            deployments_log,
            self.host.clock.clone(),
        )?;
        let env = self.script_env(spec, event);
        hooks::run_event(
            &EventScripts {
                event,
                archive_dir: &archive,
                hooks: scripts,
                env: &env,
            },
            &mut log,
        )
        .await
    }

    /// The deployment directory whose revision supplies `event`'s scripts,
    /// or `None` when there is none (the event is then a no-op).
    fn hook_revision(
        &self,
        spec: &DeploymentSpec,
        event: LifecycleEvent,
        current: &Path,
    ) -> Result<Option<PathBuf>> {
        let group = &spec.deployment_group_id;
        let block = matches!(
            event,
            LifecycleEvent::BeforeBlockTraffic | LifecycleEvent::AfterBlockTraffic
        );
        let allow = matches!(
            event,
            LifecycleEvent::BeforeAllowTraffic | LifecycleEvent::AfterAllowTraffic
        );
        let pointer = if spec.is_blue_green_rollback() && block {
            Some(Pointer::MostRecent)
        } else if event.uses_previous_revision() || (spec.is_blue_green_rollback() && allow) {
            Some(Pointer::LastSuccessful)
        } else {
            None
        };
        match pointer {
            Some(which) => pointers::read(&self.layout, group, which),
            None => {
                if !current.archive().is_dir() {
                    return Err(Error::Deployment(format!(
                        "{event} needs the unpacked revision at {}; run DownloadBundle first",
                        current.archive().display()
                    )));
                }
                Ok(Some(current.to_owned()))
            }
        }
    }

    fn script_env(
        &self,
        spec: &DeploymentSpec,
        event: LifecycleEvent,
    ) -> Vec<(OsString, OsString)> {
        let official = [
            ("LIFECYCLE_EVENT", event.name().to_owned()),
            ("DEPLOYMENT_ID", spec.deployment_id.clone()),
            ("APPLICATION_NAME", spec.application_name.clone()),
            ("DEPLOYMENT_GROUP_NAME", spec.deployment_group_name.clone()),
            ("DEPLOYMENT_GROUP_ID", spec.deployment_group_id.clone()),
        ];
        let extra: Vec<(&str, Option<String>)> = official
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .chain(spec.bundle_env())
            .collect();
        let mut env: Vec<(OsString, OsString)> = self
            .host
            .env
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| k == e))
            .cloned()
            .collect();
        env.extend(
            extra
                .into_iter()
                .filter_map(|(k, v)| Some((OsString::from(k), OsString::from(v?)))),
        );
        env
    }
}

/// The diagnostics CodeDeploy is sent for `error`.
pub fn diagnostics_for(error: &Error) -> Diagnostics {
    match error {
        Error::Hook {
            code,
            script,
            message,
            log,
        } => Diagnostics {
            error_code: *code,
            script_name: script.clone(),
            message: message.clone(),
            log: log.clone(),
        },
        other => Diagnostics {
            error_code: ErrorCode::UnknownError,
            script_name: String::new(),
            message: chain(other),
            log: String::new(),
        },
    }
}

/// An error and its causes on one line.
pub use slipway_shared::error_chain as chain;

/// Reads and checks the appspec `name` of the revision at `archive`; the
/// first error is reported with its line, as `slipway appspec check` does.
fn read_appspec(archive: &Path, name: &str) -> Result<AppSpec> {
    let path = archive.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::AppSpec {
        path: path.clone(),
        reason: format!("the revision has no readable {name} ({e})"),
    })?;
    let parsed = appspec::parse(Path::new(name), &text);
    if let Some(problem) = parsed
        .problems
        .iter()
        .find(|p| p.severity == Severity::Error)
    {
        return Err(Error::AppSpec {
            path,
            reason: problem.to_string(),
        });
    }
    let spec = parsed.appspec.ok_or_else(|| Error::AppSpec {
        path: path.clone(),
        reason: "not an appspec".into(),
    })?;
    if spec.os != Os::Linux {
        return Err(Error::AppSpec {
            path,
            reason: "os is not linux".into(),
        });
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::spec::Revision;
    use LifecycleEvent::*;

    fn spec(creator: &str, blue_green: bool) -> DeploymentSpec {
        DeploymentSpec {
            deployment_id: "d-NEW".into(),
            deployment_group_id: "g".into(),
            deployment_group_name: "web".into(),
            application_name: "app".into(),
            creator: creator.into(),
            blue_green,
            appspec_filename: "appspec.yml".into(),
            file_exists_behavior: appspec::FileExistsBehavior::Disallow,
            revision: Revision::LocalDirectory {
                path: "/nonexistent".into(),
            },
            all_possible_events: None,
        }
    }

    #[test]
    fn hooks_run_from_the_official_revision_for_each_event() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            root_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let executor = Executor::new(Host {
            config,
            s3: None,
            clock: Arc::new(SystemClock),
            env: Vec::new(),
        });
        let layout = executor.layout().clone();
        let (last, recent, current) = (
            layout.deployment_dir("g", "d-LAST"),
            layout.deployment_dir("g", "d-RECENT"),
            layout.deployment_dir("g", "d-NEW"),
        );
        std::fs::create_dir_all(current.archive()).unwrap();
        pointers::write(&layout, "g", Pointer::LastSuccessful, &last).unwrap();
        pointers::write(&layout, "g", Pointer::MostRecent, &recent).unwrap();
        let pick = |s: &DeploymentSpec, e| executor.hook_revision(s, e, &current).unwrap().unwrap();

        let in_place = spec("user", false);
        assert_eq!(pick(&in_place, ApplicationStop), last);
        assert_eq!(pick(&in_place, BeforeBlockTraffic), last);
        assert_eq!(pick(&in_place, BeforeInstall), current);
        assert_eq!(pick(&in_place, AfterAllowTraffic), current);

        let rollback = spec("codeDeployRollback", true);
        assert_eq!(pick(&rollback, BeforeBlockTraffic), recent);
        assert_eq!(pick(&rollback, AfterAllowTraffic), last);
        assert_eq!(pick(&rollback, ApplicationStop), last);
    }

    /// As the official agent (seen in a hook's `env` under v1.8.1): an S3
    /// revision without a version or ETag leaves those variables unset, not
    /// empty, even when the agent's own environment has them.
    #[test]
    fn a_revision_without_version_or_etag_leaves_them_unset() {
        let executor = Executor::new(Host {
            config: Config::default(),
            s3: None,
            clock: Arc::new(SystemClock),
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("BUNDLE_ETAG".into(), "stale".into()),
            ],
        });
        let mut s3 = spec("user", false);
        s3.revision = Revision::S3 {
            bucket: "releases".into(),
            key: "app.tgz".into(),
            bundle_type: slipway_shared::bundle::BundleType::Tgz,
            version: None,
            etag: None,
        };
        let env = executor.script_env(&s3, AfterInstall);
        let get = |name: &str| {
            env.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(get("BUNDLE_KEY").as_deref(), Some("app.tgz"));
        assert_eq!(get("LIFECYCLE_EVENT").as_deref(), Some("AfterInstall"));
        assert_eq!(get("PATH").as_deref(), Some("/usr/bin:/bin"));
        assert_eq!(get("BUNDLE_VERSION"), None);
        assert_eq!(get("BUNDLE_ETAG"), None);
    }
}
