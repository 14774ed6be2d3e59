//! The scripted host against the real simulator: the command protocol end
//! to end, through both envelope formats.

mod fleet;

use std::time::Duration;

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use fleet::Fleet;
use slipway_tests::codedeploy::EnvelopeFormat;
use slipway_tests::scripted_host::{Ending, Handled, Outcome, Script, ScriptedHost};

const DEADLINE: Duration = Duration::from_secs(60);

/// A fleet whose long polls last 5 s, so an idle host re-polls often.
async fn fleet(hosts: usize, config: &str, envelope: EnvelopeFormat) -> Fleet {
    Fleet::start(hosts, config, envelope, Duration::from_secs(5))
        .await
        .unwrap()
}

fn events_of(handled: &[Handled], deployment_id: &str) -> Vec<String> {
    handled
        .iter()
        .filter(|h| h.spec.deployment_id == deployment_id)
        .map(|h| h.event.clone())
        .collect()
}

/// Two hosts take two deployments in turn; the spec arrives as streamed
/// PKCS7 and names the deployment, and ApplicationStop runs only once the
/// host has a previous revision.
#[tokio::test]
async fn scripted_hosts_carry_signed_deployments_to_succeeded() {
    let fleet = fleet(2, "CodeDeployDefault.AllAtOnce", EnvelopeFormat::Pkcs7Json).await;
    let hosts = fleet.spawn_hosts(|_| Script::all(Outcome::Succeed(Duration::ZERO)));

    let first = fleet.deploy("shop-1.tgz").await.unwrap();
    assert_eq!(
        fleet.wait_for_end(&first, DEADLINE).await.unwrap(),
        "Succeeded"
    );
    let second = fleet.deploy("shop-2.tgz").await.unwrap();
    assert_eq!(
        fleet.wait_for_end(&second, DEADLINE).await.unwrap(),
        "Succeeded"
    );

    let first_time = [
        "DownloadBundle",
        "BeforeInstall",
        "Install",
        "AfterInstall",
        "ApplicationStart",
        "ValidateService",
    ];
    for host in &hosts {
        assert!(host.errors().is_empty(), "{:?}", host.errors());
        // The simulator ends the deployment on the last completion, a
        // moment before the host records it.
        let handled = host
            .wait_until(DEADLINE, |h| events_of(h, &second).len() == 7)
            .await
            .unwrap();
        assert_eq!(events_of(&handled, &first), first_time);
        let mut again = vec!["ApplicationStop"];
        again.extend(first_time);
        assert_eq!(events_of(&handled, &second), again);
        for h in &handled {
            assert_eq!(h.envelope_format, "PKCS7/JSON");
            assert_eq!(h.ending, Ending::Completed("Succeeded".to_owned()));
            assert_eq!(h.spec.application_name, "shop");
            assert_eq!(h.spec.deployment_group_name, "web");
            assert_eq!(h.spec.creator, "user");
        }
    }
}

/// With TEXT/JSON envelopes, a host whose ApplicationStart fails fails the
/// deployment, and the agent's diagnostics reach the lifecycle event.
#[tokio::test]
async fn a_failing_script_reaches_the_targets_diagnostics() {
    let fleet = fleet(1, "CodeDeployDefault.OneAtATime", EnvelopeFormat::TextJson).await;
    let failing = Script::noop().on(
        "ApplicationStart",
        Outcome::script_failed("scripts/start.sh", 2),
    );
    let hosts = fleet.spawn_hosts(|_| failing.clone());
    let id = fleet.deploy("shop-1.tgz").await.unwrap();
    assert_eq!(fleet.wait_for_end(&id, DEADLINE).await.unwrap(), "Failed");

    let handled = hosts[0]
        .wait_until(DEADLINE, |h| {
            h.iter().any(|h| h.event == "ApplicationStart")
        })
        .await
        .unwrap();
    assert!(handled.iter().all(|h| h.envelope_format == "TEXT/JSON"));
    assert_eq!(handled.last().unwrap().event, "ApplicationStart");

    let events = fleet.lifecycle_events(&id, "host-000").await.unwrap();
    let start = events
        .iter()
        .find(|e| e.lifecycle_event_name() == Some("ApplicationStart"))
        .unwrap();
    assert_eq!(start.status(), Some(&LifecycleEventStatus::Failed));
    let diagnostics = start.diagnostics().unwrap();
    assert_eq!(
        diagnostics.error_code().map(|c| c.as_str()),
        Some("ScriptFailed")
    );
    assert_eq!(diagnostics.script_name(), Some("scripts/start.sh"));
    assert_eq!(
        diagnostics.message(),
        Some("Script at specified location: scripts/start.sh failed with exit code 2")
    );
    assert_eq!(
        diagnostics.log_tail(),
        Some("[stderr]scripts/start.sh: exit 2\n")
    );
}

/// A command the simulator gave up on (its host timed out between poll and
/// ack) is not run: the ack answers Failed and the host skips it, as the
/// agent does.
#[tokio::test]
async fn a_command_abandoned_before_its_ack_is_skipped() {
    let fleet = fleet(1, "CodeDeployDefault.OneAtATime", EnvelopeFormat::Pkcs7Json).await;
    fleet.sim.set_host_timeout(Duration::from_millis(200));
    let host = ScriptedHost::new(
        fleet.hosts[0].clone(),
        Script::all(Outcome::Succeed(Duration::ZERO)),
    );
    let id = fleet.deploy("shop-1.tgz").await.unwrap();
    let command = host.poll().await.unwrap().expect("a command");
    assert_eq!(command.command_name.as_deref(), Some("DownloadBundle"));
    assert_eq!(fleet.wait_for_end(&id, DEADLINE).await.unwrap(), "Failed");

    let handled = host.handle(command).await.unwrap();
    assert_eq!(handled.ending, Ending::SkippedByAck("Failed".to_owned()));
}

/// A host that acknowledges an event and never completes it is failed by
/// the simulator's host timeout.
#[tokio::test]
async fn a_hung_script_is_failed_by_the_host_timeout() {
    let fleet = fleet(1, "CodeDeployDefault.OneAtATime", EnvelopeFormat::Pkcs7Json).await;
    // The first event hangs, so no earlier one can be what times out. The
    // timeout is expired by hand once the host has acknowledged the event,
    // so no timer has to outlast the poll, spec fetch and ack.
    let hosts = fleet.spawn_hosts(|_| Script::noop().on("DownloadBundle", Outcome::Hang));
    let id = fleet.deploy("shop-1.tgz").await.unwrap();
    let host = fleet.hosts[0].host_identifier.clone();
    let deadline = std::time::Instant::now() + DEADLINE;
    while fleet.sim.acknowledged_events(&host) != ["DownloadBundle"] {
        assert!(
            std::time::Instant::now() < deadline,
            "DownloadBundle never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fleet.sim.expire_commands(&host), 1);
    let status = tokio::time::timeout(DEADLINE, fleet.sim.watch(&id).finished())
        .await
        .expect("the deployment ends");
    assert_eq!(status, "Failed");
    let handled = hosts[0]
        .wait_until(DEADLINE, |h| !h.is_empty())
        .await
        .unwrap();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert_eq!(handled[0].event, "DownloadBundle");
    assert_eq!(handled[0].ending, Ending::Hung);
}
