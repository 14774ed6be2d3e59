//! `slipway-agent run` as a real process against the CodeDeploy simulator
//! and moto's S3: deployments, failures reported with their diagnostics,
//! recovery after a kill, and the status API.

mod common;
mod daemon;

use aws_sdk_codedeploy::types::{LifecycleErrorCode, LifecycleEventStatus};
use common::{Host, appspec};
use daemon::{Bed, wait_for_file};

/// A revision installing `index.html` into the bed's dest, with the given hooks.
fn revision(host: &Host, bed: &Bed, name: &str, body: &str, hooks: &str) -> common::Revision {
    let dest = bed.dest();
    let rev = host.revision(name);
    rev.appspec(&appspec(&[("index.html", dest.to_str().unwrap())], hooks))
        .file("index.html", body);
    rev
}

/// A revision whose AfterInstall hook writes its pid (its process group's
/// id) to the returned marker file, then sleeps for ten minutes.
fn slow_revision(host: &Host, bed: &Bed) -> (common::Revision, std::path::PathBuf) {
    let marker = bed.dir.path().join("hook-pid");
    let hooks = "  AfterInstall:\n    - location: slow.sh\n      timeout: 600\n";
    let rev = revision(host, bed, "v1", "one\n", hooks);
    rev.script(
        "slow.sh",
        &format!("echo $$ > {}\nexec sleep 600", marker.display()),
    );
    (rev, marker)
}

/// The process group the slow hook wrote to `marker`.
fn hook_group(marker: &std::path::Path) -> i32 {
    std::fs::read_to_string(marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_succeeds_and_the_next_one_stops_the_previous_revision() {
    let bed = Bed::start().await;
    let host = Host::new();
    let stopped = bed.dir.path().join("stopped-by");
    let stop_hook = "  ApplicationStop:\n    - location: stop.sh\n      timeout: 30\n";
    let first = revision(&host, &bed, "v1", "one\n", stop_hook);
    first.script("stop.sh", &format!("echo v1 > {}", stopped.display()));
    let mut agent = bed.agent();

    let id = bed.deploy(&first, "shop-1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Succeeded", "{}", agent.log());
    assert_eq!(
        std::fs::read_to_string(bed.dest().join("index.html")).unwrap(),
        "one\n"
    );
    assert!(
        !stopped.exists(),
        "no previous revision, no ApplicationStop"
    );

    let second = revision(&host, &bed, "v2", "two\n", stop_hook);
    second.script("stop.sh", &format!("echo v2 > {}", stopped.display()));
    let id2 = bed.deploy(&second, "shop-2.tgz").await;
    assert_eq!(bed.wait_for_end(&id2).await, "Succeeded", "{}", agent.log());
    assert_eq!(
        std::fs::read_to_string(bed.dest().join("index.html")).unwrap(),
        "two\n"
    );
    assert_eq!(std::fs::read_to_string(&stopped).unwrap(), "v1\n");
    let events = bed.lifecycle_events(&id2).await;
    assert_eq!(events.len(), 7);
    assert!(
        events
            .iter()
            .all(|e| e.status == Some(LifecycleEventStatus::Succeeded))
    );

    // The status API shows the last deployment and counts the commands (the
    // first deployment had no ApplicationStop to run: 6 + 7).
    let status: serde_json::Value = serde_json::from_str(&bed.status_api("/status").await).unwrap();
    assert_eq!(status["last_deployment"]["deployment_id"], id2.as_str());
    assert_eq!(
        status["last_deployment"]["events"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    let deployments: serde_json::Value =
        serde_json::from_str(&bed.status_api("/deployments").await).unwrap();
    assert_eq!(deployments.as_array().unwrap().len(), 2);
    assert_eq!(bed.status_api("/healthz").await, "ok\n");
    let metrics = bed.status_api("/metrics").await;
    assert!(
        metrics.contains("slipway_agent_commands_total{result=\"Succeeded\"} 13\n"),
        "{metrics}"
    );
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
        .arg("status")
        .arg("--config")
        .arg(bed.config_path())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&id2) && table.contains("ValidateService"),
        "{table}"
    );

    // SIGTERM while idle: the agent stops polling and exits cleanly.
    assert!(agent.terminate().success(), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains(&id2),
        "deployment ids appear in the log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_hook_reports_its_diagnostics_to_the_lifecycle_event() {
    let bed = Bed::start().await;
    let host = Host::new();
    let hooks = "  ApplicationStart:\n    - location: start.sh\n      timeout: 30\n";
    let rev = revision(&host, &bed, "v1", "one\n", hooks);
    rev.script("start.sh", "echo starting\necho port taken >&2\nexit 3");
    let agent = bed.agent();

    let id = bed.deploy(&rev, "shop-1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Failed", "{}", agent.log());
    let start = bed.lifecycle_event(&id, "ApplicationStart").await;
    assert_eq!(start.status, Some(LifecycleEventStatus::Failed));
    let diagnostics = start.diagnostics.as_ref().unwrap();
    assert_eq!(
        diagnostics.error_code,
        Some(LifecycleErrorCode::ScriptFailed)
    );
    assert_eq!(diagnostics.script_name(), Some("start.sh"));
    assert!(
        diagnostics.message().unwrap().contains("exit code 3"),
        "{diagnostics:?}"
    );
    let tail = diagnostics.log_tail().unwrap();
    assert!(
        tail.contains("port taken") && tail.contains("starting"),
        "{tail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_killed_mid_hook_fails_the_event_after_restart() {
    let bed = Bed::start().await;
    let host = Host::new();
    let (rev, marker) = slow_revision(&host, &bed);
    let mut agent = bed.agent();

    let id = bed.deploy(&rev, "shop-1.tgz").await;
    wait_for_file(&marker).await;
    agent.kill();
    // The official agent leaves the hook running too; end it for the test.
    let pgid = hook_group(&marker);
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let tracking = bed.root().join("ongoing-deployment").join(&id);
    assert!(tracking.is_file(), "the tracking file names the deployment");

    let restarted = bed.agent();
    assert_eq!(bed.wait_for_end(&id).await, "Failed", "{}", restarted.log());
    let after = bed.lifecycle_event(&id, "AfterInstall").await;
    let diagnostics = after.diagnostics.as_ref().unwrap();
    assert_eq!(
        diagnostics.error_code,
        Some(LifecycleErrorCode::UnknownError)
    );
    // The official agent's words, as its PutHostCommandComplete carries them.
    assert_eq!(
        diagnostics.message(),
        Some("Failed: Failing in-progress lifecycle event after an agent restart."),
        "{diagnostics:?}"
    );
    assert!(!tracking.exists());
}

/// SIGTERM while a hook runs: polling stops, the hook gets the grace period
/// (`kill_agent_max_wait_time_seconds`, 5 s here), then its process group
/// is ended and the event is reported failed before the agent exits.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_hook_ends_the_hook_after_the_grace_and_reports_it() {
    let bed = Bed::start().await;
    let host = Host::new();
    let (rev, marker) = slow_revision(&host, &bed);
    let mut agent = bed.agent();

    let id = bed.deploy(&rev, "shop-1.tgz").await;
    wait_for_file(&marker).await;
    let status = tokio::task::block_in_place(|| agent.terminate());
    assert!(status.success(), "{}", agent.log());
    let pgid = hook_group(&marker);
    // SAFETY: signal 0 only checks existence.
    assert_ne!(
        unsafe { libc::kill(-pgid, 0) },
        0,
        "the hook's group is gone"
    );
    assert_eq!(bed.wait_for_end(&id).await, "Failed");
    let after = bed.lifecycle_event(&id, "AfterInstall").await;
    assert_eq!(after.status, Some(LifecycleEventStatus::Failed));
    assert!(
        !bed.root().join("ongoing-deployment").join(&id).exists(),
        "a reported command leaves no tracking file"
    );
}
