//! One event's scripts, run in order until one fails. Each script runs in
//! its own process group with stdin closed; one deadline covers its exit
//! and the EOF of stdout and stderr, so a backgrounded child that keeps a
//! pipe open ends the hook with OutputsLeftOpen at the deadline instead of
//! hanging it; that child is left running, as the official agent leaves it.
//! A script still running at the deadline has its group sent SIGTERM, then
//! SIGKILL after [`KILL_GRACE`].

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use slipway_shared::appspec::Hook;
use slipway_shared::diagnostics::ErrorCode;
use slipway_shared::lifecycle::LifecycleEvent;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ScriptsLog;
use super::runas::User;
use crate::{Error, Result};

/// How long a script's group has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
/// How often the group is checked for survivors after a signal.
const GONE_POLL: Duration = Duration::from_millis(20);

/// The scripts of one event and where they run.
#[derive(Debug)]
pub struct EventScripts<'a> {
    /// The event.
    pub event: LifecycleEvent,
    /// The unpacked revision the script locations are relative to.
    pub archive_dir: &'a Path,
    /// The appspec's scripts for the event.
    pub hooks: &'a [Hook],
    /// The whole environment of the scripts (the agent's, plus the official
    /// variables).
    pub env: &'a [(OsString, OsString)],
}

/// Runs `scripts`, logging to `log`. The error is an [`Error::Hook`] with
/// the official code and message.
pub async fn run_event(scripts: &EventScripts<'_>, log: &mut ScriptsLog) -> Result<()> {
    log.event(scripts.event.name())?;
    for hook in scripts.hooks {
        run_script(scripts, hook, log).await?;
    }
    Ok(())
}

async fn run_script(scripts: &EventScripts<'_>, hook: &Hook, log: &mut ScriptsLog) -> Result<()> {
    let path = scripts.archive_dir.join(&hook.location);
    let fail = |code: ErrorCode, message: String, log: &ScriptsLog| Error::Hook {
        code,
        script: hook.location.clone(),
        message,
        log: log.tail(),
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m,
        _ => {
            return Err(fail(
                ErrorCode::ScriptMissing,
                format!(
                    "Script does not exist at specified location: {}",
                    path.display()
                ),
                log,
            ));
        }
    };
    if meta.permissions().mode() & 0o111 == 0 {
        // The official agent makes the script executable and runs it.
        let mode = meta.permissions().mode() | 0o111;
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)) {
            return Err(fail(
                ErrorCode::ScriptNotExecutable,
                // The official text, then the cause it leaves out.
                format!(
                    "Unable to set script at specified location: {} as executable ({e})",
                    hook.location
                ),
                log,
            ));
        }
    }
    // As the official agent, only a script about to run is named in the
    // log (and so in the diagnostics tail).
    log.script(&hook.location)?;
    let user = match hook.runas.as_deref().filter(|u| !u.is_empty()) {
        None => None,
        Some(name) => match User::lookup(name) {
            Ok(Some(user)) => Some(user),
            _ => {
                return Err(fail(
                    ErrorCode::ScriptFailed,
                    format!(
                        "Script at specified location: {} run as user {name} failed: the user {name} does not exist",
                        hook.location
                    ),
                    log,
                ));
            }
        },
    };
    let as_user = user
        .as_ref()
        .map(|u| format!(" run as user {}", u.name))
        .unwrap_or_default();

    let mut cmd = Command::new(&path);
    cmd.env_clear()
        .envs(scripts.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(user) = user.clone() {
        cmd.envs(user.env());
        // SAFETY: become_user only makes system calls.
        unsafe {
            cmd.pre_exec(move || user.become_user());
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        fail(
            ErrorCode::ScriptFailed,
            format!(
                "Script at specified location: {}{as_user} could not be started: {e}",
                hook.location
            ),
            log,
        )
    })?;
    let pgid = child.id().map(|id| id as libc::pid_t);
    let _registered = pgid.map(super::running::register);
    let (tx, mut rx) = mpsc::channel::<(&'static str, String)>(256);
    let readers = [
        tokio::spawn(lines("stdout", child.stdout.take(), tx.clone())),
        tokio::spawn(lines("stderr", child.stderr.take(), tx)),
    ];

    let deadline = Instant::now() + Duration::from_secs(hook.timeout_secs);
    let mut status = None;
    let mut pipes_open = true;
    let timed_out = loop {
        if status.is_some() && !pipes_open {
            break false;
        }
        tokio::select! {
            line = rx.recv(), if pipes_open => match line {
                Some((stream, text)) => log.output(stream, &text)?,
                None => pipes_open = false,
            },
            exit = child.wait(), if status.is_none() => {
                status = Some(exit.map_err(Error::io("wait for", &path))?);
            }
            _ = tokio::time::sleep_until(deadline) => break true,
        }
    };
    if timed_out {
        // Both texts are the official agent's, which names no runas user in
        // them. It waits for stdout's EOF, then stderr's, and names the first
        // still open.
        let open_pipe = if readers[0].is_finished() {
            "STDERR"
        } else {
            "STDOUT"
        };
        for r in &readers {
            r.abort();
        }
        // Whatever was already read still belongs in the log.
        while let Ok((stream, text)) = rx.try_recv() {
            log.output(stream, &text)?;
        }
        // A script past its timeout has its group ended. One that exited
        // while a child it left behind holds a pipe does not: the official
        // agent leaves that child running (a server started with `&` keeps
        // serving) and only fails the event.
        if status.is_none()
            && let Some(pgid) = pgid
        {
            kill_group(pgid).await;
        }
        let _ = child.wait().await;
        let (code, message) = if status.is_some() {
            (
                ErrorCode::OutputsLeftOpen,
                format!(
                    "Script at specified location: {} failed to close {open_pipe}",
                    hook.location
                ),
            )
        } else {
            (
                ErrorCode::ScriptTimedOut,
                format!(
                    "Script at specified location: {} failed to complete in {} seconds",
                    hook.location, hook.timeout_secs
                ),
            )
        };
        return Err(fail(code, message, log));
    }
    let status = status.expect("the loop ends with a status");
    if status.success() {
        return Ok(());
    }
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("failed with exit code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "failed".to_owned(),
    };
    Err(fail(
        ErrorCode::ScriptFailed,
        format!(
            "Script at specified location: {}{as_user} {how}",
            hook.location
        ),
        log,
    ))
}

/// Sends each line of `pipe` to `tx`; invalid UTF-8 is replaced, not fatal.
async fn lines(
    stream: &'static str,
    pipe: Option<impl AsyncRead + Unpin>,
    tx: mpsc::Sender<(&'static str, String)>,
) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let text = text
                    .trim_end_matches('\n')
                    .trim_end_matches('\r')
                    .to_owned();
                if tx.send((stream, text)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// SIGTERM to the group, then SIGKILL if anything is left after the grace.
pub(crate) async fn kill_group(pgid: libc::pid_t) {
    signal_group(pgid, libc::SIGTERM);
    let until = Instant::now() + KILL_GRACE;
    while group_alive(pgid) && Instant::now() < until {
        tokio::time::sleep(GONE_POLL).await;
    }
    if group_alive(pgid) {
        signal_group(pgid, libc::SIGKILL);
    }
}

fn signal_group(pgid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(-pgid, signal) };
}

/// Whether any live (non-zombie) process is left in the group.
pub fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks existence.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    // Zombies answer kill(0) until reaped (and an orphan's reaper may be
    // slow), so look at the states.
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().any(|p| {
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid pgrp …; comm may hold spaces, so split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.first().is_some_and(|s| *s != "Z")
            && fields.get(2).and_then(|g| g.parse::<libc::pid_t>().ok()) == Some(pgid)
    })
}
