//! Deployments carried by scripted hosts over the real command protocol
//! (SigV4-signed, PKCS7 specs): OneAtATime to Succeeded, a failing host with
//! Skipped hosts and an automatic rollback, StopDeployment, a host timeout,
//! a repeated completion, and the AWS CLI's `deploy wait`.

mod fleet;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_codedeploy::error::ProvideErrorMetadata;
use aws_sdk_codedeploy::types::{
    AutoRollbackConfiguration, AutoRollbackEvent, DeploymentInfo, InstanceTarget,
    LifecycleEventStatus, TargetStatus,
};
use fleet::{APPLICATION, Fleet, GROUP};
use slipway_tests::codedeploy::EnvelopeFormat;
use slipway_tests::credentials::IssuedCredential;
use slipway_tests::scripted_host::{
    CommandStatus, Gate, HostCommand, HostConfig, Outcome, Script, ScriptedHost,
};

const DEADLINE: Duration = Duration::from_secs(60);
/// Short, so a test's last open poll does not hold the simulator up.
const POLL_WAIT: Duration = Duration::from_secs(2);

async fn fleet(hosts: usize) -> Fleet {
    Fleet::start(
        hosts,
        "CodeDeployDefault.OneAtATime",
        EnvelopeFormat::Pkcs7Json,
        POLL_WAIT,
    )
    .await
    .expect("fleet starts")
}

async fn info(fleet: &Fleet, id: &str) -> DeploymentInfo {
    fleet
        .codedeploy
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .unwrap()
        .deployment_info
        .unwrap()
}

async fn targets(fleet: &Fleet, id: &str) -> Vec<InstanceTarget> {
    let ids = fleet
        .codedeploy
        .list_deployment_targets()
        .deployment_id(id)
        .send()
        .await
        .unwrap()
        .target_ids
        .unwrap_or_default();
    let mut targets: Vec<InstanceTarget> = fleet
        .codedeploy
        .batch_get_deployment_targets()
        .deployment_id(id)
        .set_target_ids(Some(ids))
        .send()
        .await
        .unwrap()
        .deployment_targets
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| t.instance_target)
        .collect();
    targets.sort_by(|a, b| a.target_id.cmp(&b.target_id));
    targets
}

fn statuses(targets: &[InstanceTarget]) -> Vec<&str> {
    targets
        .iter()
        .map(|t| t.status.as_ref().unwrap().as_str())
        .collect()
}

async fn finish(fleet: &Fleet, id: &str) -> String {
    fleet.wait_for_end(id, DEADLINE).await.unwrap()
}

async fn enable_rollback(fleet: &Fleet, event: AutoRollbackEvent) {
    fleet
        .codedeploy
        .update_deployment_group()
        .application_name(APPLICATION)
        .current_deployment_group_name(GROUP)
        .auto_rollback_configuration(
            AutoRollbackConfiguration::builder()
                .enabled(true)
                .events(event)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn three_hosts_one_at_a_time_reach_succeeded() {
    let fleet = fleet(3).await;
    let _hosts = fleet.spawn_hosts(|_| Script::noop());
    let id = fleet.deploy("shop-1.tgz").await.unwrap();
    assert_eq!(finish(&fleet, &id).await, "Succeeded");

    let targets = targets(&fleet, &id).await;
    assert_eq!(statuses(&targets), ["Succeeded"; 3]);
    for t in &targets {
        let events = t.lifecycle_events();
        assert_eq!(events.len(), 7);
        assert_eq!(events[0].status, Some(LifecycleEventStatus::Skipped));
        assert!(
            events[1..]
                .iter()
                .all(|e| e.status == Some(LifecycleEventStatus::Succeeded))
        );
        let diagnostics = events[3].diagnostics.as_ref().unwrap();
        assert_eq!(diagnostics.error_code.as_ref().unwrap().as_str(), "Success");
    }
    // One at a time: each host starts after the one before it ended.
    for pair in targets.windows(2) {
        let ended = pair[0].lifecycle_events().last().unwrap().end_time.unwrap();
        let started = pair[1].lifecycle_events()[1].start_time.unwrap();
        assert!(
            started >= ended,
            "{:?} overlapped {:?}",
            pair[1].target_id,
            pair[0].target_id
        );
    }
    let overview = info(&fleet, &id).await.deployment_overview.unwrap();
    assert_eq!(overview.succeeded, 3);
}

#[tokio::test]
async fn a_failing_host_fails_the_deployment_skips_the_rest_and_rolls_back() {
    let fleet = fleet(3).await;
    enable_rollback(&fleet, AutoRollbackEvent::DeploymentFailure).await;
    let mut hosts = fleet.spawn_hosts(|_| Script::noop());
    let good = fleet.deploy("shop-1.tgz").await.unwrap();
    assert_eq!(finish(&fleet, &good).await, "Succeeded");

    // host-001 goes through the failing deployment by hand: with no poller
    // of its own, the rollback's command for it waits until the healthy
    // host-001 below polls, however slow the machine.
    hosts[1].stop();
    let fail = Outcome::script_failed("scripts/start_server", 3);
    let by_hand = ScriptedHost::new(
        fleet.hosts[1].clone(),
        Script::noop().on("ApplicationStart", fail),
    );
    let bad = fleet.deploy("shop-2.tgz").await.unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "host-001 never reached ApplicationStart"
        );
        let Some(command) = by_hand.poll().await.unwrap() else {
            continue;
        };
        if by_hand.handle(command).await.unwrap().event == "ApplicationStart" {
            break;
        }
    }
    assert_eq!(finish(&fleet, &bad).await, "Failed");
    hosts[1] = ScriptedHost::new(fleet.hosts[1].clone(), Script::noop()).spawn();

    let failed = info(&fleet, &bad).await;
    let error = failed.error_information.unwrap();
    assert_eq!(error.code.unwrap().as_str(), "HEALTH_CONSTRAINTS");
    let targets = targets(&fleet, &bad).await;
    assert_eq!(statuses(&targets), ["Succeeded", "Failed", "Skipped"]);
    let start = &targets[1].lifecycle_events()[5];
    assert_eq!(
        start.lifecycle_event_name.as_deref(),
        Some("ApplicationStart")
    );
    let diagnostics = start.diagnostics.as_ref().unwrap();
    assert_eq!(
        diagnostics.error_code.as_ref().unwrap().as_str(),
        "ScriptFailed"
    );
    assert_eq!(
        diagnostics.script_name.as_deref(),
        Some("scripts/start_server")
    );
    assert!(diagnostics.log_tail.as_deref().unwrap().contains("exit 3"));
    assert_eq!(
        targets[2].lifecycle_events()[1].status,
        Some(LifecycleEventStatus::Skipped)
    );

    let rollback_id = failed
        .rollback_info
        .unwrap()
        .rollback_deployment_id
        .expect("a rollback deployment");
    assert_eq!(finish(&fleet, &rollback_id).await, "Succeeded");
    let rollback = info(&fleet, &rollback_id).await;
    assert_eq!(rollback.creator.unwrap().as_str(), "codeDeployRollback");
    assert_eq!(
        rollback
            .rollback_info
            .unwrap()
            .rollback_triggering_deployment_id,
        Some(bad.clone())
    );
    let key = rollback.revision.unwrap().s3_location.unwrap().key;
    assert_eq!(key.as_deref(), Some("shop-1.tgz"));
}

#[tokio::test]
async fn stop_deployment_stops_after_the_event_in_flight_and_rolls_back() {
    let fleet = fleet(2).await;
    let hosts = fleet.spawn_hosts(|_| Script::noop());
    let good = fleet.deploy("shop-1.tgz").await.unwrap();
    assert_eq!(finish(&fleet, &good).await, "Succeeded");

    // The event stays in flight until the stop has landed.
    let gate = Gate::new();
    hosts[0]
        .host()
        .set_script(Script::noop().on("BeforeInstall", Outcome::WaitFor(gate.clone())));
    let id = fleet.deploy("shop-2.tgz").await.unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let events = fleet
            .lifecycle_events(&id, "host-000")
            .await
            .unwrap_or_default();
        let in_before_install = events
            .get(2)
            .is_some_and(|e| e.status == Some(LifecycleEventStatus::InProgress));
        if in_before_install {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "BeforeInstall never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let limited = fleet
        .codedeploy
        .create_deployment()
        .application_name(APPLICATION)
        .deployment_group_name(GROUP)
        .send()
        .await
        .unwrap_err();
    assert_eq!(limited.code(), Some("DeploymentLimitExceededException"));

    let stop = fleet
        .codedeploy
        .stop_deployment()
        .deployment_id(&id)
        .auto_rollback_enabled(true)
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status.unwrap().as_str(), "Pending");
    // The rollback runs without hooks; then the event in flight finishes.
    hosts[0].host().set_script(Script::noop());
    assert_eq!(fleet.sim.watch(&id).status().as_deref(), Some("InProgress"));
    gate.open();
    assert_eq!(finish(&fleet, &id).await, "Stopped");
    let stopped = info(&fleet, &id).await;
    assert_eq!(
        stopped.error_information.unwrap().code.unwrap().as_str(),
        "MANUAL_STOP"
    );
    let targets = targets(&fleet, &id).await;
    assert_eq!(statuses(&targets), ["Skipped", "Skipped"]);
    assert_eq!(
        targets[0].lifecycle_events()[2].status,
        Some(LifecycleEventStatus::Succeeded),
        "the event in flight finishes"
    );
    let rollback = stopped
        .rollback_info
        .unwrap()
        .rollback_deployment_id
        .unwrap();
    assert_eq!(finish(&fleet, &rollback).await, "Succeeded");
}

#[tokio::test]
async fn a_host_that_never_answers_fails_at_the_host_timeout() {
    let fleet = fleet(2).await;
    fleet.sim.set_host_timeout(Duration::from_millis(300));
    let _hosts = fleet.spawn_hosts(|i| match i {
        // The first event it is sent, so no healthy event races the timer.
        0 => Script::noop().on("DownloadBundle", Outcome::NeverAnswer),
        _ => Script::noop(),
    });
    let id = fleet.deploy("shop-1.tgz").await.unwrap();
    assert_eq!(finish(&fleet, &id).await, "Failed");
    let targets = targets(&fleet, &id).await;
    assert_eq!(
        targets
            .iter()
            .map(|t| t.status.clone().unwrap())
            .collect::<Vec<_>>(),
        [TargetStatus::Failed, TargetStatus::Skipped]
    );
    let event = &targets[0].lifecycle_events()[1];
    assert_eq!(
        event.lifecycle_event_name.as_deref(),
        Some("DownloadBundle")
    );
    assert_eq!(event.status, Some(LifecycleEventStatus::Failed));
    let diagnostics = event.diagnostics.as_ref().unwrap();
    assert_eq!(
        diagnostics.error_code.as_ref().unwrap().as_str(),
        "UnknownError"
    );
    assert!(diagnostics.message.as_deref().unwrap().contains("agent"));
}

/// Deploys to a one-host fleet and polls, by hand, the first command.
async fn first_command(fleet: &Fleet) -> (ScriptedHost, HostCommand) {
    let host = ScriptedHost::new(fleet.hosts[0].clone(), Script::noop());
    fleet.deploy("shop-1.tgz").await.unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        if let Some(c) = host.poll().await.unwrap() {
            return (host, c);
        }
        // Each poll waits up to POLL_WAIT, so this is not a busy loop.
        assert!(
            std::time::Instant::now() < deadline,
            "no command within {DEADLINE:?}"
        );
    }
}

#[tokio::test]
async fn completing_a_command_twice_is_a_client_exception() {
    let fleet = fleet(1).await;
    let (host, command) = first_command(&fleet).await;
    let client = host.client();
    let id = &command.host_command_identifier;
    let status = client
        .put_host_command_acknowledgement(id, None)
        .await
        .unwrap();
    assert_eq!(status, Some(CommandStatus::InProgress));
    client
        .put_host_command_complete(id, CommandStatus::Succeeded, None)
        .await
        .unwrap();
    let again = client
        .put_host_command_complete(id, CommandStatus::Succeeded, None)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), Some("ClientException"), "{again:?}");
}

/// PostHostCommandUpdate, which the Ruby agent never sends, reports the central
/// status of the command: in progress while the host runs it, then its end.
#[tokio::test]
async fn a_host_command_update_reports_the_central_status() {
    let fleet = fleet(1).await;
    let (host, command) = first_command(&fleet).await;
    let client = host.client();
    let id = &command.host_command_identifier;
    client
        .put_host_command_acknowledgement(id, None)
        .await
        .unwrap();
    let soon = std::time::SystemTime::now() + Duration::from_secs(30);
    let running = client
        .post_host_command_update(id, Some(soon), None)
        .await
        .unwrap();
    assert_eq!(running, Some(CommandStatus::InProgress));
    client
        .put_host_command_complete(id, CommandStatus::Succeeded, None)
        .await
        .unwrap();
    let done = client
        .post_host_command_update(id, None, None)
        .await
        .unwrap();
    assert_eq!(done, Some(CommandStatus::Succeeded));
    let unknown = client
        .post_host_command_update("no-such-command", None, None)
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), Some("ClientException"), "{unknown:?}");
}

/// The CLI's waiter model with a 1 s delay instead of 15 s, in a directory
/// for `AWS_DATA_PATH`, which botocore searches before its own models.
fn fast_waiters(dir: &Path) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/lib");
    let python = std::fs::read_dir(&venv)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .expect("a python3.x in .venv/lib (run scripts/setup)")
        .path();
    let model = python.join("site-packages/botocore/data/codedeploy/2014-10-06/waiters-2.json");
    let mut waiters: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model).unwrap()).unwrap();
    waiters["waiters"]["DeploymentSuccessful"]["delay"] = 1.into();
    let target = dir.join("codedeploy/2014-10-06");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("waiters-2.json"), waiters.to_string()).unwrap();
    dir.to_owned()
}

#[tokio::test]
async fn aws_cli_waits_for_a_deployment_through_the_sandbox() {
    let sandbox = slipway_tests::Sandbox::builder()
        .without_moto()
        .codedeploy_poll_wait(POLL_WAIT)
        .start()
        .await
        .unwrap();
    let cd = sandbox.codedeploy();
    let iam_arn = "arn:aws:iam::123456789012:user/web-1";
    let key = IssuedCredential {
        access_key_id: "AKIAWEBHOST000000001".to_owned(),
        secret_access_key: "web-host-secret-0123456789abcdef".to_owned(),
        session_token: None,
        expiration: None,
        principal_arn: iam_arn.to_owned(),
    };
    sandbox.credential_store().insert(key.clone());
    cd.register_on_premises_instance("web-1", iam_arn, &[("role", "web")]);
    let host = HostConfig::new(sandbox.codedeploy_endpoint(), "us-east-1", iam_arn, key);
    let running = ScriptedHost::new(host, Script::noop()).spawn();

    let dir = tempfile::tempdir().unwrap();
    let cli = Cli {
        env: sandbox.env(),
        data_path: fast_waiters(dir.path()),
        home: dir.path().to_owned(),
    };
    cli.ok(&["deploy", "create-application", "--application-name", "shop"])
        .await;
    cli.ok(&[
        "deploy",
        "create-deployment-group",
        "--application-name",
        "shop",
        "--deployment-group-name",
        "web",
        "--service-role-arn",
        "arn:aws:iam::123456789012:role/codedeploy",
        "--on-premises-instance-tag-filters",
        "Key=role,Value=web,Type=KEY_AND_VALUE",
    ])
    .await;
    let id = cli.deploy("shop-1.tgz").await;
    cli.ok(&[
        "deploy",
        "wait",
        "deployment-successful",
        "--deployment-id",
        &id,
    ])
    .await;
    assert_eq!(cd.deployment_status(&id).as_deref(), Some("Succeeded"));

    running
        .host()
        .set_script(Script::noop().on("Install", Outcome::script_failed("install", 1)));
    let id = cli.deploy("shop-2.tgz").await;
    let wait = [
        "deploy",
        "wait",
        "deployment-successful",
        "--deployment-id",
        &id,
    ];
    let (code, out, err) = cli.run(&wait).await;
    assert_ne!(
        code,
        Some(0),
        "the waiter accepted a failed deployment: {out}{err}"
    );
    assert!(err.contains("terminal failure state"), "{err}");
    running.stop();
}

/// The AWS CLI from `.venv`, given nothing but the sandbox's environment.
struct Cli {
    env: Vec<(String, String)>,
    data_path: PathBuf,
    home: PathBuf,
}

impl Cli {
    async fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let aws = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/aws");
        let output = tokio::process::Command::new(aws)
            .args(args)
            .env_clear()
            .envs(self.env.iter().cloned())
            .env("AWS_DATA_PATH", &self.data_path)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .kill_on_drop(true)
            .output()
            .await
            .expect("run .venv/bin/aws (scripts/setup installs it)");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args).await;
        assert_eq!(code, Some(0), "aws {args:?}: {out}{err}");
        out
    }

    async fn deploy(&self, key: &str) -> String {
        let location = format!("bucket=releases,key={key},bundleType=tgz");
        let out = self
            .ok(&[
                "deploy",
                "create-deployment",
                "--application-name",
                "shop",
                "--deployment-group-name",
                "web",
                "--s3-location",
                &location,
                "--query",
                "deploymentId",
                "--output",
                "text",
            ])
            .await;
        out.trim().to_owned()
    }
}
