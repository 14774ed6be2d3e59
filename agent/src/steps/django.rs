//! Django's own commands on a release before it serves: `migrate` once per
//! fleet, under the database's advisory lock, and `collectstatic`.
//!
//! Both run as `manage.py` with the release's python in the release's
//! directory, so the app's settings, driver and credentials (the secrets env
//! file) reach the database and the agent holds no database client. The
//! lock is MySQL's `GET_LOCK`, taken on the connection Django migrates on:
//! hosts deploying at once queue on it, the first applies the migrations and
//! the others find nothing to apply (`django_migrate.py`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::error::{Result, StepError};
use super::releases::Releases;

/// The lock-and-migrate program run by `manage.py shell -c`.
const MIGRATE_PY: &str = include_str!("django_migrate.py");
/// Marker lines `django_migrate.py` prints for the step to read.
const MARKER: &str = "slipway-migrate: ";

/// `manage.py` in one release.
#[derive(Debug, Clone)]
pub struct Manage {
    /// The python that has Django and the app's dependencies (the venv's).
    pub python: PathBuf,
    /// `releases/<id>`.
    pub release_dir: PathBuf,
    /// The release id, for messages.
    pub release: String,
}

impl Manage {
    /// `manage.py` of `release` under `app_root`, refused if it has none.
    pub fn new(app_root: &Path, release: &str, python: &Path) -> Result<Manage> {
        let release_dir = Releases::new(app_root).dir(release);
        if !release_dir.join("manage.py").is_file() {
            return Err(StepError::Release {
                app_root: app_root.to_owned(),
                release: release.into(),
                reason: "no manage.py in the release directory".into(),
            });
        }
        // manage.py runs in the release, so a relative path would change
        // meaning; a bare name is looked up on PATH as usual. Not
        // canonicalized: a venv's python is a symlink that must stay one.
        let python = if python.is_relative() && python.components().count() > 1 {
            std::env::current_dir()
                .map(|dir| dir.join(python))
                .unwrap_or_else(|_| python.to_owned())
        } else {
            python.to_owned()
        };
        Ok(Manage {
            python,
            release_dir,
            release: release.into(),
        })
    }

    /// Runs `manage.py ARGS…`, copying its output to `out` line by line as
    /// it comes (a migration or a wait for the lock can be long), and
    /// returns the lines. A failure carries the output's last line.
    async fn run(
        &self,
        command: &'static str,
        args: &[&str],
        env: &[(&str, String)],
        out: &mut dyn Write,
    ) -> Result<Vec<String>> {
        let failed = |output: String| StepError::Django {
            command,
            release: self.release.clone(),
            output,
        };
        let mut child = tokio::process::Command::new(&self.python)
            .arg("manage.py")
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.release_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("cannot run {}: {e}", self.python.display())))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
        let (mut stdout_open, mut stderr_open) = (true, true);
        let mut lines = Vec::new();
        while stdout_open || stderr_open {
            let line = tokio::select! {
                line = stdout.next_line(), if stdout_open => match line {
                    Ok(Some(line)) => Some(line),
                    _ => {
                        stdout_open = false;
                        None
                    }
                },
                line = stderr.next_line(), if stderr_open => match line {
                    Ok(Some(line)) => Some(line),
                    _ => {
                        stderr_open = false;
                        None
                    }
                },
            };
            if let Some(line) = line {
                let _ = writeln!(out, "  {line}");
                lines.push(line);
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|e| failed(format!("cannot wait for manage.py: {e}")))?;
        if !status.success() {
            // The whole output went to `out` above; the error names the
            // cause, which a Python traceback prints last.
            let last = lines.iter().rev().find(|l| !l.trim().is_empty());
            return Err(failed(format!(
                "{status}: {}",
                last.map_or("no output", |l| l.trim())
            )));
        }
        Ok(lines)
    }
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The migrations this host applied (`app.name`); empty when another
    /// host, or an earlier deploy, already had.
    pub applied: Vec<String>,
}

/// `manage.py migrate` on `database` while holding the advisory lock,
/// waiting up to `lock_timeout` for it.
pub async fn migrate(
    manage: &Manage,
    database: &str,
    lock_timeout: Duration,
    out: &mut dyn Write,
) -> Result<Migrated> {
    let env = [
        ("SLIPWAY_MIGRATE_DATABASE", database.to_owned()),
        (
            "SLIPWAY_MIGRATE_LOCK_TIMEOUT",
            lock_timeout.as_secs().max(1).to_string(),
        ),
    ];
    // -v 0: Django 5.2's shell announces its automatic imports otherwise.
    let lines = manage
        .run(
            "migrate",
            &["shell", "--verbosity", "0", "--command", MIGRATE_PY],
            &env,
            out,
        )
        .await?;
    parse_migrate(&lines).ok_or_else(|| StepError::Django {
        command: "migrate",
        release: manage.release.clone(),
        output: "manage.py shell exited 0 without finishing the migration".into(),
    })
}

/// The plan `django_migrate.py` printed, if it got to the end.
fn parse_migrate(lines: &[String]) -> Option<Migrated> {
    let mut applied = Vec::new();
    let mut done = false;
    for line in lines {
        match line.strip_prefix(MARKER) {
            Some(rest) if rest.starts_with("to ") => {
                applied.extend(rest.split(' ').nth(2).map(str::to_owned));
            }
            Some(rest) if rest.starts_with("done ") => done = true,
            _ => {}
        }
    }
    done.then_some(Migrated { applied })
}

/// `manage.py collectstatic --noinput`; returns Django's summary line
/// ("N static files copied to '…'").
pub async fn collectstatic(manage: &Manage, out: &mut dyn Write) -> Result<String> {
    let lines = manage
        .run("collectstatic", &["collectstatic", "--noinput"], &[], out)
        .await?;
    Ok(lines
        .iter()
        .rev()
        .find(|line| line.contains("static file"))
        .cloned()
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn the_applied_migrations_are_read_from_the_marker_lines() {
        let migrated = parse_migrate(&lines(
            "slipway-migrate: waiting for lock slipway-migrate:shop (up to 600s)\n\
             slipway-migrate: to apply contenttypes.0001_initial\n\
             slipway-migrate: to apply shop.0001_initial\n\
             Operations to perform:\n\
             slipway-migrate: done 2",
        ))
        .unwrap();
        assert_eq!(
            migrated.applied,
            ["contenttypes.0001_initial", "shop.0001_initial"]
        );
        assert_eq!(
            parse_migrate(&lines("slipway-migrate: done 0")).unwrap(),
            Migrated { applied: vec![] }
        );
    }

    #[test]
    fn a_run_that_never_finished_is_not_a_migration() {
        assert_eq!(
            parse_migrate(&lines("slipway-migrate: to apply shop.0001_initial")),
            None
        );
    }

    #[test]
    fn a_release_without_manage_py_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("releases/r1")).unwrap();
        let error = Manage::new(root.path(), "r1", Path::new("python3")).unwrap_err();
        assert!(error.to_string().contains("no manage.py"), "{error}");
    }
}
