//! The fate of a hook's processes when systemd stops the packaged agent.
//!
//! systemd is not PID 1 on this machine (`systemd-run --scope` finds no
//! manager), so these tests start `slipway-agent run` the way
//! `packaging/deb/slipway-agent.service` makes systemd start it: the unit's
//! `Environment=` lines, then its `EnvironmentFile=` (read from a throwaway
//! root, where it points at the test bed's config as the package's migrate
//! points it at the official one), `ExecStart=` with its `${VAR}`s expanded,
//! a clean environment, `UMask=`, a session of its own, and on stop the
//! unit's `KillSignal=` to the main process only, as `KillMode=process`
//! does, with `TimeoutStopSec=` as the deadline after which systemd would
//! SIGKILL it. What systemd does after that (nothing, for the processes
//! left in the cgroup under `KillMode=process`) needs no stand-in.

mod common;
mod daemon;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_codedeploy::types::{LifecycleErrorCode, LifecycleEventStatus};
use common::{Host, appspec};
use daemon::{Agent, Bed, wait_for_file};
use slipway_agent::hooks::runner::{KILL_GRACE, group_alive};

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/deb")
}

/// The `[Service]` settings of the packaged unit that decide how the agent
/// starts and stops.
struct Unit {
    environment: Vec<(String, String)>,
    /// Paths, and whether a missing file is an error (no `-` prefix).
    environment_files: Vec<(PathBuf, bool)>,
    exec_start: Vec<String>,
    kill_mode: String,
    kill_signal: libc::c_int,
    kill_signal_name: String,
    timeout_stop: Duration,
    umask: libc::mode_t,
}

impl Unit {
    fn packaged() -> Unit {
        let text = std::fs::read_to_string(packaging().join("slipway-agent.service")).unwrap();
        let mut section = "";
        let mut service: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line;
                continue;
            }
            assert!(
                !line.ends_with('\\'),
                "continued lines are not read here: {line}"
            );
            let (key, value) = line.split_once('=').unwrap();
            if section == "[Service]" {
                service.entry(key).or_default().push(value);
            }
        }
        let one = |key: &str, default: &'static str| -> String {
            service
                .get(key)
                .and_then(|v| v.last())
                .copied()
                .unwrap_or(default)
                .to_owned()
        };
        let environment = service
            .get("Environment")
            .into_iter()
            .flatten()
            .flat_map(|v| {
                assert!(
                    !v.contains(['"', '\'']),
                    "quoted assignments are not read here: {v}"
                );
                v.split_whitespace()
            })
            .map(|a| {
                let (k, v) = a.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let environment_files = service
            .get("EnvironmentFile")
            .into_iter()
            .flatten()
            .map(|v| match v.strip_prefix('-') {
                Some(path) => (PathBuf::from(path), false),
                None => (PathBuf::from(v), true),
            })
            .collect();
        let exec_start: Vec<String> = one("ExecStart", "")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert!(
            exec_start[0].starts_with('/'),
            "ExecStart has no prefixes and an absolute path: {exec_start:?}"
        );
        let kill_signal_name = one("KillSignal", "SIGTERM");
        let kill_signal = match kill_signal_name.as_str() {
            "SIGTERM" => libc::SIGTERM,
            "SIGINT" => libc::SIGINT,
            other => panic!("KillSignal={other} is not read here"),
        };
        Unit {
            environment,
            environment_files,
            exec_start,
            kill_mode: one("KillMode", "control-group"),
            kill_signal,
            kill_signal_name,
            timeout_stop: parse_timespan(&one("TimeoutStopSec", "90s")),
            umask: libc::mode_t::from_str_radix(&one("UMask", "0022"), 8).unwrap(),
        }
    }

    /// The agent started as systemd would, with `/` at `root`.
    fn start(&self, root: &Path, log: PathBuf) -> Agent {
        // systemd's own environment for services, then the unit's.
        let mut env: BTreeMap<String, String> = BTreeMap::from([(
            "PATH".to_owned(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        )]);
        env.extend(self.environment.iter().cloned());
        // Files are read after Environment= and override it.
        for (path, required) in &self.environment_files {
            let path = rooted(root, path);
            match std::fs::read_to_string(&path) {
                Ok(text) => env.extend(parse_env_file(&text)),
                Err(e) => assert!(!required, "{}: {e}", path.display()),
            }
        }
        let argv: Vec<String> = self.exec_start.iter().map(|w| expand(w, &env)).collect();
        let umask = self.umask;
        let mut cmd = Command::new(rooted(root, Path::new(&argv[0])));
        cmd.args(&argv[1..])
            .env_clear()
            .envs(&env)
            // Keeps the test bed's traffic on loopback; not in the unit.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        // SAFETY: setsid and umask are async-signal-safe system calls.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                libc::setsid();
                libc::umask(umask);
                Ok(())
            });
        }
        Agent {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    /// `systemctl stop`: KillSignal to the main process only
    /// (KillMode=process), then up to TimeoutStopSec for it to exit (capped
    /// at the tests' deadline, so a hang fails instead of waiting hours).
    fn stop(&self, agent: &mut Agent) -> std::process::ExitStatus {
        assert_eq!(self.kill_mode, "process");
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(agent.child.id() as libc::pid_t, self.kill_signal) };
        let until = Instant::now() + self.timeout_stop.min(daemon::DEADLINE);
        loop {
            if let Some(status) = agent.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= until {
                agent.kill();
                panic!(
                    "the agent did not exit within {:?} of {}:\n{}",
                    self.timeout_stop.min(daemon::DEADLINE),
                    self.kill_signal_name,
                    agent.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A systemd time span as this unit writes them: `90s`, `2h5min`, `infinity`.
fn parse_timespan(text: &str) -> Duration {
    if text == "infinity" {
        return Duration::MAX;
    }
    let mut total = 0u64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().unwrap();
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += n * match &rest[..unit] {
            "" | "s" | "sec" => 1,
            "min" | "m" => 60,
            "h" => 3600,
            other => panic!("time unit {other:?} in {text:?} is not read here"),
        };
        rest = &rest[unit..];
    }
    Duration::from_secs(total)
}

fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

/// `${NAME}` in an ExecStart word, as systemd substitutes it (one word).
fn expand(word: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(env.get(&rest[start + 2..end]).map_or("", String::as_str));
        rest = &rest[end + 1..];
    }
    assert!(!rest.contains('$'), "bare $VAR is not read here: {word}");
    out.push_str(rest);
    out
}

fn rooted(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap())
}

/// A throwaway root holding the package's binary and the environment file
/// the migrate script writes, pointing at the test bed's config.
fn package_root(bed: &Bed) -> PathBuf {
    let root = bed.dir.path().join("package-root");
    let bin = root.join("usr/bin/slipway-agent");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_slipway-agent"), &bin).unwrap();
    let env = root.join("etc/slipway-agent/agent.env");
    std::fs::create_dir_all(env.parent().unwrap()).unwrap();
    std::fs::write(
        &env,
        format!(
            "# As migrate writes it.\nSLIPWAY_AGENT_CONFIG={}\n",
            bed.config_path().display()
        ),
    )
    .unwrap();
    root
}

/// Fields of /proc/PID/stat after the command name: state, ppid, pgrp,
/// session; None when the process is gone.
fn proc_stat(pid: libc::pid_t) -> Option<(String, libc::pid_t, libc::pid_t, libc::pid_t)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f[0].to_owned(),
        f[1].parse().ok()?,
        f[2].parse().ok()?,
        f[3].parse().ok()?,
    ))
}

fn alive(pid: libc::pid_t) -> bool {
    proc_stat(pid).is_some_and(|(state, ..)| state != "Z")
}

fn read_pid(path: &Path) -> libc::pid_t {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Kills what a test left running, whatever its outcome.
struct Reap(Vec<libc::pid_t>);

impl Drop for Reap {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_unit_ends_the_hooks_group_after_the_grace_and_spares_what_it_detached() {
    let bed = Bed::start().await;
    let unit = Unit::packaged();
    let root = package_root(&bed);
    let host = Host::new();
    let dir = bed.dir.path();
    let (hook_pid, worker_pid, daemon_pid) = (
        dir.join("hook-pid"),
        dir.join("worker-pid"),
        dir.join("daemon-pid"),
    );
    let rev = host.revision("v1");
    rev.appspec(&appspec(
        &[("index.html", bed.dest().to_str().unwrap())],
        "  AfterInstall:\n    - location: start.sh\n      timeout: 600\n",
    ))
    .file("index.html", "one\n")
    // A daemon detached as AWS's docs say (own session, no inherited
    // descriptors), a worker left in the hook's group, and a hook that
    // outlasts the agent's grace.
    .script(
        "start.sh",
        &format!(
            "setsid sh -c 'echo $$ > {daemon}; exec sleep 600' </dev/null >/dev/null 2>&1 &\n\
             sh -c 'echo $$ > {worker}; exec sleep 600' &\n\
             echo $$ > {hook}\n\
             exec sleep 600",
            daemon = daemon_pid.display(),
            worker = worker_pid.display(),
            hook = hook_pid.display(),
        ),
    );
    let mut agent = unit.start(&root, dir.join("journal.log"));

    let id = bed.deploy(&rev, "shop-1.tgz").await;
    for marker in [&hook_pid, &worker_pid, &daemon_pid] {
        wait_for_file(marker).await;
    }
    let (hook, worker, detached) = (
        read_pid(&hook_pid),
        read_pid(&worker_pid),
        read_pid(&daemon_pid),
    );
    let _reap = Reap(vec![-hook, detached]);
    let (_, _, worker_group, _) = proc_stat(worker).unwrap();
    assert_eq!(worker_group, hook, "the worker is in the hook's group");
    let (_, _, _, detached_session) = proc_stat(detached).unwrap();
    assert_eq!(
        detached_session, detached,
        "the daemon leads its own session"
    );

    let status = tokio::task::block_in_place(|| unit.stop(&mut agent));
    assert!(status.success(), "{status}\n{}", agent.log());

    assert!(!group_alive(hook), "the hook's group outlived the agent");
    assert!(!alive(worker), "the hook's worker outlived the agent");
    assert!(
        alive(detached),
        "the detached daemon died with the agent:\n{}",
        agent.log()
    );
    let log = agent.log();
    assert!(
        log.contains("grace period over: ended the running hooks' process groups"),
        "{log}"
    );

    // Reported before the agent exited: no tracking file is left for a
    // restart to fail.
    assert_eq!(bed.wait_for_end(&id).await, "Failed");
    let after = bed.lifecycle_event(&id, "AfterInstall").await;
    assert_eq!(after.status, Some(LifecycleEventStatus::Failed));
    let diagnostics = after.diagnostics.as_ref().unwrap();
    assert_eq!(
        diagnostics.error_code,
        Some(LifecycleErrorCode::ScriptFailed)
    );
    assert!(
        diagnostics
            .message()
            .unwrap()
            .contains("start.sh was killed by signal"),
        "{diagnostics:?}"
    );
    assert!(!bed.root().join("ongoing-deployment").join(&id).exists());
}

/// systemd SIGKILLs only the main process at TimeoutStopSec (KillMode=process),
/// which would leave the hooks running and their event unreported: the
/// unit must wait out the grace the packaged and the official config give.
#[test]
fn the_unit_waits_longer_than_the_agents_grace_with_the_default_config() {
    let unit = Unit::packaged();
    let config =
        slipway_agent::config::Config::load(Some(&packaging().join("codedeployagent.yml")))
            .unwrap();
    let grace = Duration::from_secs(config.kill_agent_max_wait_time_seconds);
    // The grace, then SIGTERM-to-SIGKILL of the hooks, then the report.
    let needed = grace + KILL_GRACE + Duration::from_secs(30);
    assert!(
        unit.timeout_stop >= needed,
        "TimeoutStopSec={:?} cuts the agent's {grace:?} grace short (needs {needed:?})",
        unit.timeout_stop
    );
}
