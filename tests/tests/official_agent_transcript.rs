//! The official CodeDeploy agent's own requests, replayed: every
//! host-protocol call agent v1.8.1 made for one deployment, recorded in
//! tests/fixtures/official-agent/ (`succeeded.json`, and `failed-hook.json`
//! where ValidateService exits 1), is sent again byte for byte (headers,
//! signature and body) to a fresh simulator whose clock reads each request's
//! X-Amz-Date and whose credential store holds the capture's keys. The
//! simulator must accept every call, answer as it did then, and bring the
//! deployment to the same end.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_codedeploy::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_codedeploy::types::{
    BundleType, RevisionLocation, RevisionLocationType, S3Location, TagFilter, TagFilterType,
};
use serde::Deserialize;
use serde_json::Value;
use slipway_tests::codedeploy::{Clock, PlannedIds, Simulator, SimulatorConfig, SimulatorHandle};
use slipway_tests::credentials::{CredentialStore, IssuedCredential};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/official-agent");
/// Generous: a replayed call is answered at once unless it long-polls, and
/// a long-poll is answered as soon as the call before it lets the
/// deployment move on.
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
struct Transcript {
    region: String,
    account_id: String,
    host: Host,
    deployment: Deployment,
    requests: Vec<Recorded>,
}

#[derive(Debug, Deserialize)]
struct Host {
    name: String,
    iam_user_arn: String,
    tags: Vec<(String, String)>,
    aws_access_key_id: String,
    aws_secret_access_key: String,
}

#[derive(Debug, Deserialize)]
struct Deployment {
    id: String,
    application_name: String,
    deployment_group_name: String,
    deployment_config_name: String,
    revision: Revision,
    status: String,
}

#[derive(Debug, Deserialize)]
struct Revision {
    bucket: String,
    key: String,
    bundle_type: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    arrived_ms: u64,
    answered_ms: u64,
    response: RecordedResponse,
}

#[derive(Debug, Clone, Deserialize)]
struct RecordedResponse {
    status: u16,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn operation(&self) -> &str {
        let target = self.header("x-amz-target").unwrap_or_default();
        target.rsplit('.').next().unwrap_or(target)
    }

    /// The time the agent signed the request at.
    fn signed_at(&self) -> Result<SystemTime> {
        let date = self.header("x-amz-date").context("no X-Amz-Date")?;
        amz_date(date).with_context(|| format!("X-Amz-Date {date}"))
    }
}

/// `20261207T174850Z` as a time.
fn amz_date(s: &str) -> Result<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(s, &format)?.assume_utc();
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at.unix_timestamp())?))
}

fn load(name: &str) -> Result<Transcript> {
    let path = format!("{FIXTURES}/{name}");
    let text = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    serde_json::from_str(&text).with_context(|| format!("parse {path}"))
}

/// The HostCommandIdentifiers the simulator handed out, in the order it
/// made them (the order the polls carrying them were answered).
fn command_ids(t: &Transcript) -> Result<Vec<String>> {
    let mut polls: Vec<&Recorded> = t
        .requests
        .iter()
        .filter(|r| r.operation() == "PollHostCommand")
        .collect();
    polls.sort_by_key(|r| r.answered_ms);
    let mut ids = Vec::new();
    for poll in polls {
        let answer: Value = serde_json::from_str(&poll.response.body)?;
        if let Some(id) = answer["HostCommand"]["HostCommandIdentifier"].as_str() {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// A clock the test moves: the system's until it is set.
#[derive(Clone, Default)]
struct SetClock(Arc<Mutex<Option<SystemTime>>>);

impl SetClock {
    fn set(&self, at: SystemTime) {
        *self.0.lock().unwrap() = Some(at);
    }

    fn clock(&self) -> Clock {
        let cell = self.0.clone();
        Clock::from_fn(move || cell.lock().unwrap().unwrap_or_else(SystemTime::now))
    }
}

/// A simulator holding the capture's host, with the captured deployment
/// created (under its captured id) by an operator through the SDK.
async fn simulator(t: &Transcript, clock: &SetClock) -> Result<SimulatorHandle> {
    let store = CredentialStore::default();
    store.insert(IssuedCredential {
        access_key_id: t.host.aws_access_key_id.clone(),
        secret_access_key: t.host.aws_secret_access_key.clone(),
        session_token: None,
        expiration: None,
        principal_arn: t.host.iam_user_arn.clone(),
    });
    let operator = IssuedCredential {
        access_key_id: "AKIAOPERATOR00000001".to_owned(),
        secret_access_key: "operator/secret/0123456789abcdef".to_owned(),
        session_token: None,
        expiration: None,
        principal_arn: format!("arn:aws:iam::{}:user/release-manager", t.account_id),
    };
    store.insert(operator.clone());
    let ids = PlannedIds::default();
    ids.plan_deployment(&t.deployment.id);
    for id in command_ids(t)? {
        ids.plan_command(&id);
    }
    let mut config = SimulatorConfig::new(store);
    config.region = t.region.clone();
    config.account_id = t.account_id.clone();
    config.clock = clock.clock();
    config.ids = ids;
    let sim = Simulator::start(config).await?;
    let tags: Vec<(&str, &str)> = t
        .host
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sim.register_on_premises_instance(&t.host.name, &t.host.iam_user_arn, &tags);

    let codedeploy = aws_sdk_codedeploy::Client::from_conf(
        aws_sdk_codedeploy::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(t.region.clone()))
            .endpoint_url(sim.endpoint())
            .credentials_provider(Credentials::new(
                &operator.access_key_id,
                &operator.secret_access_key,
                None,
                None,
                "operator",
            ))
            .build(),
    );
    let d = &t.deployment;
    codedeploy
        .create_application()
        .application_name(&d.application_name)
        .send()
        .await?;
    let mut group = codedeploy
        .create_deployment_group()
        .application_name(&d.application_name)
        .deployment_group_name(&d.deployment_group_name)
        .deployment_config_name(&d.deployment_config_name)
        .service_role_arn(format!("arn:aws:iam::{}:role/codedeploy", t.account_id));
    for (key, value) in &t.host.tags {
        group = group.on_premises_instance_tag_filters(
            TagFilter::builder()
                .key(key)
                .value(value)
                .r#type(TagFilterType::KeyAndValue)
                .build(),
        );
    }
    group.send().await?;
    let created = codedeploy
        .create_deployment()
        .application_name(&d.application_name)
        .deployment_group_name(&d.deployment_group_name)
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::S3)
                .s3_location(
                    S3Location::builder()
                        .bucket(&d.revision.bucket)
                        .key(&d.revision.key)
                        .bundle_type(BundleType::from(d.revision.bundle_type.as_str()))
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    ensure!(
        created.deployment_id() == Some(d.id.as_str()),
        "the deployment was created as {:?}, not the planned {}",
        created.deployment_id(),
        d.id
    );
    Ok(sim)
}

/// What the simulator answered a replayed request.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

async fn send(http: &reqwest::Client, endpoint: &str, r: &Recorded) -> Result<Answer> {
    let method = reqwest::Method::from_bytes(r.method.as_bytes())?;
    let mut request = http
        .request(method, format!("{endpoint}{}", r.path))
        .body(r.body.clone());
    for (name, value) in &r.headers {
        // The body above sets it; every other header goes as recorded,
        // Host included (the capture's port, which the signature covers).
        if !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, value);
        }
    }
    let response = request.send().await?;
    Ok(Answer {
        status: response.status().as_u16(),
        body: response.text().await?,
    })
}

/// Checks a replayed answer against the recorded one. The deployment
/// specification is signed afresh with each simulator's own key, so only
/// its format is compared; every other answer must be the same JSON.
fn check(index: usize, r: &Recorded, answer: &Answer) -> Result<()> {
    let op = r.operation();
    ensure!(
        answer.status == r.response.status,
        "request {index} ({op}) was answered {} where the capture had {}: {}",
        answer.status,
        r.response.status,
        answer.body
    );
    let got: Value = serde_json::from_str(&answer.body)
        .with_context(|| format!("request {index} ({op}): answer {}", answer.body))?;
    let want: Value = serde_json::from_str(&r.response.body)?;
    if op == "GetDeploymentSpecification" {
        let format = |v: &Value| v["DeploymentSpecification"]["GenericEnvelope"]["Format"].clone();
        ensure!(
            format(&got) == format(&want) && !format(&got).is_null(),
            "request {index} ({op}): envelope {got} where the capture had {want}"
        );
        ensure!(
            got["DeploymentSystem"] == want["DeploymentSystem"],
            "request {index} ({op}): {got} where the capture had {want}"
        );
    } else {
        ensure!(
            got == want,
            "request {index} ({op}): answered {got} where the capture had {want}"
        );
    }
    Ok(())
}

type Pending = tokio::task::JoinHandle<Result<Answer>>;

async fn finish(index: usize, r: &Recorded, pending: Pending) -> Result<()> {
    let answer = tokio::time::timeout(DEADLINE, pending)
        .await
        .with_context(|| format!("request {index} ({}) was not answered", r.operation()))??
        .with_context(|| format!("request {index} ({})", r.operation()))?;
    check(index, r, &answer)
}

/// Sends the requests in the order they arrived, keeping each one in
/// flight exactly as long as the agent did: a call answered before the
/// next one arrived is awaited first, and a long-poll the agent left
/// waiting while it acknowledged and completed a command waits here too.
async fn replay(t: &Transcript, sim: &SimulatorHandle, clock: &SetClock) -> Result<()> {
    let http = reqwest::Client::new();
    let endpoint = sim.endpoint();
    let mut pending: Vec<(usize, Pending)> = Vec::new();
    for (index, r) in t.requests.iter().enumerate() {
        let (mut due, later): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(i, _)| t.requests[*i].answered_ms <= r.arrived_ms);
        pending = later;
        // A long-poll's answer follows from the calls answered beside it:
        // check those first, so a refused call is reported as itself.
        due.sort_by_key(|(i, _)| {
            let d = &t.requests[*i];
            (d.answered_ms, d.operation() == "PollHostCommand")
        });
        for (i, handle) in due {
            finish(i, &t.requests[i], handle).await?;
        }
        clock.set(r.signed_at()?);
        let waiting = sim.waiting_polls();
        let task = {
            let (http, endpoint) = (http.clone(), endpoint.clone());
            let request = r.clone();
            tokio::spawn(async move { send(&http, &endpoint, &request).await })
        };
        let outlived_next = t
            .requests
            .get(index + 1)
            .is_some_and(|next| r.answered_ms > next.arrived_ms);
        if outlived_next && r.operation() == "PollHostCommand" {
            // It must be waiting in the simulator before the next call
            // arrives, as it was during the capture.
            let started = tokio::time::Instant::now();
            while sim.waiting_polls() <= waiting {
                if task.is_finished() || started.elapsed() > DEADLINE {
                    bail!("request {index} (PollHostCommand) did not wait for a command");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        pending.push((index, task));
    }
    for (i, handle) in pending {
        finish(i, &t.requests[i], handle).await?;
    }
    Ok(())
}

/// Replays fixture `name` and checks the deployment ends as it did, its
/// host having reported the same events in the same order.
async fn replays_to_the_same_end(name: &str) -> Result<()> {
    let t = load(name)?;
    let clock = SetClock::default();
    let sim = simulator(&t, &clock).await?;
    replay(&t, &sim, &clock).await?;

    let status = tokio::time::timeout(DEADLINE, sim.watch(&t.deployment.id).finished())
        .await
        .context("the deployment did not finish")?;
    assert_eq!(status, t.deployment.status, "{name}");
    let events: Vec<String> = sim
        .host_reports(&t.host.iam_user_arn)
        .into_iter()
        .map(|r| r.event)
        .collect();
    let mut captured = Vec::new();
    for poll in t
        .requests
        .iter()
        .filter(|r| r.operation() == "PollHostCommand")
    {
        let answer: Value = serde_json::from_str(&poll.response.body)?;
        if let Some(name) = answer["HostCommand"]["CommandName"].as_str() {
            captured.push((poll.answered_ms, name.to_owned()));
        }
    }
    captured.sort();
    let captured: Vec<String> = captured.into_iter().map(|(_, name)| name).collect();
    assert_eq!(events, captured, "{name}");
    Ok(())
}

#[tokio::test]
async fn the_official_agents_deployment_replays_to_succeeded() -> Result<()> {
    replays_to_the_same_end("succeeded.json").await
}

#[tokio::test]
async fn the_official_agents_failed_hook_replays_to_failed() -> Result<()> {
    replays_to_the_same_end("failed-hook.json").await
}

#[test]
fn the_transcripts_are_signed_calls_of_the_official_agent() -> Result<()> {
    for name in ["succeeded.json", "failed-hook.json"] {
        signed_calls_of_the_official_agent(&load(name)?);
    }
    Ok(())
}

fn signed_calls_of_the_official_agent(t: &Transcript) {
    let operations: BTreeSet<&str> = t.requests.iter().map(Recorded::operation).collect();
    assert_eq!(
        operations,
        BTreeSet::from([
            "GetDeploymentSpecification",
            "PollHostCommand",
            "PutHostCommandAcknowledgement",
            "PutHostCommandComplete",
        ])
    );
    for r in &t.requests {
        let auth = r.header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=")
                && auth.contains("/codedeploy-commands/aws4_request")
                && auth.contains("SignedHeaders=content-type;host;x-amz-codedeploy-agent-version;"),
            "{auth}"
        );
        assert!(
            r.header("x-amz-codedeploy-agent-version")
                .is_some_and(|v| v.starts_with("OFFICIAL_1.8.1")),
            "{:?}",
            r.headers
        );
        assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
        assert!(r.signed_at().is_ok(), "{:?}", r.header("x-amz-date"));
    }
}

#[tokio::test]
async fn a_captured_request_replayed_an_hour_late_is_refused_as_expired() -> Result<()> {
    let t = load("succeeded.json")?;
    let clock = SetClock::default();
    let sim = simulator(&t, &clock).await?;
    let first = &t.requests[0];
    clock.set(first.signed_at()? + Duration::from_secs(3600));
    let answer = send(&reqwest::Client::new(), &sim.endpoint(), first).await?;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let error: Value = serde_json::from_str(&answer.body)?;
    assert_eq!(error["__type"], "InvalidSignatureException");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("Signature expired")),
        "{error}"
    );
    Ok(())
}
