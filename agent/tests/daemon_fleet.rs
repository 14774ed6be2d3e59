//! Several `slipway-agent run` processes as the hosts of one deployment
//! group, against the CodeDeploy simulator and moto's S3: a failing host
//! under OneAtATime and the automatic rollback the agents carry out,
//! StopDeployment while a hook runs, and full deployments of tar and zip
//! bundles. Each agent starts from the files `slipway-sandbox --agents`
//! writes.

mod common;
mod daemon;

use aws_sdk_codedeploy::types::{LifecycleErrorCode, LifecycleEventStatus, TargetStatus};
use common::{Host, Revision, appspec};
use daemon::fleet::FleetBed;
use daemon::services::Group;
use daemon::wait_for_file;

const ONE_AT_A_TIME: Group = Group {
    config: "CodeDeployDefault.OneAtATime",
    rollback_on_failure: true,
};

const HOOKS: &str = "  ApplicationStop:\n    - location: stop.sh\n      timeout: 60\n\
                     \x20 ApplicationStart:\n    - location: start.sh\n      timeout: 60\n\
                     \x20 ValidateService:\n    - location: validate.sh\n      timeout: 60\n";

/// Revision `name`, whose hooks record on each host, in `$FLEET_DIR/events`,
/// what ran from which revision (and `$FLEET_DIR/running`, the revision
/// started). `validate` is appended to its ValidateService script.
fn revision(host: &Host, name: &str, validate: &str) -> Revision {
    let rev = host.revision(name);
    rev.appspec(&appspec(&[], HOOKS))
        .script(
            "stop.sh",
            &format!("echo 'stop {name}' >> \"$FLEET_DIR/events\""),
        )
        .script(
            "start.sh",
            &format!(
                "echo {name} > \"$FLEET_DIR/running\"\necho 'start {name}' >> \"$FLEET_DIR/events\""
            ),
        )
        .script(
            "validate.sh",
            &format!("echo 'validate {name}' >> \"$FLEET_DIR/events\"\n{validate}"),
        );
    rev
}

fn read(bed: &FleetBed, host: &str, file: &str) -> String {
    std::fs::read_to_string(bed.host_dir(host).join(file)).unwrap_or_default()
}

fn statuses(targets: &[aws_sdk_codedeploy::types::InstanceTarget]) -> Vec<TargetStatus> {
    targets.iter().map(|t| t.status.clone().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_failing_host_of_three_fails_the_deployment_skips_the_rest_and_the_agents_roll_back() {
    let bed = FleetBed::start(3, ONE_AT_A_TIME).await;
    let host = Host::new();
    let _agents = bed.agents();

    let good = revision(&host, "v1", "");
    let v1 = bed.deploy(&good, "tgz").await;
    assert_eq!(bed.wait_for_end(&v1).await, "Succeeded", "{}", bed.logs());

    let bad = revision(
        &host,
        "v2",
        "if [ \"$FLEET_HOST\" = host-2 ]; then echo 'payments unreachable' >&2; exit 9; fi",
    );
    let v2 = bed.deploy(&bad, "tgz").await;
    assert_eq!(bed.wait_for_end(&v2).await, "Failed", "{}", bed.logs());
    let targets = bed.targets(&v2).await;
    assert_eq!(
        statuses(&targets),
        [
            TargetStatus::Succeeded,
            TargetStatus::Failed,
            TargetStatus::Skipped
        ]
    );
    let validate = targets[1]
        .lifecycle_events()
        .iter()
        .find(|e| e.lifecycle_event_name() == Some("ValidateService"))
        .unwrap();
    let diagnostics = validate.diagnostics.as_ref().unwrap();
    assert_eq!(
        diagnostics.error_code,
        Some(LifecycleErrorCode::ScriptFailed)
    );
    assert!(
        diagnostics.message().unwrap().contains("exit code 9"),
        "{diagnostics:?}"
    );
    assert!(
        diagnostics
            .log_tail()
            .unwrap()
            .contains("payments unreachable")
    );
    assert!(
        targets[2]
            .lifecycle_events()
            .iter()
            .all(|e| e.status == Some(LifecycleEventStatus::Skipped)),
        "host-3 ran nothing of v2"
    );

    // CodeDeploy redeploys v1 to every host, and the agents run it.
    let rollback = bed.rollback_of(&v2).await;
    assert_eq!(
        bed.deployment(&rollback).await.creator.unwrap().as_str(),
        "codeDeployRollback"
    );
    for name in ["host-1", "host-2", "host-3"] {
        assert_eq!(read(&bed, name, "running"), "v1\n", "{name}");
    }
    // ApplicationStop runs from the revision of the last successful Install,
    // as the official agent's does: v2's on host-2, whose v2 failed later.
    assert_eq!(
        read(&bed, "host-1", "events"),
        "start v1\nvalidate v1\nstop v1\nstart v2\nvalidate v2\nstop v2\nstart v1\nvalidate v1\n"
    );
    assert_eq!(
        read(&bed, "host-2", "events"),
        "start v1\nvalidate v1\nstop v1\nstart v2\nvalidate v2\nstop v2\nstart v1\nvalidate v1\n"
    );
    assert_eq!(
        read(&bed, "host-3", "events"),
        "start v1\nvalidate v1\nstop v1\nstart v1\nvalidate v1\n"
    );
}

/// StopDeployment as real CodeDeploy does it: no new commands go out, but
/// the event in flight is not interrupted (the agent is never told; the
/// official agent has no way to be): the hook runs to its end, the host
/// reports it, and only then is the deployment Stopped, its later events
/// and hosts Skipped. With rollback asked for, the agents then carry the
/// last good revision back.
#[tokio::test(flavor = "multi_thread")]
async fn stop_deployment_while_a_hook_runs_lets_it_finish_then_stops_and_rolls_back() {
    let bed = FleetBed::start(2, ONE_AT_A_TIME).await;
    let host = Host::new();
    let _agents = bed.agents();
    let v1 = bed.deploy(&revision(&host, "v1", ""), "tgz").await;
    assert_eq!(bed.wait_for_end(&v1).await, "Succeeded", "{}", bed.logs());

    // v2's ApplicationStart waits for the test's go (bounded by its own
    // loop, so a failed test cannot leave it running for long).
    let slow = revision(&host, "v2", "");
    slow.script(
        "start.sh",
        "touch \"$FLEET_DIR/in-hook\"\n\
         i=0; while [ ! -e \"$FLEET_DIR/go\" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n\
         echo v2 > \"$FLEET_DIR/running\"\necho 'start v2' >> \"$FLEET_DIR/events\"",
    );
    let v2 = bed.deploy(&slow, "tgz").await;
    let in_hook = bed.host_dir("host-1").join("in-hook");
    wait_for_file(&in_hook).await;

    let stop = bed
        .codedeploy
        .stop_deployment()
        .deployment_id(&v2)
        .auto_rollback_enabled(true)
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status.unwrap().as_str(), "Pending");
    assert_eq!(
        bed.sim.deployment_status(&v2).as_deref(),
        Some("InProgress"),
        "the event in flight holds the deployment"
    );
    std::fs::write(bed.host_dir("host-1").join("go"), "").unwrap();
    assert_eq!(bed.wait_for_end(&v2).await, "Stopped", "{}", bed.logs());

    let stopped = bed.deployment(&v2).await;
    assert_eq!(
        stopped.error_information.unwrap().code.unwrap().as_str(),
        "MANUAL_STOP"
    );
    let targets = bed.targets(&v2).await;
    assert_eq!(
        statuses(&targets),
        [TargetStatus::Skipped, TargetStatus::Skipped]
    );
    let events = targets[0].lifecycle_events();
    let status_of = |name: &str| {
        events
            .iter()
            .find(|e| e.lifecycle_event_name() == Some(name))
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(
        status_of("ApplicationStart"),
        Some(LifecycleEventStatus::Succeeded),
        "the hook in flight ran to its end and was reported"
    );
    assert_eq!(
        status_of("ValidateService"),
        Some(LifecycleEventStatus::Skipped)
    );

    bed.rollback_of(&v2).await;
    assert_eq!(
        read(&bed, "host-1", "events"),
        "start v1\nvalidate v1\nstop v1\nstart v2\nstop v2\nstart v1\nvalidate v1\n",
        "v2 was never validated; the rollback ran on host-1"
    );
    assert_eq!(
        read(&bed, "host-2", "events"),
        "start v1\nvalidate v1\nstop v1\nstart v1\nvalidate v1\n",
        "host-2 ran nothing of v2"
    );
}

/// A revision installing `index.html` into the one host's `www`.
fn site(bed: &FleetBed, host: &Host, name: &str) -> Revision {
    let rev = revision(host, name, "");
    let www = bed.host_dir("host-1").join("www");
    rev.appspec(&appspec(&[("index.html", www.to_str().unwrap())], HOOKS))
        .file("index.html", &format!("{name}\n"));
    rev
}

#[tokio::test(flavor = "multi_thread")]
async fn tar_and_zip_bundles_deploy_in_full() {
    let bed = FleetBed::start(1, ONE_AT_A_TIME).await;
    let host = Host::new();
    let _agents = bed.agents();
    let www = bed.host_dir("host-1").join("www/index.html");

    let tar = bed.deploy(&site(&bed, &host, "v1"), "tar").await;
    assert_eq!(bed.wait_for_end(&tar).await, "Succeeded", "{}", bed.logs());
    assert_eq!(std::fs::read_to_string(&www).unwrap(), "v1\n");

    let zip = bed.deploy(&site(&bed, &host, "v2"), "zip").await;
    assert_eq!(bed.wait_for_end(&zip).await, "Succeeded", "{}", bed.logs());
    assert_eq!(std::fs::read_to_string(&www).unwrap(), "v2\n");
    let events = bed.targets(&zip).await[0].lifecycle_events().to_vec();
    assert_eq!(events.len(), 7);
    assert!(
        events
            .iter()
            .all(|e| e.status == Some(LifecycleEventStatus::Succeeded)),
        "{events:?}"
    );
    assert_eq!(
        read(&bed, "host-1", "events"),
        "start v1\nvalidate v1\nstop v1\nstart v2\nvalidate v2\n"
    );
}
