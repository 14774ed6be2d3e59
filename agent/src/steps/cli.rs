//! `slipway-agent step NAME …` and `slipway-agent rollback`: the arguments
//! hook scripts pass and the order each step does things in.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::error::Result;
use super::gunicorn::{self, Health};
use super::nginx::Nginx;
use super::program_config::ProgramConfig;
use super::releases::Releases;
use super::supervisor::Supervisor;
use super::{celery, django, release_copy, secrets};

/// Where supervisord listens.
#[derive(Debug, Clone, clap::Args)]
pub struct SupervisorArgs {
    /// supervisord's unix socket (its `[unix_http_server] file=`).
    #[arg(
        long,
        env = "SLIPWAY_SUPERVISOR_SOCKET",
        default_value = "/var/run/supervisor.sock"
    )]
    pub socket: PathBuf,
}

/// A gunicorn program and the release layout it runs from.
#[derive(Debug, Clone, clap::Args)]
pub struct GunicornArgs {
    /// Where supervisord listens.
    #[command(flatten)]
    pub supervisor: SupervisorArgs,
    /// The Supervisor program name.
    #[arg(long, default_value = "gunicorn")]
    pub program: String,
    /// The file holding its `[program:NAME]` section.
    #[arg(long)]
    pub program_config: PathBuf,
    /// The app root holding `releases/` and `current`.
    #[arg(long, env = "SLIPWAY_APP_ROOT")]
    pub app_root: PathBuf,
    /// The release id (default: the deployment id).
    #[arg(long, env = "DEPLOYMENT_ID")]
    pub release: String,
    /// The WSGI app, as gunicorn takes it.
    #[arg(long, default_value = "config.wsgi:application")]
    pub app: String,
    /// The gunicorn binary used for `--check-config` (its venv's python runs manage.py).
    #[arg(long, default_value = "gunicorn")]
    pub gunicorn: PathBuf,
}

/// How to know the new release serves.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// A URL (through nginx) whose body contains the release id.
    #[arg(long)]
    pub health_url: Option<String>,
    /// Seconds to wait for it.
    #[arg(long, default_value_t = 60)]
    pub health_timeout: u64,
}

/// A Celery worker program.
#[derive(Debug, Clone, clap::Args)]
pub struct CeleryArgs {
    /// Where supervisord listens.
    #[command(flatten)]
    pub supervisor: SupervisorArgs,
    /// The Supervisor program name.
    #[arg(long, default_value = "celery")]
    pub program: String,
    /// The file holding its `[program:NAME]` section.
    #[arg(long)]
    pub program_config: PathBuf,
    /// The longest task's time limit in seconds, checked against stopwaitsecs.
    #[arg(long)]
    pub task_time_limit: Option<u64>,
}

/// One nginx.
#[derive(Debug, Clone, clap::Args)]
pub struct NginxArgs {
    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    pub nginx: PathBuf,
    /// Its pid file.
    #[arg(long, default_value = "/run/nginx.pid")]
    pub pid_file: PathBuf,
    /// An argument nginx was started with (`-p`, `-c`, `-e` …); repeat it.
    #[arg(long = "nginx-arg", allow_hyphen_values = true)]
    pub nginx_args: Vec<String>,
    /// Seconds to wait for the workers to be replaced.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// A Django release.
#[derive(Debug, Clone, clap::Args)]
pub struct DjangoArgs {
    /// The app root holding `releases/`.
    #[arg(long, env = "SLIPWAY_APP_ROOT")]
    pub app_root: PathBuf,
    /// The release id (default: the deployment id).
    #[arg(long, env = "DEPLOYMENT_ID")]
    pub release: String,
    /// The python with Django and the app's dependencies (the venv's).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
}

/// The built-in steps.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Step {
    /// Apply changed Supervisor program configs, as `supervisorctl update` does.
    SupervisorUpdate(SupervisorArgs),
    /// Refuse an unsafe gunicorn program config; preflight the release (AfterInstall).
    GunicornCheck(GunicornArgs),
    /// Check, switch `current` to the release, HUP gunicorn, wait for the health URL (ApplicationStart).
    GunicornReload {
        /// The program and release.
        #[command(flatten)]
        gunicorn: GunicornArgs,
        /// The health check.
        #[command(flatten)]
        health: HealthArgs,
        /// Releases to keep.
        #[arg(long, default_value_t = 5)]
        keep: usize,
    },
    /// Refuse stopasgroup; warn when stopwaitsecs is below the task time limit.
    CeleryCheck(CeleryArgs),
    /// Warm-stop the worker (tasks finish) and start it on the current release.
    CeleryRestart(CeleryArgs),
    /// `nginx -t`, reload by HUP, confirm the workers were replaced. Never a restart.
    NginxReload(NginxArgs),
    /// Copy the installed files (the appspec's `files` destination) to `releases/<id>`, whole or not at all.
    ReleaseCopy {
        /// The installed files.
        #[arg(long)]
        from: PathBuf,
        /// The app root holding `releases/`.
        #[arg(long, env = "SLIPWAY_APP_ROOT")]
        app_root: PathBuf,
        /// The release id (default: the deployment id).
        #[arg(long, env = "DEPLOYMENT_ID")]
        release: String,
    },
    /// `manage.py migrate` under the database's advisory lock: one host applies, the rest find nothing to do.
    Migrate {
        /// The release.
        #[command(flatten)]
        django: DjangoArgs,
        /// The Django database alias.
        #[arg(long, default_value = "default")]
        database: String,
        /// Seconds to wait for another host's migration to finish.
        #[arg(long, default_value_t = 600)]
        lock_timeout: u64,
    },
    /// `manage.py collectstatic --noinput` in the release.
    Collectstatic(DjangoArgs),
    /// Render SSM parameters under a path to a 0600 env file (values never logged).
    Secrets {
        /// The parameter path, e.g. /myapp/prod.
        #[arg(long)]
        path: String,
        /// The env file to write.
        #[arg(long)]
        env_file: PathBuf,
        /// The app user to own it: a user name (with its primary group) or uid:gid.
        #[arg(long, value_parser = parse_owner)]
        owner: Option<(u32, u32)>,
    },
}

fn parse_owner(text: &str) -> std::result::Result<(u32, u32), String> {
    let Some((uid, gid)) = text.split_once(':') else {
        return match crate::hooks::runas::User::lookup(text) {
            Ok(Some(user)) => Ok((user.uid, user.gid)),
            Ok(None) => Err(format!("no user named {text:?} (or give uid:gid)")),
            Err(e) => Err(format!("cannot look up user {text:?}: {e}")),
        };
    };
    Ok((
        uid.parse().map_err(|_| format!("bad uid {uid:?}"))?,
        gid.parse().map_err(|_| format!("bad gid {gid:?}"))?,
    ))
}

/// `slipway-agent rollback`.
#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// Where supervisord listens.
    #[command(flatten)]
    pub supervisor: SupervisorArgs,
    /// The app root holding `releases/` and `current`.
    #[arg(long, env = "SLIPWAY_APP_ROOT")]
    pub app_root: PathBuf,
    /// The gunicorn program to reload.
    #[arg(long, default_value = "gunicorn")]
    pub program: String,
    /// Celery programs to restart on the previous release; repeat it.
    #[arg(long)]
    pub celery: Vec<String>,
    /// The health check.
    #[command(flatten)]
    pub health: HealthArgs,
}

fn health(args: &HealthArgs, release: &str) -> Option<Health> {
    args.health_url.as_ref().map(|url| Health {
        url: url.clone(),
        release: release.into(),
        deadline: Duration::from_secs(args.health_timeout),
    })
}

fn check_gunicorn(args: &GunicornArgs, out: &mut dyn Write) -> Result<Releases> {
    let releases = Releases::new(&args.app_root);
    let config = ProgramConfig::read(&args.program_config, &args.program)?;
    gunicorn::check_program(&config, &releases.current_link())?;
    gunicorn::preflight(&args.gunicorn, &releases.dir(&args.release), &args.app)?;
    let _ = writeln!(
        out,
        "gunicorn: {} and release {} passed the preflight",
        args.program, args.release
    );
    Ok(releases)
}

/// Runs one step, reporting what it did on `out`.
pub async fn run_step(step: &Step, out: &mut dyn Write) -> Result<()> {
    match step {
        Step::SupervisorUpdate(args) => {
            let changes = Supervisor::new(&args.socket).update().await?;
            let _ = writeln!(
                out,
                "supervisor: added {:?}, changed {:?}, removed {:?}",
                changes.added, changes.changed, changes.removed
            );
        }
        Step::GunicornCheck(args) => {
            check_gunicorn(args, out)?;
        }
        Step::GunicornReload {
            gunicorn: args,
            health: health_args,
            keep,
        } => {
            let releases = check_gunicorn(args, out)?;
            releases.switch_to(&args.release)?;
            let supervisor = Supervisor::new(&args.supervisor.socket);
            let health = health(health_args, &args.release);
            gunicorn::reload(&supervisor, &args.program, health.as_ref()).await?;
            let _ = writeln!(
                out,
                "gunicorn: {} serves release {}",
                args.program, args.release
            );
            let removed = releases.prune(*keep)?;
            if !removed.is_empty() {
                let _ = writeln!(out, "releases: removed {removed:?}");
            }
        }
        Step::CeleryCheck(args) => {
            celery_check(args, out)?;
        }
        Step::CeleryRestart(args) => {
            celery_check(args, out)?;
            celery::restart(&Supervisor::new(&args.supervisor.socket), &args.program).await?;
            let _ = writeln!(out, "celery: {} warm-stopped and started", args.program);
        }
        Step::NginxReload(args) => {
            let nginx = Nginx {
                binary: args.nginx.clone(),
                args: args.nginx_args.clone(),
                pid_file: args.pid_file.clone(),
            };
            nginx.reload(Duration::from_secs(args.timeout)).await?;
            let _ = writeln!(out, "nginx: config tested and reloaded");
        }
        Step::ReleaseCopy {
            from,
            app_root,
            release,
        } => {
            release_copy::copy_release(app_root, release, from)?;
            let _ = writeln!(
                out,
                "release-copy: {} -> releases/{release}",
                from.display()
            );
        }
        Step::Migrate {
            django: args,
            database,
            lock_timeout,
        } => {
            let manage = django::Manage::new(&args.app_root, &args.release, &args.python)?;
            let lock_timeout = Duration::from_secs(*lock_timeout);
            let migrated = django::migrate(&manage, database, lock_timeout, out).await?;
            let _ = match migrated.applied.as_slice() {
                [] => writeln!(out, "migrate: release {}: nothing to apply", args.release),
                applied => writeln!(
                    out,
                    "migrate: release {} applied {} migration(s): {}",
                    args.release,
                    applied.len(),
                    applied.join(", ")
                ),
            };
        }
        Step::Collectstatic(args) => {
            let manage = django::Manage::new(&args.app_root, &args.release, &args.python)?;
            let summary = django::collectstatic(&manage, out).await?;
            let _ = writeln!(out, "collectstatic: release {}: {summary}", args.release);
        }
        Step::Secrets {
            path,
            env_file,
            owner,
        } => {
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let client = aws_sdk_ssm::Client::new(&config);
            let fetched = secrets::fetch(&client, path).await?;
            secrets::render(env_file, &fetched, *owner)?;
            let names: Vec<&str> = fetched.iter().map(|s| s.name.as_str()).collect();
            let _ = writeln!(
                out,
                "secrets: wrote {} ({})",
                env_file.display(),
                names.join(", ")
            );
        }
    }
    Ok(())
}

fn celery_check(args: &CeleryArgs, out: &mut dyn Write) -> Result<()> {
    let config = ProgramConfig::read(&args.program_config, &args.program)?;
    if let Some(warning) = celery::check_program(&config, args.task_time_limit)? {
        tracing::warn!("{warning}");
        let _ = writeln!(out, "warning: {warning}");
    }
    Ok(())
}

/// Switches `current` back to the previous release, reloads gunicorn (or
/// starts it, if a bad release left it FATAL) and restarts the workers.
pub async fn rollback(args: &RollbackArgs, out: &mut dyn Write) -> Result<()> {
    let releases = Releases::new(&args.app_root);
    let from = releases.current()?.unwrap_or_default();
    let to = releases.roll_back()?;
    let _ = writeln!(out, "rollback: current {from} -> {to}");
    let supervisor = Supervisor::new(&args.supervisor.socket);
    let health = health(&args.health, &to);
    gunicorn::reload(&supervisor, &args.program, health.as_ref()).await?;
    let _ = writeln!(out, "rollback: {} reloaded", args.program);
    for worker in &args.celery {
        celery::restart(&supervisor, worker).await?;
        let _ = writeln!(out, "rollback: {worker} restarted");
    }
    Ok(())
}
