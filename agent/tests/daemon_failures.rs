//! `slipway-agent run` as a real process when things go wrong, against the
//! CodeDeploy simulator and moto's S3: each diagnostics code as CodeDeploy
//! shows it on the lifecycle event, throttling and server errors on the
//! command plane, tampered and truncated spec envelopes, and answers from
//! the service that are not what its model promises.

mod common;
mod daemon;

use std::time::Duration;

use aws_sdk_codedeploy::types::{LifecycleErrorCode, LifecycleEvent, LifecycleEventStatus};
use base64::Engine;
use common::{Host, Revision, appspec};
use daemon::{Agent, Bed};
use serde_json::Value;
use slipway_tests::codedeploy::{Fault, Faults};

/// A revision installing `index.html` (saying `body`) into the bed's dest,
/// whose hooks append their event's name to `runs`, so a test can count
/// how often each ran.
fn counted_revision(
    host: &Host,
    bed: &Bed,
    name: &str,
    body: &str,
    runs: &std::path::Path,
) -> Revision {
    let hooks: String = [
        "BeforeInstall",
        "AfterInstall",
        "ApplicationStart",
        "ValidateService",
    ]
    .iter()
    .map(|e| format!("  {e}:\n    - location: count.sh\n      timeout: 30\n"))
    .collect();
    let rev = host.revision(name);
    rev.appspec(&appspec(
        &[("index.html", bed.dest().to_str().unwrap())],
        &hooks,
    ))
    .file("index.html", body)
    .script(
        "count.sh",
        &format!("echo \"$LIFECYCLE_EVENT\" >> {}", runs.display()),
    );
    rev
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Event `name` of host-1 in `deployment_id`, as GetDeploymentTarget shows it
/// (what `aws deploy get-deployment-target` prints).
async fn target_event(bed: &Bed, deployment_id: &str, name: &str) -> LifecycleEvent {
    bed.codedeploy
        .get_deployment_target()
        .deployment_id(deployment_id)
        .target_id("host-1")
        .send()
        .await
        .unwrap()
        .deployment_target
        .and_then(|t| t.instance_target)
        .and_then(|t| t.lifecycle_events)
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.lifecycle_event_name() == Some(name))
        .unwrap_or_else(|| panic!("{deployment_id} has no {name} on host-1"))
}

/// Whether the agent process is still running.
fn alive(agent: &mut Agent) -> bool {
    agent.child.try_wait().unwrap().is_none()
}

fn assert_no_panic(agent: &Agent) {
    let log = agent.log();
    assert!(!log.contains("panicked"), "the agent panicked:\n{log}");
}

/// Undoes the immutable flag a test's hook set, so the temporary
/// directory can be removed whatever the test's outcome.
struct Mutable(std::path::PathBuf);

impl Drop for Mutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// One failing deployment: its hooks and scripts, and what CodeDeploy
/// must show for the failed event.
struct Case {
    what: &'static str,
    hooks: &'static str,
    scripts: &'static [(&'static str, &'static str)],
    event: &'static str,
    code: LifecycleErrorCode,
    script_name: &'static str,
    /// The official agent's message, up to what varies (a path).
    message: String,
    log_tail: &'static str,
}

/// Every code the agent itself produces (ScriptFailed has its own test in
/// daemon_deployments.rs; FailedAfterRestart, shown as UnknownError, too).
/// One bed, one agent, one deployment per case, in turn.
#[tokio::test(flavor = "multi_thread")]
async fn each_diagnostics_code_reaches_the_lifecycle_event_as_the_official_agent_reports_it() {
    let bed = Bed::start().await;
    let host = Host::new();
    let _mutable = Mutable(bed.dir.path().to_owned());
    let orphan_pid = bed.dir.path().join("orphan-pid");
    let cases = [
        Case {
            what: "a hook whose script is not in the bundle",
            hooks: "  BeforeInstall:\n    - location: scripts/absent.sh\n      timeout: 30\n",
            scripts: &[],
            event: "BeforeInstall",
            code: LifecycleErrorCode::ScriptMissing,
            script_name: "scripts/absent.sh",
            // The official agent names the script by its absolute path.
            message: format!(
                "Script does not exist at specified location: {}/",
                bed.root().display()
            ),
            log_tail: "LifecycleEvent - BeforeInstall\n",
        },
        Case {
            // BeforeInstall takes the exec bit off AfterInstall's script and
            // makes it immutable: even root cannot chmod it back.
            what: "a script that cannot be made executable",
            hooks: "  BeforeInstall:\n    - location: lock.sh\n      timeout: 30\n\
                    \x20 AfterInstall:\n    - location: locked.sh\n      timeout: 30\n",
            scripts: &[
                (
                    "lock.sh",
                    "here=$(dirname \"$0\")\nchmod -x \"$here/locked.sh\" && chattr +i \"$here/locked.sh\"",
                ),
                ("locked.sh", "echo never"),
            ],
            event: "AfterInstall",
            code: LifecycleErrorCode::ScriptNotExecutable,
            script_name: "locked.sh",
            message: "Unable to set script at specified location: locked.sh as executable".into(),
            log_tail: "LifecycleEvent - AfterInstall\n",
        },
        Case {
            what: "a script past its timeout",
            hooks: "  ApplicationStart:\n    - location: slow.sh\n      timeout: 2\n",
            scripts: &[("slow.sh", "echo waiting\nexec sleep 300")],
            event: "ApplicationStart",
            code: LifecycleErrorCode::ScriptTimedOut,
            script_name: "slow.sh",
            message: "Script at specified location: slow.sh failed to complete in 2 seconds".into(),
            log_tail: "LifecycleEvent - ApplicationStart\nScript - slow.sh\n[stdout]waiting\n",
        },
        Case {
            what: "a script whose backgrounded child keeps its output open",
            hooks: "  ValidateService:\n    - location: bg.sh\n      timeout: 2\n",
            scripts: &[(
                "bg.sh",
                "sleep 300 &\necho $! > \"$ORPHAN_PID\"\necho started",
            )],
            event: "ValidateService",
            // Not in the SDK's enum (the API documents codes 0–5 only); the
            // simulator passes the agent's name through.
            code: LifecycleErrorCode::from("OutputsLeftOpen"),
            script_name: "bg.sh",
            message: "Script at specified location: bg.sh failed to close STDOUT".into(),
            log_tail: "LifecycleEvent - ValidateService\nScript - bg.sh\n[stdout]started\n",
        },
    ];
    let mut agent = Agent::start(
        &bed.config_path(),
        bed.dir.path().join("agent.log"),
        &[("ORPHAN_PID", orphan_pid.as_os_str())],
    );

    for (i, case) in cases.iter().enumerate() {
        let rev = host.revision(&format!("case-{i}"));
        rev.appspec(&appspec(&[], case.hooks));
        for (name, body) in case.scripts {
            rev.script(name, body);
        }
        let id = bed.deploy(&rev, &format!("case-{i}.tgz")).await;
        assert_eq!(
            bed.wait_for_end(&id).await,
            "Failed",
            "{}: {}",
            case.what,
            agent.log()
        );
        let event = target_event(&bed, &id, case.event).await;
        assert_eq!(
            event.status,
            Some(LifecycleEventStatus::Failed),
            "{}",
            case.what
        );
        let d = event.diagnostics.as_ref().unwrap();
        assert_eq!(
            d.error_code.as_ref(),
            Some(&case.code),
            "{}: {d:?}",
            case.what
        );
        assert_eq!(d.script_name(), Some(case.script_name), "{}", case.what);
        assert!(
            d.message().unwrap().starts_with(&case.message),
            "{}: {d:?}",
            case.what
        );
        assert_eq!(d.log_tail(), Some(case.log_tail), "{}", case.what);
    }

    // The orphan that held the pipes is left running, as the official agent
    // leaves it (a server started with `&` keeps serving); end it here.
    let pid: i32 = std::fs::read_to_string(&orphan_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!zombie(pid), "the orphan {pid} was ended");
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(alive(&mut agent));
    assert_no_panic(&agent);
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// A file the group did not install stands where the revision installs
/// one: Install fails with the official UnknownError and its message.
#[tokio::test(flavor = "multi_thread")]
async fn an_install_collision_is_an_unknown_error_naming_the_file() {
    let bed = Bed::start().await;
    let host = Host::new();
    let runs = bed.dir.path().join("runs");
    std::fs::create_dir_all(bed.dest()).unwrap();
    std::fs::write(bed.dest().join("index.html"), "not ours\n").unwrap();
    let rev = counted_revision(&host, &bed, "v1", "one\n", &runs);
    let agent = bed.agent();

    let id = bed.deploy(&rev, "shop-1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Failed", "{}", agent.log());
    let install = target_event(&bed, &id, "Install").await;
    let d = install.diagnostics.as_ref().unwrap();
    assert_eq!(d.error_code, Some(LifecycleErrorCode::UnknownError));
    assert_eq!(d.script_name(), Some(""));
    let expected = format!(
        "The deployment failed because a specified file already exists at this location: {}",
        bed.dest().join("index.html").display()
    );
    assert!(d.message().unwrap().contains(&expected), "{d:?}");
    assert_eq!(
        std::fs::read_to_string(bed.dest().join("index.html")).unwrap(),
        "not ours\n"
    );
    assert_eq!(read_lines(&runs), ["BeforeInstall"]);
}

/// Throttling and server errors on every command-plane operation: polls
/// back off (the official 10 s after an error, `wait_after_throttle_error`
/// after throttling), calls carrying a command are retried, and every hook
/// runs exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_back_off_and_no_hook_runs_twice() {
    let faults = Faults::default();
    let bed = Bed::configured(|c| c.faults = faults.clone()).await;
    bed.configure_agent(":wait_after_throttle_error: 1\n");
    let host = Host::new();
    let runs = bed.dir.path().join("runs");
    let rev = counted_revision(&host, &bed, "v1", "one\n", &runs);

    faults.plan("PollHostCommand", Fault::server_error());
    faults.plan("PollHostCommand", Fault::throttling());
    faults.plan("GetDeploymentSpecification", Fault::server_error());
    faults.plan("GetDeploymentSpecification", Fault::throttling());
    faults.plan("PutHostCommandAcknowledgement", Fault::throttling());
    faults.plan("PutHostCommandAcknowledgement", Fault::lost_answer());
    faults.plan("PutHostCommandComplete", Fault::server_error());
    faults.plan("PutHostCommandComplete", Fault::lost_answer());
    let agent = bed.agent();

    let id = bed.deploy(&rev, "shop-1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Succeeded", "{}", agent.log());
    assert_eq!(faults.pending(), 0, "{:?}", faults.calls());
    assert_eq!(
        read_lines(&runs),
        [
            "BeforeInstall",
            "AfterInstall",
            "ApplicationStart",
            "ValidateService"
        ],
        "each hook once"
    );
    assert_eq!(
        std::fs::read_to_string(bed.dest().join("index.html")).unwrap(),
        "one\n"
    );

    // Polls backed off: the poll after the server error came no sooner
    // than the official first step (10 s, less the failed call's own
    // time), the one after throttling no sooner than the configured 1 s
    // (lower bounds only, with room for a slow failed call).
    let polls = faults.calls_of("PollHostCommand");
    assert_eq!(polls[0].status, 500);
    assert_eq!(polls[1].status, 400);
    let after_error = polls[1].at - polls[0].at;
    let after_throttle = polls[2].at - polls[1].at;
    assert!(after_error >= Duration::from_secs(8), "{after_error:?}");
    assert!(
        after_throttle >= Duration::from_millis(500),
        "{after_throttle:?}"
    );
    // The completion whose answer was lost is not sent a fourth time: the
    // service's "already complete" ends the retries.
    assert_eq!(
        faults
            .calls_of("PutHostCommandComplete")
            .iter()
            .filter(|c| c.status == 400)
            .count(),
        1
    );
    assert!(agent.log().contains("already complete"), "{}", agent.log());
    let metrics = bed.status_api("/metrics").await;
    assert!(
        metrics.contains("slipway_agent_poll_errors_total 2\n"),
        "{metrics}"
    );
    assert_no_panic(&agent);
}

/// `payload` (a PEM PKCS7) with `from` replaced by `to` inside its signed
/// content: what an attacker on the path would do to redirect a host to
/// another bundle.
fn tamper(payload: &str, from: &str, to: &str) -> String {
    assert_eq!(from.len(), to.len());
    let body: String = payload
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let engine = base64::engine::general_purpose::STANDARD;
    let mut der = engine.decode(body).unwrap();
    let at = der
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .expect("the signed content holds the key");
    der[at..at + from.len()].copy_from_slice(to.as_bytes());
    let encoded = engine.encode(der);
    let mut pem = String::from("-----BEGIN PKCS7-----\n");
    for chunk in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PKCS7-----\n");
    pem
}

/// The bundles downloaded under `root`.
fn bundles(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name() == Some("bundle.tar".as_ref()) {
                found.push(path);
            }
        }
    }
    found
}

/// The GetDeploymentSpecification answer with its envelope's payload
/// changed by `f`.
fn envelope_fault(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Fault {
    Fault::rewrite(move |mut answer: Value| {
        let payload = &mut answer["DeploymentSpecification"]["GenericEnvelope"]["Payload"];
        *payload = Value::String(f(payload.as_str().unwrap()));
        answer
    })
}

/// A spec whose signed content was changed, one cut short, and one the
/// service never hands over: each command fails naming why, nothing is
/// downloaded, installed or run, and the agent goes on to run the next
/// good deployment.
#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_truncated_or_unobtainable_spec_runs_nothing_and_the_next_deployment_runs() {
    let faults = Faults::default();
    let bed = Bed::configured(|c| c.faults = faults.clone()).await;
    let host = Host::new();
    let runs = bed.dir.path().join("runs");
    let good = counted_revision(&host, &bed, "v1", "one\n", &runs);
    let evil = counted_revision(&host, &bed, "v0", "evil\n", &runs);
    let agent = bed.agent();
    // The attacker's bundle is in the bucket too: only the signature
    // stands between the host and it.
    bed.s3
        .put_object()
        .bucket("releases")
        .key("shop-0.tgz")
        .body(std::fs::read(evil.pack("tgz")).unwrap().into())
        .send()
        .await
        .unwrap();

    let unobtainable = vec![Fault::server_error(); 4];
    for (what, planned, says) in [
        (
            "tampered",
            vec![envelope_fault(|p| tamper(p, "shop-1.tgz", "shop-0.tgz"))],
            "envelope",
        ),
        (
            "truncated",
            vec![envelope_fault(|p| p[..p.len() / 2].to_owned())],
            "envelope",
        ),
        // Every retry answered with a 500: the event fails, as the official
        // agent fails it, instead of waiting out the host timeout.
        ("never obtained", unobtainable, "GetDeploymentSpecification"),
    ] {
        for fault in planned {
            faults.plan("GetDeploymentSpecification", fault);
        }
        let id = bed.deploy(&good, "shop-1.tgz").await;
        assert_eq!(
            bed.wait_for_end(&id).await,
            "Failed",
            "{what}: {}",
            agent.log()
        );
        let download = target_event(&bed, &id, "DownloadBundle").await;
        let d = download.diagnostics.as_ref().unwrap();
        assert_eq!(
            d.error_code,
            Some(LifecycleErrorCode::UnknownError),
            "{what}"
        );
        assert!(d.message().unwrap().contains(says), "{what}: {d:?}");
        assert!(read_lines(&runs).is_empty(), "{what}: a hook ran");
        assert!(
            !bed.dest().join("index.html").exists(),
            "{what}: a file was installed"
        );
        assert!(
            bundles(&bed.root()).is_empty(),
            "{what}: a bundle was fetched"
        );
        assert_eq!(faults.pending(), 0);
    }
    let log = agent.log();
    assert!(log.contains("signature does not verify"), "{log}");
    assert!(log.contains("not a PEM PKCS7"), "{log}");

    let id = bed.deploy(&good, "shop-1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Succeeded", "{}", agent.log());
    assert_eq!(
        std::fs::read_to_string(bed.dest().join("index.html")).unwrap(),
        "one\n"
    );
    assert_eq!(read_lines(&runs).len(), 4);
    assert_no_panic(&agent);
}

/// PollHostCommand answers with malformed JSON, with a shape the model
/// does not have, with another host's command and with a command of a name
/// no agent knows: each is a clear line in the agent's log (the last also
/// the failed event's message), nothing panics or hangs, and the next
/// deployment runs.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_answers_and_unknown_or_foreign_commands_are_refused_and_polling_goes_on() {
    let faults = Faults::default();
    let bed = Bed::configured(|c| c.faults = faults.clone()).await;
    let host = Host::new();
    let runs = bed.dir.path().join("runs");
    let rev = counted_revision(&host, &bed, "v1", "one\n", &runs);
    let other = serde_json::json!({ "HostCommand": {
        "HostCommandIdentifier": "hc-of-host-2",
        "HostIdentifier": "arn:aws:iam::123456789012:user/host-2",
        "DeploymentExecutionId": "123456789012/us-east-1/d-OTHERHOST/0",
        "CommandName": "BeforeInstall",
        "Nonce": 1,
    }});
    faults.plan("PollHostCommand", Fault::answer(other.to_string()));
    faults.plan(
        "PollHostCommand",
        Fault::answer(r#"{"HostCommand":{"HostCommandIdent"#),
    );
    faults.plan(
        "PollHostCommand",
        Fault::answer(r#"{"HostCommand":"BeforeInstall"}"#),
    );
    let mut agent = bed.agent();

    let until = std::time::Instant::now() + daemon::DEADLINE;
    while faults.pending() > 0 {
        assert!(std::time::Instant::now() < until, "{}", agent.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    faults.plan(
        "PollHostCommand",
        Fault::rewrite_command(|c| c["CommandName"] = "FlyToTheMoon".into()),
    );
    let id = bed.deploy(&rev, "shop-1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Failed", "{}", agent.log());
    let renamed = target_event(&bed, &id, "DownloadBundle").await;
    let d = renamed.diagnostics.as_ref().unwrap();
    assert_eq!(d.error_code, Some(LifecycleErrorCode::UnknownError));
    assert_eq!(
        d.message(),
        Some("Unsupported command type: FlyToTheMoon."),
        "{d:?}"
    );
    assert!(read_lines(&runs).is_empty());

    let id = bed.deploy(&rev, "shop-1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Succeeded", "{}", agent.log());
    assert_eq!(read_lines(&runs).len(), 4);
    assert!(
        // One for the renamed command, then six events: a group's first
        // Install has no ApplicationStop before it.
        faults.calls_of("GetDeploymentSpecification").len() == 1 + 6,
        "another host's command is not even looked up: {:?}",
        faults.calls()
    );

    let log = agent.log();
    assert!(log.contains("refused a command for another host"), "{log}");
    assert!(log.contains("host-2"), "{log}");
    assert_eq!(
        log.matches("PollHostCommand answered with unreadable JSON")
            .count(),
        2,
        "{log}"
    );
    assert!(alive(&mut agent));
    assert_no_panic(&agent);
}
