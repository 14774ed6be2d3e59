use super::*;
use crate::codedeploy::state::in_place_events;
use crate::codedeploy::{commands, control};
use serde_json::{Value, json};

fn in_place_after_stop() -> Vec<&'static str> {
    in_place_events()
        .filter(|e| !e.uses_previous_revision())
        .map(Event::name)
        .collect()
}

/// An application `app` with group `g` over `hosts` on-premises hosts
/// tagged role=web, driven through the planes' dispatchers.
struct Bed {
    sim: Arc<Simulation>,
}

fn host_arn(n: usize) -> String {
    format!("arn:aws:iam::123456789012:user/h{n}")
}

fn caller(n: usize) -> crate::credentials::IssuedCredential {
    crate::credentials::IssuedCredential {
        access_key_id: format!("AKIAHOST{n}"),
        secret_access_key: String::new(),
        session_token: None,
        expiration: None,
        principal_arn: host_arn(n),
    }
}

impl Bed {
    async fn new(config: &str, hosts: usize, group: Value) -> Bed {
        Bed::polling(config, hosts, group, Duration::from_millis(10)).await
    }

    async fn polling(config: &str, hosts: usize, group: Value, poll_wait: Duration) -> Bed {
        let mut settings = SimulatorConfig::new(CredentialStore::default());
        settings.poll_wait = poll_wait;
        Bed::configured(config, hosts, group, settings).await
    }

    async fn configured(
        config: &str,
        hosts: usize,
        group: Value,
        settings: SimulatorConfig,
    ) -> Bed {
        let bed = Bed {
            sim: Arc::new(Simulation::new(settings).unwrap()),
        };
        bed.call("CreateApplication", json!({"applicationName": "app"}));
        let mut input = json!({
            "applicationName": "app", "deploymentGroupName": "g",
            "serviceRoleArn": "arn:aws:iam::123456789012:role/cd",
            "deploymentConfigName": config,
            "onPremisesInstanceTagFilters": [{"Key": "role", "Value": "web", "Type": "KEY_AND_VALUE"}],
        });
        input
            .as_object_mut()
            .unwrap()
            .extend(group.as_object().unwrap().clone());
        bed.call("CreateDeploymentGroup", input);
        for n in 1..=hosts {
            let name = format!("h{n}");
            bed.call(
                "RegisterOnPremisesInstance",
                json!({"instanceName": name, "iamUserArn": host_arn(n)}),
            );
            bed.call(
                "AddTagsToOnPremisesInstances",
                json!({"instanceNames": [name], "tags": [{"Key": "role", "Value": "web"}]}),
            );
        }
        bed
    }

    fn try_call(&self, op: &str, input: Value) -> Result<Value, crate::codedeploy::AwsError> {
        control::dispatch(&self.sim, op, input)
    }

    fn call(&self, op: &str, input: Value) -> Value {
        self.try_call(op, input)
            .unwrap_or_else(|e| panic!("{op}: {e:?}"))
    }

    async fn deploy(&self, key: &str, extra: Value) -> String {
        let mut input = json!({
            "applicationName": "app", "deploymentGroupName": "g",
            "revision": {"revisionType": "S3", "s3Location": {"bucket": "b", "key": key, "bundleType": "tgz"}},
        });
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let id = self.call("CreateDeployment", input)["deploymentId"]
            .as_str()
            .unwrap()
            .to_owned();
        settle().await;
        id
    }

    fn info(&self, id: &str) -> Value {
        self.call("GetDeployment", json!({"deploymentId": id}))["deploymentInfo"].clone()
    }

    fn status(&self, id: &str) -> String {
        self.info(id)["status"].as_str().unwrap().to_owned()
    }

    fn target(&self, id: &str, host: usize) -> Value {
        let out = self.call(
            "BatchGetDeploymentTargets",
            json!({"deploymentId": id, "targetIds": [format!("h{host}")]}),
        );
        out["deploymentTargets"][0]["instanceTarget"].clone()
    }

    fn event_statuses(&self, id: &str, host: usize) -> Vec<String> {
        self.target(id, host)["lifecycleEvents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A command-plane call signed by host `n`.
    async fn host_as(
        &self,
        n: usize,
        op: &str,
        input: Value,
    ) -> Result<Value, crate::codedeploy::AwsError> {
        commands::dispatch(&self.sim, op, input, &caller(n)).await
    }

    async fn host(&self, op: &str, input: Value) -> Result<Value, crate::codedeploy::AwsError> {
        self.host_as(1, op, input).await
    }

    /// One poll for host `n`: the command id and name, if any.
    async fn poll(&self, n: usize) -> Option<(String, String)> {
        let out = self
            .host_as(n, "PollHostCommand", json!({"HostIdentifier": host_arn(n)}))
            .await
            .unwrap();
        let c = out.get("HostCommand")?;
        Some((
            c["HostCommandIdentifier"].as_str()?.to_owned(),
            c["CommandName"].as_str()?.to_owned(),
        ))
    }

    async fn complete(&self, n: usize, command: &str, code: i64) {
        let diagnostics = json!({"error_code": code, "script_name": "", "message": "", "log": ""});
        self.host_as(
            n,
            "PutHostCommandComplete",
            json!({
                "HostCommandIdentifier": command,
                "CommandStatus": if code == 0 { "Succeeded" } else { "Failed" },
                "Diagnostics": {"Format": "JSON", "Payload": diagnostics.to_string()},
            }),
        )
        .await
        .unwrap();
    }

    /// Runs host `n`'s commands until it has none, or until it fails
    /// with code 4 at `fail_at`; returns the events it was sent.
    async fn run_host(&self, n: usize, fail_at: Option<&str>) -> Vec<String> {
        let mut ran = Vec::new();
        while let Some((command, name)) = self.poll(n).await {
            let code = if Some(name.as_str()) == fail_at { 4 } else { 0 };
            self.complete(n, &command, code).await;
            ran.push(name);
            if code != 0 {
                break;
            }
        }
        ran
    }
}

/// Lets spawned deployment starts and timers run.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn one_at_a_time_runs_hosts_in_turn_and_skips_a_first_application_stop() {
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 3, json!({})).await;
    let id = bed.deploy("v1.tgz", json!({})).await;
    assert_eq!(bed.status(&id), "InProgress");
    assert!(bed.poll(2).await.is_none(), "only one host at a time");
    for n in 1..=3 {
        assert_eq!(bed.run_host(n, None).await, in_place_after_stop());
        assert_eq!(bed.event_statuses(&id, n)[0], "Skipped");
    }
    assert_eq!(bed.status(&id), "Succeeded");
    let second = bed.deploy("v2.tgz", json!({})).await;
    assert_eq!(bed.run_host(1, None).await[0], "ApplicationStop");
    let group = bed.call(
        "GetDeploymentGroup",
        json!({"applicationName": "app", "deploymentGroupName": "g"}),
    )["deploymentGroupInfo"]
        .clone();
    assert_eq!(
        group["lastSuccessfulDeployment"]["deploymentId"],
        id.as_str()
    );
    assert_eq!(
        group["lastAttemptedDeployment"]["deploymentId"],
        second.as_str()
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_host_skips_the_rest_fails_the_deployment_and_rolls_back() {
    let rollback =
        json!({"autoRollbackConfiguration": {"enabled": true, "events": ["DEPLOYMENT_FAILURE"]}});
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 3, rollback).await;
    let good = bed.deploy("v1.tgz", json!({})).await;
    for n in 1..=3 {
        bed.run_host(n, None).await;
    }
    assert_eq!(bed.status(&good), "Succeeded");

    let bad = bed.deploy("v2.tgz", json!({})).await;
    assert_eq!(
        bed.run_host(1, Some("AfterInstall")).await.last().unwrap(),
        "AfterInstall"
    );
    let info = bed.info(&bad);
    assert_eq!(info["status"], "Failed");
    assert_eq!(info["errorInformation"]["code"], "HEALTH_CONSTRAINTS");
    assert_eq!(info["deploymentOverview"]["Skipped"], 2);
    assert_eq!(bed.target(&bad, 2)["status"], "Skipped");
    let failed = bed.target(&bad, 1);
    assert_eq!(failed["status"], "Failed");
    let after_install = &failed["lifecycleEvents"][4];
    assert_eq!(after_install["diagnostics"]["errorCode"], "ScriptFailed");
    assert_eq!(failed["lifecycleEvents"][5]["status"], "Skipped");

    let rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let rollback = bed.info(&rollback_id);
    assert_eq!(rollback["creator"], "codeDeployRollback");
    assert_eq!(
        rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"],
        bad.as_str()
    );
    assert_eq!(rollback["revision"]["s3Location"]["key"], "v1.tgz");
    for n in 1..=3 {
        bed.run_host(n, None).await;
    }
    assert_eq!(
        bed.status(&rollback_id),
        "Succeeded",
        "{:#}",
        bed.info(&rollback_id)
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_good_revision_there_is_nothing_to_roll_back_to() {
    let rollback =
        json!({"autoRollbackConfiguration": {"enabled": true, "events": ["DEPLOYMENT_FAILURE"]}});
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 1, rollback).await;
    let id = bed.deploy("v1.tgz", json!({})).await;
    bed.run_host(1, Some("Install")).await;
    let info = bed.info(&id);
    assert_eq!(info["status"], "Failed");
    assert!(info["rollbackInfo"].get("rollbackDeploymentId").is_none());
    assert!(info["rollbackInfo"]["rollbackMessage"].is_string());
}

#[tokio::test(start_paused = true)]
async fn one_at_a_time_forgives_a_failure_on_the_last_host() {
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 3, json!({})).await;
    let id = bed.deploy("v1.tgz", json!({})).await;
    bed.run_host(1, None).await;
    bed.run_host(2, None).await;
    bed.run_host(3, Some("ValidateService")).await;
    assert_eq!(bed.status(&id), "Succeeded");
    assert_eq!(bed.target(&id, 3)["status"], "Failed");
}

#[tokio::test(start_paused = true)]
async fn half_at_a_time_runs_half_the_fleet_at_once() {
    let bed = Bed::new("CodeDeployDefault.HalfAtATime", 4, json!({})).await;
    let id = bed.deploy("v1.tgz", json!({})).await;
    let mut first = vec![];
    for n in 1..=4 {
        if bed.poll(n).await.is_some() {
            first.push(n);
        }
    }
    assert_eq!(first, [1, 2]);
    assert_eq!(bed.info(&id)["deploymentOverview"]["InProgress"], 2);
}

#[tokio::test(start_paused = true)]
async fn all_at_once_succeeds_while_one_host_succeeds() {
    let bed = Bed::new("CodeDeployDefault.AllAtOnce", 3, json!({})).await;
    let id = bed.deploy("v1.tgz", json!({})).await;
    // Every host has its first command before any has finished one.
    let mut first = Vec::new();
    for n in 1..=3 {
        let (command, name) = bed.poll(n).await.expect("every host starts at once");
        assert_eq!(name, "DownloadBundle", "host {n}");
        first.push(command);
    }
    // Host 3 fails at once, host 1 at Install; host 2 alone succeeds.
    bed.complete(3, &first[2], 4).await;
    for (n, command) in [(1, &first[0]), (2, &first[1])] {
        bed.complete(n, command, 0).await;
    }
    assert_eq!(
        bed.run_host(1, Some("Install")).await,
        ["BeforeInstall", "Install"]
    );
    let rest = bed.run_host(2, None).await;
    assert_eq!(rest.last().map(String::as_str), Some("ValidateService"));
    assert_eq!(bed.status(&id), "Succeeded");
    for (n, status) in [(1, "Failed"), (2, "Succeeded"), (3, "Failed")] {
        assert_eq!(bed.target(&id, n)["status"], status, "host {n}");
    }
}

#[tokio::test(start_paused = true)]
async fn custom_minimum_healthy_hosts_limit_concurrency() {
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 4, json!({})).await;
    bed.call(
        "CreateDeploymentConfig",
        json!({"deploymentConfigName": "KeepOne", "minimumHealthyHosts": {"type": "HOST_COUNT", "value": 1}}),
    );
    bed.call(
        "CreateDeploymentConfig",
        json!({"deploymentConfigName": "All", "minimumHealthyHosts": {"type": "FLEET_PERCENT", "value": 99}}),
    );
    let id = bed
        .deploy("v1.tgz", json!({"deploymentConfigName": "KeepOne"}))
        .await;
    assert_eq!(bed.info(&id)["deploymentOverview"]["InProgress"], 3);
    bed.call("StopDeployment", json!({"deploymentId": id}));
    // 99 % of 4 hosts rounds up to all four: no host may go down.
    let id = bed
        .deploy("v2.tgz", json!({"deploymentConfigName": "All"}))
        .await;
    let info = bed.info(&id);
    assert_eq!(info["status"], "Failed");
    assert_eq!(
        info["errorInformation"]["code"],
        "HEALTH_CONSTRAINTS_INVALID"
    );
}

#[tokio::test(start_paused = true)]
async fn ignored_application_stop_failures_let_the_host_carry_on() {
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 1, json!({})).await;
    bed.deploy("v1.tgz", json!({})).await;
    bed.run_host(1, None).await;
    let id = bed
        .deploy("v2.tgz", json!({"ignoreApplicationStopFailures": true}))
        .await;
    assert_eq!(bed.run_host(1, Some("ApplicationStop")).await.len(), 1);
    assert_eq!(bed.run_host(1, None).await, in_place_after_stop());
    assert_eq!(bed.status(&id), "Succeeded");
    assert_eq!(bed.target(&id, 1)["status"], "Succeeded");
    let id = bed.deploy("v3.tgz", json!({})).await;
    assert_eq!(bed.run_host(1, Some("ApplicationStop")).await.len(), 1);
    assert_eq!(bed.status(&id), "Failed");
}

#[tokio::test(start_paused = true)]
async fn stop_waits_for_the_event_in_flight_then_rolls_back_when_asked() {
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 2, json!({})).await;
    bed.deploy("v1.tgz", json!({})).await;
    bed.run_host(1, None).await;
    bed.run_host(2, None).await;
    let id = bed.deploy("v2.tgz", json!({})).await;
    let (command, name) = bed.poll(1).await.unwrap();
    assert_eq!(name, "ApplicationStop");
    let out = bed.call(
        "StopDeployment",
        json!({"deploymentId": id, "autoRollbackEnabled": true}),
    );
    assert_eq!(out["status"], "Pending");
    assert_eq!(bed.status(&id), "InProgress");
    let limit = bed.try_call(
        "CreateDeployment",
        json!({"applicationName": "app", "deploymentGroupName": "g"}),
    );
    assert_eq!(limit.unwrap_err().code, "DeploymentLimitExceededException");
    bed.complete(1, &command, 0).await;
    let info = bed.info(&id);
    assert_eq!(info["status"], "Stopped");
    assert_eq!(info["errorInformation"]["code"], "MANUAL_STOP");
    assert_eq!(bed.target(&id, 2)["status"], "Skipped");
    let rollback = info["rollbackInfo"]["rollbackDeploymentId"]
        .as_str()
        .unwrap();
    settle().await;
    assert_eq!(bed.info(rollback)["creator"], "codeDeployRollback");
    assert_eq!(bed.status(rollback), "InProgress");
}

#[tokio::test(start_paused = true)]
async fn a_host_that_never_answers_fails_at_the_host_timeout() {
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 2, json!({})).await;
    bed.sim
        .with_state(|st| st.host_timeout = Duration::from_secs(30));
    let id = bed.deploy("v1.tgz", json!({})).await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(bed.status(&id), "InProgress");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let info = bed.info(&id);
    assert_eq!(info["status"], "Failed");
    assert_eq!(info["errorInformation"]["code"], "HEALTH_CONSTRAINTS");
    let event = &bed.target(&id, 1)["lifecycleEvents"][1];
    assert_eq!(event["status"], "Failed");
    assert_eq!(event["diagnostics"]["errorCode"], "UnknownError");
    assert_eq!(bed.target(&id, 2)["status"], "Skipped");
}

#[tokio::test(start_paused = true)]
async fn a_deployment_that_outruns_the_deployment_timeout_fails_with_timeout() {
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 2, json!({})).await;
    bed.sim
        .with_state(|st| st.deployment_timeout = Some(Duration::from_secs(600)));
    let id = bed.deploy("v1.tgz", json!({})).await;
    let (command, _) = bed.poll(1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(601)).await;
    let info = bed.info(&id);
    assert_eq!(info["status"], "Failed");
    assert_eq!(info["errorInformation"]["code"], "TIMEOUT");
    assert_eq!(bed.target(&id, 1)["status"], "Failed");
    assert_eq!(bed.target(&id, 2)["status"], "Skipped");
    let late = json!({"HostCommandIdentifier": command, "CommandStatus": "Succeeded"});
    let late = bed.host("PutHostCommandComplete", late).await;
    assert_eq!(late.unwrap_err().code, "ClientException");
}

#[tokio::test(start_paused = true)]
async fn a_deployment_timeout_given_at_start_fails_a_deployment_with_timeout() {
    let mut settings = SimulatorConfig::new(CredentialStore::default());
    settings.poll_wait = Duration::from_millis(10);
    settings.deployment_timeout = Some(Duration::from_secs(600));
    let bed = Bed::configured("CodeDeployDefault.OneAtATime", 1, json!({}), settings).await;
    let id = bed.deploy("v1.tgz", json!({})).await;
    assert!(bed.poll(1).await.is_some());
    tokio::time::sleep(Duration::from_secs(601)).await;
    let info = bed.info(&id);
    assert_eq!(info["status"], "Failed");
    assert_eq!(info["errorInformation"]["code"], "TIMEOUT");
}

#[tokio::test(start_paused = true)]
async fn a_late_or_repeated_completion_is_a_client_error() {
    let bed = Bed::new("CodeDeployDefault.OneAtATime", 1, json!({})).await;
    bed.sim
        .with_state(|st| st.host_timeout = Duration::from_secs(30));
    bed.deploy("v1.tgz", json!({})).await;
    let (command, _) = bed.poll(1).await.unwrap();
    let ack = bed
        .host(
            "PutHostCommandAcknowledgement",
            json!({"HostCommandIdentifier": command, "Diagnostics": {"Format": "JSON", "Payload": "{\"IsCommandNoop\":false}"}}),
        )
        .await
        .unwrap();
    assert_eq!(ack["CommandStatus"], "InProgress");
    bed.complete(1, &command, 0).await;
    let twice = bed
        .host(
            "PutHostCommandComplete",
            json!({"HostCommandIdentifier": command, "CommandStatus": "Succeeded"}),
        )
        .await;
    assert_eq!(twice.unwrap_err().code, "ClientException");
    let (late, _) = bed.poll(1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(31)).await;
    let ack = bed
        .host(
            "PutHostCommandAcknowledgement",
            json!({"HostCommandIdentifier": late}),
        )
        .await
        .unwrap();
    assert_eq!(
        ack["CommandStatus"], "Failed",
        "the agent is told to skip it"
    );
    let after = bed
        .host(
            "PutHostCommandComplete",
            json!({"HostCommandIdentifier": late, "CommandStatus": "Succeeded"}),
        )
        .await;
    assert_eq!(after.unwrap_err().code, "ClientException");
}

#[tokio::test(start_paused = true)]
async fn a_host_may_not_poll_or_complete_for_another() {
    let bed = Bed::new("CodeDeployDefault.AllAtOnce", 2, json!({})).await;
    bed.deploy("v1.tgz", json!({})).await;
    let as_other = bed
        .host_as(2, "PollHostCommand", json!({"HostIdentifier": host_arn(1)}))
        .await;
    assert_eq!(as_other.unwrap_err().code, "ClientException");
    let (command, _) = bed.poll(1).await.unwrap();
    let complete = json!({"HostCommandIdentifier": command, "CommandStatus": "Succeeded"});
    let stolen = bed.host_as(2, "PutHostCommandComplete", complete).await;
    assert_eq!(stolen.unwrap_err().code, "ClientException");
    let execution = bed
        .sim
        .with_state(|st| st.commands[&command].execution_id.clone());
    let spec = json!({"DeploymentExecutionId": execution, "HostIdentifier": host_arn(2)});
    let foreign = bed.host_as(2, "GetDeploymentSpecification", spec).await;
    assert_eq!(foreign.unwrap_err().code, "ClientException");
    let spec = json!({"DeploymentExecutionId": execution, "HostIdentifier": host_arn(1)});
    let own = bed.host("GetDeploymentSpecification", spec).await.unwrap();
    let envelope = &own["DeploymentSpecification"]["GenericEnvelope"];
    assert_eq!(envelope["Format"], "PKCS7/JSON");
    assert!(
        envelope["Payload"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PKCS7-----")
    );
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_answers_as_soon_as_a_command_is_queued() {
    let wait = Duration::from_secs(60);
    let bed = Bed::polling("CodeDeployDefault.OneAtATime", 1, json!({}), wait).await;
    let sim = bed.sim.clone();
    let poll = tokio::spawn(async move {
        commands::dispatch(
            &sim,
            "PollHostCommand",
            json!({"HostIdentifier": host_arn(1)}),
            &caller(1),
        )
        .await
    });
    settle().await;
    let started = tokio::time::Instant::now();
    bed.deploy("v1.tgz", json!({})).await;
    let out = poll.await.unwrap().unwrap();
    assert_eq!(out["HostCommand"]["CommandName"], "DownloadBundle");
    assert!(started.elapsed() < Duration::from_millis(10));
}
