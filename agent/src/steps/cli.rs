//! `slipway-agent step NAME …` and `slipway-agent rollback`: the arguments
//! hook scripts pass and the order each step does things in.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{Result, io};
use super::gunicorn;
use super::journal::{Journal, Record};
use super::nginx::Nginx;
use super::preflight_record;
use super::program_config::ProgramConfig;
use super::recover;
use super::releases::Releases;
use super::supervisor::{Supervisor, state};
use super::switch::Switch;
use super::validate::Validate;
use super::{bluegreen, celery, django, release_copy, secrets};

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

/// `step supervisor-update`.
#[derive(Debug, Clone, clap::Args)]
pub struct SupervisorUpdateArgs {
    /// Where supervisord listens.
    #[command(flatten)]
    pub supervisor: SupervisorArgs,
    /// A program whose changed config is left for `gunicorn-reload` to
    /// apply blue/green instead of restarting it here; repeat it.
    #[arg(long)]
    pub leave_changed: Vec<String>,
}

/// How `gunicorn-reload` replaces a program whose own config changed (a
/// new venv or new gunicorn arguments, which a HUP would not apply).
#[derive(Debug, Clone, clap::Args)]
pub struct BlueGreenArgs {
    /// The address (host:port) a standby copy of the program listens on
    /// while it takes over; it must differ from the program's `--bind`.
    #[arg(long)]
    pub standby_bind: Option<String>,
    /// The nginx file whose `server HOST:PORT` line sends to the program;
    /// it is switched to the standby and back.
    #[arg(long)]
    pub nginx_upstream: Option<PathBuf>,
    /// The nginx to reload.
    #[command(flatten)]
    pub nginx: NginxArgs,
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
    /// The app root: with it, the restart is journaled and serialized with
    /// other steps on the program (see `step recover`).
    #[arg(long, env = "SLIPWAY_APP_ROOT")]
    pub app_root: Option<PathBuf>,
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

/// `step validate`: the release must answer through nginx.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// Where supervisord listens.
    #[command(flatten)]
    pub supervisor: SupervisorArgs,
    /// The app root holding `releases/` and `current`.
    #[arg(long, env = "SLIPWAY_APP_ROOT")]
    pub app_root: PathBuf,
    /// The release that must serve (default: the deployment id).
    #[arg(long, env = "DEPLOYMENT_ID")]
    pub release: String,
    /// The gunicorn program to reload on a switch-back.
    #[arg(long, default_value = "gunicorn")]
    pub program: String,
    /// Celery programs to restart on a switch-back; repeat it.
    #[arg(long)]
    pub celery: Vec<String>,
    /// A URL through nginx whose body contains the release id.
    #[arg(long)]
    pub health_url: String,
    /// Seconds to wait for it (and, on a switch-back, for the previous release).
    #[arg(long, default_value_t = 60)]
    pub health_timeout: u64,
}

/// `step recover`: finish or reverse what a killed step left half done.
#[derive(Debug, Clone, clap::Args)]
pub struct RecoverArgs {
    /// Where supervisord listens.
    #[command(flatten)]
    pub supervisor: SupervisorArgs,
    /// The app root holding `releases/`, `current` and `.slipway/`.
    #[arg(long, env = "SLIPWAY_APP_ROOT")]
    pub app_root: PathBuf,
    /// The Supervisor programs to look at; repeat it.
    #[arg(long = "program", default_values_t = ["gunicorn".to_owned()])]
    pub programs: Vec<String>,
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
    SupervisorUpdate(SupervisorUpdateArgs),
    /// Refuse an unsafe gunicorn program config; preflight the release (AfterInstall).
    GunicornCheck(GunicornArgs),
    /// Check, switch `current` to the release, HUP gunicorn, wait for the health URL (ApplicationStart).
    /// A program whose own config changed is replaced blue/green through a standby instead.
    GunicornReload {
        /// The program and release.
        #[command(flatten)]
        gunicorn: GunicornArgs,
        /// The health check.
        #[command(flatten)]
        health: HealthArgs,
        /// Blue/green, for a changed program config.
        #[command(flatten)]
        blue_green: BlueGreenArgs,
        /// Celery programs to warm-restart on the release in the same
        /// journaled switch, while gunicorn's new workers boot; repeat it.
        #[arg(long)]
        celery: Vec<String>,
        /// Releases to keep.
        #[arg(long, default_value_t = 5)]
        keep: usize,
    },
    /// Wait for the health URL to report the release; if it never does, switch
    /// back to the previous release, reload, and fail with the reason (ValidateService).
    Validate(ValidateArgs),
    /// Finish or reverse a step that was killed half way (each step also does
    /// this first, for the programs it drives).
    Recover(RecoverArgs),
    /// Refuse stopasgroup; warn when stopwaitsecs is below the task time limit.
    CeleryCheck(CeleryArgs),
    /// Warm-switch the worker to the current release: through `<program>-next`
    /// when declared (no gap in consuming), else warm stop (tasks finish) and start.
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

/// `gunicorn-reload`'s check: the config refusals, and the preflight unless
/// `gunicorn-check` passed it on the same inputs ([`preflight_record`]).
fn check_gunicorn(args: &GunicornArgs, out: &mut dyn Write) -> Result<Releases> {
    let releases = Releases::new(&args.app_root);
    let config = ProgramConfig::read(&args.program_config, &args.program)?;
    gunicorn::check_program(&config, &releases.current_link())?;
    let release_dir = releases.dir(&args.release);
    let fingerprint = preflight_record::fingerprint(&preflight_inputs(args, &release_dir));
    if fingerprint.is_some_and(|f| preflight_record::passed(&args.app_root, &args.program, &f)) {
        let _ = writeln!(
            out,
            "gunicorn: {} and release {} passed the preflight in gunicorn-check; nothing changed since, so it is not run again",
            args.program, args.release
        );
        return Ok(releases);
    }
    gunicorn::preflight(&args.gunicorn, &release_dir, &args.app)?;
    let _ = writeln!(
        out,
        "gunicorn: {} and release {} passed the preflight",
        args.program, args.release
    );
    Ok(releases)
}

/// `gunicorn-check`: the refusals and the preflight, always run, and a
/// record of the pass for the reload that follows.
fn check_release(args: &GunicornArgs, out: &mut dyn Write) -> Result<()> {
    let releases = Releases::new(&args.app_root);
    let config = ProgramConfig::read(&args.program_config, &args.program)?;
    gunicorn::check_program(&config, &releases.current_link())?;
    let release_dir = releases.dir(&args.release);
    // Taken before the run: a change made while it ran voids the record.
    let fingerprint = preflight_record::fingerprint(&preflight_inputs(args, &release_dir));
    gunicorn::preflight(&args.gunicorn, &release_dir, &args.app)?;
    let _ = writeln!(
        out,
        "gunicorn: {} and release {} passed the preflight",
        args.program, args.release
    );
    if let Some(fingerprint) = fingerprint {
        // Only a shortcut for the reload: without it the reload checks again.
        if let Err(e) = preflight_record::record(&args.app_root, &args.program, &fingerprint) {
            let _ = writeln!(
                out,
                "gunicorn: warning: the pass is not recorded ({}); gunicorn-reload will run the preflight again",
                slipway_shared::error_chain(&e)
            );
        }
    }
    Ok(())
}

fn preflight_inputs<'a>(
    args: &'a GunicornArgs,
    release_dir: &'a std::path::Path,
) -> preflight_record::Inputs<'a> {
    preflight_record::Inputs {
        gunicorn: &args.gunicorn,
        release_dir,
        app: &args.app,
        program_config: &args.program_config,
    }
}

/// Runs one step, reporting what it did on `out`.
pub async fn run_step(step: &Step, out: &mut dyn Write) -> Result<()> {
    match step {
        Step::SupervisorUpdate(args) => {
            let changes = Supervisor::new(&args.supervisor.socket)
                .update_except(&args.leave_changed)
                .await?;
            let _ = writeln!(
                out,
                "supervisor: added {:?}, changed {:?}, removed {:?}",
                changes.added, changes.changed, changes.removed
            );
        }
        Step::GunicornCheck(args) => {
            check_release(args, out)?;
        }
        Step::GunicornReload {
            gunicorn: args,
            health: health_args,
            blue_green,
            celery,
            keep,
        } => {
            let supervisor = Supervisor::new(&args.supervisor.socket);
            let releases = Releases::new(&args.app_root);
            let _locks = recover::lock_and_recover(
                &supervisor,
                &releases,
                &programs(&args.program, celery),
                "gunicorn-reload",
                &mut say(out, "recover"),
            )
            .await?;
            // Asked before the preflight, so that from the preflight on
            // the first call to supervisord comes after `current` switched.
            let changed = bluegreen::changed(&supervisor, &args.program).await?;
            check_gunicorn(args, out)?;
            if changed {
                replace_changed(
                    &supervisor,
                    &releases,
                    args,
                    health_args,
                    blue_green,
                    celery,
                    out,
                )
                .await?;
            } else {
                let switch = Switch {
                    supervisor: &supervisor,
                    releases: &releases,
                    program: &args.program,
                    workers: celery,
                    health: health_args
                        .health_url
                        .as_deref()
                        .map(|url| (url, Duration::from_secs(health_args.health_timeout))),
                };
                switch
                    .forward("gunicorn-reload", &args.release, &mut say(out, "gunicorn"))
                    .await?;
            }
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
        Step::Validate(args) => {
            let releases = Releases::new(&args.app_root);
            let supervisor = Supervisor::new(&args.supervisor.socket);
            let _locks = recover::lock_and_recover(
                &supervisor,
                &releases,
                &programs(&args.program, &args.celery),
                "validate",
                &mut say(out, "recover"),
            )
            .await?;
            let deadline = Duration::from_secs(args.health_timeout);
            let validate = Validate {
                switch_back: Switch {
                    supervisor: &supervisor,
                    releases: &releases,
                    program: &args.program,
                    workers: &args.celery,
                    health: Some((&args.health_url, deadline)),
                },
                url: &args.health_url,
                release: &args.release,
                deadline,
            };
            validate.run(&mut say(out, "validate")).await?;
        }
        Step::Recover(args) => {
            let releases = Releases::new(&args.app_root);
            let supervisor = Supervisor::new(&args.supervisor.socket);
            let mut names: Vec<&str> = args.programs.iter().map(String::as_str).collect();
            names.sort_unstable();
            names.dedup();
            for program in names {
                let _lock = super::lock::ProgramLock::acquire(
                    &args.app_root,
                    program,
                    "recover",
                    &mut say(out, "recover"),
                )
                .await?;
                if !recover::recover(&supervisor, &releases, program, &mut say(out, "recover"))
                    .await?
                {
                    let _ = writeln!(out, "recover: {program}: no interrupted step");
                }
            }
        }
        Step::CeleryCheck(args) => {
            celery_check(args, out)?;
        }
        Step::CeleryRestart(args) => {
            celery_check(args, out)?;
            let supervisor = Supervisor::new(&args.supervisor.socket);
            let how = match &args.app_root {
                Some(app_root) => {
                    let releases = Releases::new(app_root);
                    let _locks = recover::lock_and_recover(
                        &supervisor,
                        &releases,
                        &[&args.program],
                        "celery-restart",
                        &mut say(out, "recover"),
                    )
                    .await?;
                    let mut record = Record::new("celery-restart", &args.program);
                    record.workers = vec![args.program.clone()];
                    let mut journal = Journal::begin(app_root, record)?;
                    let how = celery::switch(&supervisor, &args.program, &mut |event| {
                        journal.note(event)
                    })
                    .await?;
                    journal.finish()?;
                    how
                }
                None => celery::restart(&supervisor, &args.program).await?,
            };
            let _ = writeln!(out, "celery: {how}");
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

/// `gunicorn-reload` of a program whose Supervisor config changed: a
/// running one is replaced blue/green; one that serves nothing (stopped,
/// FATAL, a first deployment) is re-added on its new config, as
/// `supervisorctl update` would, and started on the release.
async fn replace_changed(
    supervisor: &Supervisor,
    releases: &Releases,
    args: &GunicornArgs,
    health: &HealthArgs,
    blue_green: &BlueGreenArgs,
    workers: &[String],
    out: &mut dyn Write,
) -> Result<()> {
    // Only a RUNNING program serves (a STARTING one may just be within its
    // startsecs); wait out a transition before deciding.
    let info = supervisor
        .wait_for(
            &args.program,
            "to leave STARTING or STOPPING",
            SETTLE,
            |i| i.state != state::STARTING && i.state != state::STOPPING,
        )
        .await?;
    let health_url = health.health_url.as_deref();
    if info.state != state::RUNNING {
        let _ = writeln!(
            out,
            "gunicorn: {} changed and is {}: re-added on its new config",
            args.program, info.statename
        );
        supervisor.drop_group(&args.program).await?;
        supervisor.add_group(&args.program).await?;
        let switch = Switch {
            supervisor,
            releases,
            program: &args.program,
            workers,
            health: health_url.map(|url| (url, Duration::from_secs(health.health_timeout))),
        };
        switch
            .forward("gunicorn-reload", &args.release, &mut say(out, "gunicorn"))
            .await?;
        return Ok(());
    }
    let config = ProgramConfig::read(&args.program_config, &args.program)?;
    let plan = bluegreen::Plan::make(
        bluegreen::Inputs {
            program: &args.program,
            config: &config,
            standby_bind: blue_green.standby_bind.as_deref(),
            upstream: blue_green.nginx_upstream.as_deref(),
            nginx: Nginx {
                binary: blue_green.nginx.nginx.clone(),
                args: blue_green.nginx.nginx_args.clone(),
                pid_file: blue_green.nginx.pid_file.clone(),
            },
            nginx_timeout: blue_green.nginx.timeout,
            health: health_url.map(|url| (url, health.health_timeout)),
        },
        info.pid,
    )?;
    let _ = writeln!(
        out,
        "gunicorn: {} changed (venv or arguments): blue/green through {} on {}",
        args.program, plan.standby, plan.standby_bind
    );
    bluegreen::BlueGreen {
        supervisor,
        releases,
        plan,
    }
    .forward(&args.release, &mut say(out, "bluegreen"))
    .await?;
    // The workers follow once gunicorn serves the release from its new
    // program; the blue/green journal does not cover them, so a crash here
    // leaves them on the old release until the next deploy or rollback.
    for worker in workers {
        let how = celery::restart(supervisor, worker).await?;
        let _ = writeln!(out, "celery: {how}");
    }
    Ok(())
}

/// How long a program may stay STARTING or STOPPING (startsecs, stopwaitsecs).
const SETTLE: Duration = Duration::from_secs(90);

fn celery_check(args: &CeleryArgs, out: &mut dyn Write) -> Result<()> {
    let config = ProgramConfig::read(&args.program_config, &args.program)?;
    let mut warnings = vec![celery::check_program(&config, args.task_time_limit)?];
    // A takeover declared beside the worker is checked with it.
    let takeover = celery::takeover(&args.program);
    let text =
        std::fs::read_to_string(&args.program_config).map_err(io("read", &args.program_config))?;
    if text.contains(&format!("[program:{takeover}]")) {
        let next = ProgramConfig::parse(&args.program_config, &takeover, &text)?;
        warnings.push(celery::check_takeover(
            &config,
            &next,
            args.task_time_limit,
        )?);
    }
    for warning in warnings.into_iter().flatten() {
        tracing::warn!("{warning}");
        let _ = writeln!(out, "warning: {warning}");
    }
    Ok(())
}

/// Switches `current` back to the previous release, reloads gunicorn (or
/// starts it, if a bad release left it FATAL) and restarts the workers.
pub async fn rollback(args: &RollbackArgs, out: &mut dyn Write) -> Result<()> {
    let releases = Releases::new(&args.app_root);
    let supervisor = Supervisor::new(&args.supervisor.socket);
    let _locks = recover::lock_and_recover(
        &supervisor,
        &releases,
        &programs(&args.program, &args.celery),
        "rollback",
        &mut say(out, "recover"),
    )
    .await?;
    let switch = Switch {
        supervisor: &supervisor,
        releases: &releases,
        program: &args.program,
        workers: &args.celery,
        health: args
            .health
            .health_url
            .as_deref()
            .map(|url| (url, Duration::from_secs(args.health.health_timeout))),
    };
    switch.back("rollback", &mut say(out, "rollback")).await?;
    Ok(())
}

/// A report callback printing `prefix: line` on `out`.
fn say<'a>(out: &'a mut dyn Write, prefix: &'a str) -> impl FnMut(&str) + 'a {
    move |line| {
        let _ = writeln!(out, "{prefix}: {line}");
    }
}

/// The gunicorn program and the workers, for the locks.
fn programs<'a>(program: &'a str, workers: &'a [String]) -> Vec<&'a str> {
    std::iter::once(program)
        .chain(workers.iter().map(String::as_str))
        .collect()
}
