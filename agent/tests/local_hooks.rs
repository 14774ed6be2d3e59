//! Lifecycle hooks under `slipway-agent local`: the diagnostics codes a host
//! produces, timeouts and left-open pipes, runas, the official environment,
//! and ApplicationStop from the last successful revision.

mod common;

use std::path::Path;

use common::{Host, appspec};

/// A revision with one hook on `event` running `body`, and a file to install.
fn with_hook(host: &Host, name: &str, event: &str, body: &str, extra: &str) -> String {
    let rev = host.revision(name);
    rev.appspec(&appspec(
        &[("index.html", host.dest().to_str().unwrap())],
        &format!("  {event}:\n    - location: scripts/hook.sh\n{extra}"),
    ))
    .file("index.html", name)
    .script("scripts/hook.sh", body);
    rev.path().to_owned()
}

fn pid_alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn a_successful_deployment_reports_code_0_and_scripts_see_the_official_environment() {
    let host = Host::new();
    let out = host.path().join("env.txt");
    let body = format!(
        "echo \"$LIFECYCLE_EVENT $DEPLOYMENT_ID $APPLICATION_NAME $DEPLOYMENT_GROUP_NAME $DEPLOYMENT_GROUP_ID\" > {}\nread line || echo stdin-closed >> {}",
        out.display(),
        out.display()
    );
    let rev = with_hook(&host, "env", "ApplicationStart", &body, "");
    let run = host.local(&[
        "--bundle",
        &rev,
        "--application-name",
        "shop",
        "--deployment-group-name",
        "web",
    ]);
    run.assert_ok();
    let env = std::fs::read_to_string(&out).unwrap();
    let id = run
        .deployment_dir()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        env,
        format!("ApplicationStart {id} shop web default-local-deployment-group\nstdin-closed\n")
    );
}

#[test]
fn a_missing_script_is_code_1() {
    let host = Host::new();
    let rev = host.revision("missing");
    rev.appspec(&appspec(
        &[],
        "  BeforeInstall:\n    - location: scripts/nope.sh\n",
    ));
    let run = host.local(&["--bundle", rev.path()]);
    run.assert_failed();
    let d = run.diagnostics();
    assert_eq!(d["error_code"], 1, "{}", run.stdout);
    assert!(d["message"].as_str().unwrap().contains("scripts/nope.sh"));
}

#[test]
fn a_script_without_its_exec_bit_is_made_executable_and_run_as_the_official_agent_does() {
    let host = Host::new();
    let rev = host.revision("noexec");
    rev.appspec(&appspec(&[], "  BeforeInstall:\n    - location: run.sh\n"))
        .file("run.sh", "#!/bin/sh\necho ran\n");
    host.local(&["--bundle", rev.path()]).assert_ok();
}

/// Code 2 as a host meets it: the script has lost its exec bit and belongs
/// to another user, and the agent runs without CAP_FOWNER (a hardened unit,
/// or a container's capability set), so the official agent's `chmod +x`
/// fails. BeforeInstall's script hands AfterInstall's to `nobody`.
#[test]
fn a_script_the_agent_cannot_make_executable_is_code_2_as_the_official_agent_words_it() {
    let host = Host::new();
    let ran = host.path().join("locked-ran");
    let rev = host.revision("locked");
    rev.appspec(&appspec(
        &[],
        "  BeforeInstall:\n    - location: scripts/prepare.sh\n  AfterInstall:\n    - location: scripts/locked.sh\n",
    ))
    .script(
        "scripts/prepare.sh",
        "here=$(dirname \"$0\")\nchmod 644 \"$here/locked.sh\" && chown 65534 \"$here/locked.sh\"",
    )
    .script("scripts/locked.sh", &format!("touch {}", ran.display()));
    let run = host.local_wrapped(
        &["setpriv", "--bounding-set", "-fowner"],
        &["--bundle", rev.path()],
    );
    run.assert_failed();
    let d = run.diagnostics();
    assert_eq!(d["error_code"], 2, "{}", run.stdout);
    assert_eq!(d["script_name"], "scripts/locked.sh");
    let message = d["message"].as_str().unwrap();
    // The official text, then the cause it leaves out.
    assert_eq!(
        message,
        "Unable to set script at specified location: scripts/locked.sh as executable (Operation not permitted (os error 1))"
    );
    // As the official agent: the script is named in the log only when it
    // is about to run, and this one never was.
    assert_eq!(d["log"], "LifecycleEvent - AfterInstall\n");
    assert!(!ran.exists(), "the script did not run");
    assert!(
        run.stdout.contains("AfterInstall") && run.stdout.contains("Failed (ScriptNotExecutable)"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("ApplicationStart "),
        "later events do not run"
    );
}

#[test]
fn a_failing_script_is_code_4_with_its_exit_code_and_a_whole_line_tail() {
    let host = Host::new();
    let body = "i=0; while [ $i -lt 100 ]; do echo \"line $i of the output, padded to be long enough\"; i=$((i+1)); done; echo boom >&2; exit 3";
    let rev = with_hook(&host, "fail", "AfterInstall", body, "");
    let run = host.local(&["--bundle", &rev]);
    run.assert_failed();
    let d = run.diagnostics();
    assert_eq!(d["error_code"], 4);
    assert_eq!(d["script_name"], "scripts/hook.sh");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .ends_with("failed with exit code 3"),
        "{d}"
    );
    let log = d["log"].as_str().unwrap();
    assert!(log.chars().count() < 2048, "{}", log.len());
    assert!(log.starts_with("[stdout]line "), "{log}");
    // stdout and stderr are separate pipes read side by side, as the
    // official agent reads them: their lines interleave in arrival order,
    // so `boom` may arrive before most of stdout and fall out of the tail.
    // The last stdout line is in the tail either way.
    assert!(log.contains("[stdout]line 99 "), "{log}");
    assert!(log.ends_with('\n'), "whole lines: {log}");
    assert!(run.stdout.contains("exit code 3") && run.stdout.contains("log tail:"));
    assert!(
        !run.stdout.contains("ApplicationStart "),
        "later events do not run"
    );
}

#[test]
fn a_malformed_appspec_is_code_5_naming_its_line() {
    let host = Host::new();
    let rev = host.revision("bad");
    rev.appspec("version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: x.sh\n      timeout: soon\n");
    let run = host.local(&["--bundle", rev.path()]);
    run.assert_failed();
    let d = run.diagnostics();
    assert_eq!(d["error_code"], 5);
    assert!(
        d["message"].as_str().unwrap().contains("appspec.yml:6:"),
        "{d}"
    );
}

#[test]
fn a_script_past_its_timeout_is_code_3_and_its_group_is_gone() {
    let host = Host::new();
    let pids = host.path().join("pids");
    let body = format!(
        "sleep 300 & echo $! > {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let rev = with_hook(
        &host,
        "slow",
        "ApplicationStart",
        &body,
        "      timeout: 1\n",
    );
    let run = host.local(&["--bundle", &rev]);
    run.assert_failed();
    let d = run.diagnostics();
    assert_eq!(d["error_code"], 3, "{d}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("failed to complete in 1 seconds")
    );
    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        assert!(!pid_alive(pid), "process {pid} of the hook survived");
    }
}

#[test]
fn a_background_child_holding_stdout_is_code_6_at_the_deadline_and_is_left_running() {
    let host = Host::new();
    let pid = host.path().join("pid");
    let body = format!("sleep 300 &\necho $! > {}\necho started", pid.display());
    let rev = with_hook(&host, "bg", "ApplicationStart", &body, "      timeout: 2\n");
    let run = host.local(&["--bundle", &rev]);
    run.assert_failed();
    let d = run.diagnostics();
    assert_eq!(d["error_code"], 6, "{d}");
    // The official agent's words: it names the first pipe still open.
    assert_eq!(
        d["message"],
        "Script at specified location: scripts/hook.sh failed to close STDOUT"
    );
    assert_eq!(
        d["log"],
        "LifecycleEvent - ApplicationStart\nScript - scripts/hook.sh\n[stdout]started\n"
    );
    // The official agent fails the event but leaves the child running.
    let pid = std::fs::read_to_string(&pid).unwrap();
    assert!(pid_alive(&pid), "the backgrounded child was ended");
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

#[test]
fn a_background_child_holding_only_stderr_is_named_as_the_official_agent_names_it() {
    let host = Host::new();
    let pid = host.path().join("pid");
    let body = format!(
        "sleep 300 >/dev/null &\necho $! > {}\necho started",
        pid.display()
    );
    let rev = with_hook(&host, "bg", "ApplicationStart", &body, "      timeout: 2\n");
    let run = host.local(&["--bundle", &rev]);
    run.assert_failed();
    let d = run.diagnostics();
    assert_eq!(d["error_code"], 6, "{d}");
    assert_eq!(
        d["message"],
        "Script at specified location: scripts/hook.sh failed to close STDERR"
    );
    let pid = std::fs::read_to_string(&pid).unwrap();
    assert!(pid_alive(&pid), "the backgrounded child was ended");
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

#[test]
fn a_background_child_with_its_output_redirected_is_left_running() {
    let host = Host::new();
    let pid = host.path().join("pid");
    let body = format!(
        "nohup sleep 30 >/dev/null 2>&1 &\necho $! > {}",
        pid.display()
    );
    let rev = with_hook(
        &host,
        "daemon",
        "ApplicationStart",
        &body,
        "      timeout: 5\n",
    );
    host.local(&["--bundle", &rev]).assert_ok();
    let pid = std::fs::read_to_string(&pid).unwrap();
    assert!(
        pid_alive(&pid),
        "a properly daemonised service must survive its hook"
    );
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

/// A throwaway user, removed when dropped.
struct TempUser(String);

impl TempUser {
    fn create(name: &str) -> TempUser {
        let _ = std::process::Command::new("userdel")
            .args(["-r", name])
            .output();
        let ok = std::process::Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", name])
            .status()
            .unwrap();
        assert!(ok.success(), "useradd {name}");
        TempUser(name.to_owned())
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel")
            .args(["-r", &self.0])
            .output();
    }
}

#[test]
fn runas_runs_the_script_as_that_user_with_its_home_and_groups() {
    let user = TempUser::create("slipway-runas-t");
    let host = Host::new();
    let out = host.path().join("who");
    std::fs::set_permissions(
        host.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let body = format!(
        "echo \"$(id -un) $(id -gn) $HOME $USER $LOGNAME\" > {}",
        out.display()
    );
    let rev = with_hook(
        &host,
        "runas",
        "ApplicationStart",
        &body,
        &format!("      runas: {}\n", user.0),
    );
    host.local(&["--bundle", &rev]).assert_ok();
    let who = std::fs::read_to_string(&out).unwrap();
    assert_eq!(who, format!("{u} {u} /home/{u} {u} {u}\n", u = user.0));
}

#[test]
fn runas_a_user_that_does_not_exist_fails_naming_the_user() {
    let host = Host::new();
    let rev = with_hook(
        &host,
        "nouser",
        "ApplicationStart",
        "true",
        "      runas: no-such-user-x\n",
    );
    let run = host.local(&["--bundle", &rev]);
    run.assert_failed();
    let d = run.diagnostics();
    assert_eq!(d["error_code"], 4);
    assert!(
        d["message"].as_str().unwrap().contains("no-such-user-x"),
        "{d}"
    );
}

fn stop_revision(host: &Host, name: &str, marker: &Path, start_fails: bool) -> String {
    let rev = host.revision(name);
    rev.appspec(&appspec(
        &[("index.html", host.dest().to_str().unwrap())],
        "  ApplicationStop:\n    - location: stop.sh\n  ApplicationStart:\n    - location: start.sh\n",
    ))
    .file("index.html", name)
    .script("stop.sh", &format!("echo stop-from-{name} >> {}; echo stopping {name}", marker.display()))
    .script("start.sh", if start_fails { "exit 1" } else { "true" });
    rev.path().to_owned()
}

#[test]
fn a_redeploy_runs_application_stop_from_the_last_successful_install_even_if_it_failed_later() {
    let host = Host::new();
    let marker = host.path().join("stops");
    let v1 = stop_revision(&host, "v1", &marker, false);
    let v2 = stop_revision(&host, "v2", &marker, true);
    let v3 = stop_revision(&host, "v3", &marker, false);

    let first = host.local(&["--bundle", &v1]);
    first.assert_ok();
    assert!(
        !marker.exists(),
        "no previous revision: ApplicationStop is a no-op"
    );

    // v2 installs, then fails ApplicationStart: it is still the last
    // successful *install*, as the official agent decides.
    host.local(&["--bundle", &v2]).assert_failed();
    let third = host.local(&["--bundle", &v3]);
    third.assert_ok();
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "stop-from-v1\nstop-from-v2\n"
    );
    let log = std::fs::read_to_string(third.deployment_dir().join("logs/scripts.log")).unwrap();
    assert!(
        log.contains("[stdout]stopping v2"),
        "the output goes to the current deployment's log:\n{log}"
    );
    assert_eq!(
        std::fs::read_to_string(host.dest().join("index.html")).unwrap(),
        "v3"
    );
}

#[test]
fn scripts_log_lines_have_the_official_format() {
    let host = Host::new();
    let rev = with_hook(&host, "fmt", "BeforeInstall", "echo out; echo err >&2", "");
    let run = host.local(&["--bundle", &rev]);
    run.assert_ok();
    let log = std::fs::read_to_string(run.deployment_dir().join("logs/scripts.log")).unwrap();
    let bodies: Vec<&str> = log.lines().map(|l| &l[20..]).collect();
    assert_eq!(bodies[0], "LifecycleEvent - BeforeInstall");
    assert_eq!(bodies[1], "Script - scripts/hook.sh");
    assert!(bodies.contains(&"[stdout]out") && bodies.contains(&"[stderr]err"));
    let stamp = &log.lines().next().unwrap()[..20];
    assert!(
        stamp.as_bytes()[4] == b'-' && stamp.as_bytes()[10] == b' ' && stamp.ends_with(' '),
        "{stamp}"
    );
    let deployments = std::fs::read_to_string(
        host.root()
            .join("deployment-logs/codedeploy-agent-deployments.log"),
    )
    .unwrap();
    let id = run
        .deployment_dir()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        deployments.contains(&format!("] [{id}][stdout]out")),
        "{deployments}"
    );
}
