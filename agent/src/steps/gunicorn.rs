//! Gunicorn under Supervisor: refuse a program config that cannot reload
//! cleanly, check the new release before anything switches, then reload by
//! HUP (new workers, same master and socket, so nginx sees no gap) and wait
//! until the health URL reports the new release.
//!
//! Measured (host-stack-measurements.md §3): a restart gives ~300–490 ms of
//! 502s; a HUP gives none, but only with `--chdir` on the `current` symlink
//! (HUP re-runs chdir, re-resolving the link) and without `--preload` (the
//! master would keep the old code).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::error::{Result, StepError};
use super::program_config::ProgramConfig;
use super::supervisor::{Supervisor, fault, state};

/// Refuses a gunicorn program that a HUP would not move to the new release.
pub fn check_program(config: &ProgramConfig, current_link: &Path) -> Result<()> {
    let words = config.command_words();
    if words
        .iter()
        .any(|w| *w == "--preload" || w.starts_with("--preload="))
    {
        return Err(config.refuse(
            "command: --preload",
            "the master keeps the old release's code across a HUP; remove --preload",
        ));
    }
    let chdir = words.iter().enumerate().find_map(|(i, w)| {
        if let Some(value) = w.strip_prefix("--chdir=") {
            Some(value)
        } else if *w == "--chdir" {
            words.get(i + 1).copied()
        } else {
            None
        }
    });
    match chdir {
        None => Err(config.refuse(
            "command: --chdir",
            format!(
                "missing; without --chdir {} a HUP keeps serving the directory resolved at start",
                current_link.display()
            ),
        )),
        Some(dir) if Path::new(dir) != current_link => Err(config.refuse(
            format!("command: --chdir {dir}"),
            format!("must be the current symlink {}", current_link.display()),
        )),
        Some(_) => Ok(()),
    }
}

/// The preflight on a release before any switch: `gunicorn --check-config`
/// (imports the app) and, when the release has `manage.py`,
/// `manage.py check --deploy` with the same venv's python. The two run at
/// once: each is mostly Python importing Django, about a second apiece
/// (bench/lifecycle), and neither reads what the other writes. A failure of
/// the gunicorn check is reported first, as when they ran in turn.
pub fn preflight(gunicorn: &Path, release_dir: &Path, app: &str) -> Result<()> {
    let mut check_config = Command::new(gunicorn);
    check_config
        .arg("--check-config")
        .arg("--chdir")
        .arg(release_dir)
        .arg(app);
    let manage = release_dir.join("manage.py");
    let mut check_deploy = manage.is_file().then(|| {
        let mut command = Command::new(gunicorn.with_file_name("python"));
        command
            .arg(&manage)
            .args(["check", "--deploy"])
            .current_dir(release_dir);
        command
    });
    let (config, deploy) = std::thread::scope(|scope| {
        let deploy = check_deploy
            .as_mut()
            .map(|command| scope.spawn(move || run(command)));
        let config = run(&mut check_config);
        let deploy = deploy.map_or(Ok(()), |thread| {
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        (config, deploy)
    });
    config.and(deploy)
}

fn run(command: &mut Command) -> Result<()> {
    let line = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|e| StepError::Preflight {
        command: line.clone(),
        output: e.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let tail: String = text
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    Err(StepError::Preflight {
        command: line,
        output: format!("{}: {tail}", output.status),
    })
}

/// What the reload waits for.
#[derive(Debug, Clone)]
pub struct Health {
    /// The URL whose body reports the release (through nginx).
    pub url: String,
    /// The release id the body must contain.
    pub release: String,
    /// How long to wait.
    pub deadline: Duration,
}

/// HUPs the program through Supervisor and waits for the new release.
/// A program that is not running (e.g. FATAL after a bad release) is
/// started instead, since a HUP cannot reach it.
pub async fn reload(supervisor: &Supervisor, program: &str, health: Option<&Health>) -> Result<()> {
    reload_program(supervisor, program).await?;
    match health {
        Some(health) => wait_for_release(health).await,
        None => Ok(()),
    }
}

/// How long a program may stay STARTING or STOPPING before the reload
/// gives up on it: Supervisor leaves STARTING after `startsecs` (7 s in the
/// reference config) and STOPPING after `stopwaitsecs` (40 s).
const SETTLE: Duration = Duration::from_secs(90);

/// HUPs the program when it is RUNNING, or (re)starts it otherwise; says
/// which.
///
/// Only a RUNNING gunicorn can take a HUP. On a host's first deployment
/// `supervisor-update` adds the program before `current` exists, so it
/// fails to chdir and cycles STARTING/BACKOFF until FATAL: a HUP would hit a
/// process about to die (or none), and `startProcess` answers
/// ALREADY_STARTED while it is in BACKOFF. A program in transition is
/// therefore waited out first (a STARTING one that serves becomes RUNNING
/// after `startsecs` and gets its HUP), one in BACKOFF is stopped, and then
/// it is started on the release `current` now names.
pub async fn reload_program(supervisor: &Supervisor, program: &str) -> Result<&'static str> {
    let mut info = supervisor.process_info(program).await?;
    if info.state == state::STARTING || info.state == state::STOPPING {
        info = supervisor
            .wait_for(program, "to leave STARTING or STOPPING", SETTLE, |i| {
                i.state != state::STARTING && i.state != state::STOPPING
            })
            .await?;
    }
    match info.state {
        state::RUNNING => {
            supervisor.signal_process(program, "HUP").await?;
            Ok("HUP sent")
        }
        state::BACKOFF => {
            // It may have gone FATAL meanwhile: then there is nothing to stop.
            match supervisor.stop_process(program, true).await {
                Err(StepError::SupervisorFault { code, .. }) if code == fault::NOT_RUNNING => {}
                other => other?,
            }
            supervisor.start_process(program, true).await?;
            Ok("restarted (it was in BACKOFF)")
        }
        _ => {
            supervisor.start_process(program, true).await?;
            Ok("started")
        }
    }
}

/// Polls the health URL until its body contains the release.
pub async fn wait_for_release(health: &Health) -> Result<()> {
    wait_for_release_at(health, None).await
}

/// [`wait_for_release`], sending the requests to `address` (`host:port`,
/// a gunicorn's own bind) instead of the URL's host, with the URL's `Host`
/// header, so the app sees what nginx would send (Django's ALLOWED_HOSTS).
pub async fn wait_for_release_at(health: &Health, address: Option<&str>) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| health_error(health, e.to_string()))?;
    let (url, host) = match address {
        Some(address) => direct_url(&health.url, address)
            .ok_or_else(|| health_error(health, format!("cannot send it to {address}")))?,
        None => (health.url.clone(), None),
    };
    let give_up = tokio::time::Instant::now() + health.deadline;
    loop {
        let mut request = client.get(&url);
        if let Some(host) = &host {
            request = request.header(reqwest::header::HOST, host);
        }
        let last = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.text().await {
                    Ok(body) if status.is_success() && body.contains(&health.release) => {
                        return Ok(());
                    }
                    Ok(body) => format!(
                        "HTTP {status}: {}",
                        body.trim().chars().take(200).collect::<String>()
                    ),
                    Err(e) => slipway_shared::error_chain(&e),
                }
            }
            Err(e) => slipway_shared::error_chain(&e),
        };
        if tokio::time::Instant::now() >= give_up {
            // The URL asked, so a standby's own address is named.
            return Err(StepError::Health {
                url: url.clone(),
                release: health.release.clone(),
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `url` with its host and port replaced by `address`, and the `Host`
/// header it had.
fn direct_url(url: &str, address: &str) -> Option<(String, Option<String>)> {
    let mut parsed = reqwest::Url::parse(url).ok()?;
    let host = match parsed.port() {
        Some(port) => format!("{}:{port}", parsed.host_str()?),
        None => parsed.host_str()?.to_owned(),
    };
    let (ip, port) = address.rsplit_once(':')?;
    parsed.set_host(Some(ip)).ok()?;
    parsed.set_port(Some(port.parse().ok()?)).ok()?;
    Some((parsed.to_string(), Some(host)))
}

fn health_error(health: &Health, last: String) -> StepError {
    StepError::Health {
        url: health.url.clone(),
        release: health.release.clone(),
        last,
    }
}

/// The gunicorn next to a release's python, or on PATH.
pub fn default_gunicorn(venv: Option<&Path>) -> PathBuf {
    venv.map(|v| v.join("bin/gunicorn"))
        .unwrap_or_else(|| PathBuf::from("gunicorn"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(command: &str) -> ProgramConfig {
        ProgramConfig::parse(
            Path::new("web.conf"),
            "web",
            &format!("[program:web]\ncommand={command}\n"),
        )
        .unwrap()
    }

    #[test]
    fn a_direct_url_keeps_the_path_and_the_host_header() {
        assert_eq!(
            direct_url("http://127.0.0.1:8080/healthz?x=1", "127.0.0.1:8002"),
            Some((
                "http://127.0.0.1:8002/healthz?x=1".into(),
                Some("127.0.0.1:8080".into())
            ))
        );
        assert_eq!(
            direct_url("http://shop.example/healthz", "127.0.0.1:8002"),
            Some((
                "http://127.0.0.1:8002/healthz".into(),
                Some("shop.example".into())
            ))
        );
        assert_eq!(direct_url("http://x/", "unix:/run/g.sock"), None);
    }

    #[test]
    fn preload_is_refused_by_name() {
        let error = check_program(
            &config("gunicorn --preload --chdir /a/current app:x"),
            Path::new("/a/current"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("--preload"), "{error}");
    }

    #[test]
    fn chdir_must_be_the_current_symlink() {
        let link = Path::new("/a/current");
        assert!(check_program(&config("gunicorn --chdir /a/current app:x"), link).is_ok());
        assert!(check_program(&config("gunicorn --chdir=/a/current app:x"), link).is_ok());
        let error =
            check_program(&config("gunicorn --chdir /a/releases/1 app:x"), link).unwrap_err();
        assert!(
            error.to_string().contains("--chdir /a/releases/1"),
            "{error}"
        );
        let error = check_program(&config("gunicorn app:x"), link).unwrap_err();
        assert!(error.to_string().contains("command: --chdir"), "{error}");
    }
}
