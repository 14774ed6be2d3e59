//! One axum router serving both planes on one endpoint, told apart by
//! `X-Amz-Target`, and the [`Simulator`] that starts it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::Value;

use super::clock::Clock;
use super::envelope::{EnvelopeError, EnvelopeFormat};
use super::faults::{Call, Fault, Faults};
use super::orchestrator::Simulation;
use super::planned_ids::PlannedIds;
use super::state::{CommandPhase, Ec2Instance, OnPremisesInstance};
use super::{commands, control};
use crate::credentials::{CredentialStore, IssuedCredential};
use crate::server::{Bound, HttpServer};
use crate::sigv4_verify;

/// The control plane's target prefix.
pub const CONTROL_PREFIX: &str = "CodeDeploy_20141006.";
/// The host command plane's target prefix.
pub const COMMANDS_PREFIX: &str = "CodeDeployCommandService_v20141006.";
/// The command plane's prefix in the 2019-11-11 model (same shapes, signed
/// for `codedeploy-commands-secure`), which the official agent uses with
/// `enable_auth_policy: true`.
pub const SECURE_COMMANDS_PREFIX: &str = "CodeDeployCommandService.";

/// What the simulator is started with.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The region in ARNs and endpoints.
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
    /// Signatures on both planes are checked against these.
    pub credentials: CredentialStore,
    /// A lifecycle event not completed within this fails its host.
    pub host_timeout: Duration,
    /// A deployment running longer than this fails with TIMEOUT.
    pub deployment_timeout: Option<Duration>,
    /// How long PollHostCommand waits for a command before answering empty.
    pub poll_wait: Duration,
    /// How deployment specs are sealed (PKCS7 streamed BER, DER, or plain JSON).
    pub envelope: EnvelopeFormat,
    /// The most ids one page of a list operation holds.
    pub page_size: usize,
    /// The time of day records are stamped with and signatures checked
    /// against.
    pub clock: Clock,
    /// Deployment and command ids planned ahead (to replay a transcript);
    /// keep a clone to plan more. Unplanned ids are fresh.
    pub ids: PlannedIds,
    /// Faults planned for the command plane, and its calls; keep a clone
    /// to plan more and read the calls while the simulator runs.
    pub faults: Faults,
}

impl SimulatorConfig {
    /// Defaults close to AWS's: us-east-1, a one-hour host timeout and a
    /// long-poll well under the agent's 80 s read timeout.
    pub fn new(credentials: CredentialStore) -> Self {
        SimulatorConfig {
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            credentials,
            host_timeout: Duration::from_secs(3600),
            deployment_timeout: None,
            poll_wait: Duration::from_secs(20),
            envelope: EnvelopeFormat::Pkcs7Json,
            page_size: super::state::DEFAULT_PAGE_SIZE,
            clock: Clock::system(),
            ids: PlannedIds::default(),
            faults: Faults::default(),
        }
    }
}

/// Failures starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// Its listener could not be bound.
    #[error("bind the codedeploy simulator")]
    Bind {
        /// Why.
        #[source]
        source: Box<crate::Error>,
    },
    /// Its spec-signing key and certificate could not be made.
    #[error("make the deployment-spec signing key")]
    Signer {
        /// Why.
        #[source]
        source: EnvelopeError,
    },
}

/// Starts the CodeDeploy simulator.
pub struct Simulator;

impl Simulator {
    /// Binds 127.0.0.1 on a free port and serves both planes there until
    /// the handle is dropped.
    pub async fn start(config: SimulatorConfig) -> Result<SimulatorHandle, SimulatorError> {
        let bound =
            Bound::new("codedeploy simulator")
                .await
                .map_err(|source| SimulatorError::Bind {
                    source: Box::new(source),
                })?;
        let sim = Arc::new(Simulation::new(config)?);
        let server = bound.serve(router(sim.clone()));
        Ok(SimulatorHandle {
            endpoint: server.url(),
            sim,
            _server: server,
        })
    }
}

/// A running simulator; dropping it stops the server.
pub struct SimulatorHandle {
    endpoint: String,
    sim: Arc<Simulation>,
    /// Dropping it stops the server.
    _server: HttpServer,
}

impl SimulatorHandle {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_CODEDEPLOY` and an
    /// agent's `deploy_control_endpoint`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The region it answers for.
    pub fn region(&self) -> String {
        self.sim.settings.region.clone()
    }

    /// Makes an EC2 instance exist, with its tags; returns the
    /// HostIdentifier its agent polls with (the instance ARN).
    pub fn register_ec2_instance(&self, instance_id: &str, tags: &[(&str, &str)]) -> String {
        let arn = format!(
            "arn:aws:ec2:{}:{}:instance/{instance_id}",
            self.sim.settings.region, self.sim.settings.account_id
        );
        self.sim.with_state(|st| {
            st.ec2.insert(
                instance_id.to_owned(),
                Ec2Instance {
                    instance_id: instance_id.to_owned(),
                    arn: arn.clone(),
                    tags: own_tags(tags),
                },
            );
        });
        arn
    }

    /// Registers an on-premises instance, as RegisterOnPremisesInstance plus
    /// AddTagsToOnPremisesInstances would; its HostIdentifier is `iam_arn`.
    pub fn register_on_premises_instance(&self, name: &str, iam_arn: &str, tags: &[(&str, &str)]) {
        let arn = self.sim.on_premises_arn(name);
        self.sim.with_state(|st| {
            st.on_premises.insert(
                name.to_owned(),
                OnPremisesInstance {
                    name: name.to_owned(),
                    iam_arn: iam_arn.to_owned(),
                    arn,
                    tags: own_tags(tags),
                    register_time: st.now(),
                    deregister_time: None,
                },
            );
        });
    }

    /// Changes the host timeout for commands sent from now on.
    pub fn set_host_timeout(&self, timeout: Duration) {
        self.sim.with_state(|st| st.host_timeout = timeout);
    }

    /// Changes the deployment timeout for deployments started from now on.
    pub fn set_deployment_timeout(&self, timeout: Option<Duration>) {
        self.sim.with_state(|st| st.deployment_timeout = timeout);
    }

    /// A deployment's status, without a signed call.
    pub fn deployment_status(&self, deployment_id: &str) -> Option<String> {
        self.sim.with_state(|st| {
            st.deployments
                .get(deployment_id)
                .map(|d| d.status.as_str().to_owned())
        })
    }

    /// Fails every unfinished command of `host_identifier` at once, as its
    /// host timeout would, so a test need not wait one out; returns how
    /// many commands there were.
    pub fn expire_commands(&self, host_identifier: &str) -> usize {
        self.sim.expire_commands(host_identifier)
    }

    /// The lifecycle events `host_identifier` has acknowledged and not yet
    /// completed.
    pub fn acknowledged_events(&self, host_identifier: &str) -> Vec<String> {
        self.sim.with_state(|st| {
            st.commands
                .values()
                .filter(|c| {
                    c.host_identifier == host_identifier && c.phase == CommandPhase::Acknowledged
                })
                .map(|c| c.event.name().to_owned())
                .collect()
        })
    }

    /// What `host_identifier` told the service about each command it was
    /// sent, in the order the commands were made.
    pub fn host_reports(&self, host_identifier: &str) -> Vec<HostReport> {
        self.sim.with_state(|st| {
            let mut commands: Vec<_> = st
                .commands
                .values()
                .filter(|c| c.host_identifier == host_identifier)
                .collect();
            commands.sort_by_key(|c| c.nonce);
            commands
                .into_iter()
                .map(|c| HostReport {
                    deployment_id: c.deployment_id.clone(),
                    event: c.event.name().to_owned(),
                    acknowledgement: c.acknowledgement.clone(),
                    updates: c.updates.clone(),
                })
                .collect()
        })
    }

    /// A watch on deployment `deployment_id`'s status.
    pub fn watch(&self, deployment_id: &str) -> StatusWatch {
        StatusWatch {
            sim: self.sim.clone(),
            changes: self.sim.subscribe(),
            deployment_id: deployment_id.to_owned(),
        }
    }

    /// The number of PollHostCommand calls waiting right now.
    pub fn waiting_polls(&self) -> usize {
        self.sim.waiting_polls()
    }
}

/// One host command, as its host reported on it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    /// The deployment the command belongs to.
    pub deployment_id: String,
    /// The lifecycle event it ran.
    pub event: String,
    /// The acknowledgement's Diagnostics payload (`{"IsCommandNoop":…}`).
    pub acknowledgement: Option<String>,
    /// The EstimatedCompletionTime (epoch seconds) of each
    /// PostHostCommandUpdate, in order.
    pub updates: Vec<Option<f64>>,
}

/// Follows one deployment's status as the simulator changes it.
pub struct StatusWatch {
    sim: Arc<Simulation>,
    changes: tokio::sync::watch::Receiver<u64>,
    deployment_id: String,
}

impl StatusWatch {
    /// The status now (`None` for a deployment the simulator does not know).
    pub fn status(&self) -> Option<String> {
        // A plain read: `with_state` would count as a change and wake us.
        self.sim
            .lock()
            .deployments
            .get(&self.deployment_id)
            .map(|d| d.status.as_str().to_owned())
    }

    /// Waits until the status satisfies `done`, and returns it. No timer is
    /// involved: callers put their own deadline around it.
    pub async fn until(&mut self, done: impl Fn(&str) -> bool) -> String {
        loop {
            self.changes.mark_unchanged();
            if let Some(status) = self.status().filter(|s| done(s)) {
                return status;
            }
            // The sender lives in the simulation this watch holds.
            let _ = self.changes.changed().await;
        }
    }

    /// Waits until the deployment has ended, and returns its status.
    pub async fn finished(&mut self) -> String {
        self.until(|s| matches!(s, "Succeeded" | "Failed" | "Stopped"))
            .await
    }
}

fn own_tags(tags: &[(&str, &str)]) -> Vec<(String, String)> {
    tags.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn router(sim: Arc<Simulation>) -> Router {
    Router::new().fallback(any(handle)).with_state(sim)
}

async fn handle(
    AxumState(sim): AxumState<Arc<Simulation>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        // The official agent probes `GET /` at startup and only needs an
        // answer; AWS answers such probes with an error document.
        return AwsError::unknown_operation(&format!("{method} {uri}")).into_response();
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let result = if let Some(op) = target.strip_prefix(CONTROL_PREFIX) {
        match authenticate(&sim, &method, &uri, &headers, &body, "codedeploy") {
            Ok(_) => match parse_body(&body) {
                Ok(input) => control::dispatch(&sim, op, input),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    } else if let Some((op, service)) = command_target(&target) {
        match authenticate(&sim, &method, &uri, &headers, &body, service) {
            Ok(caller) => return command_call(&sim, op, &body, &caller).await,
            Err(e) => Err(e),
        }
    } else {
        Err(AwsError::unknown_operation(&target))
    };
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => e.into_response(),
    }
}

/// A signed command-plane call, meeting the fault planned for it if any,
/// and recorded.
async fn command_call(
    sim: &Arc<Simulation>,
    op: &str,
    body: &[u8],
    caller: &IssuedCredential,
) -> Response {
    let faults = &sim.settings.faults;
    let at = tokio::time::Instant::now();
    let fault = faults.take(op);
    let mut met = fault.as_ref().map(|f| format!("{f:?}"));
    let serve = || async {
        match parse_body(body) {
            Ok(input) => commands::dispatch(sim, op, input, caller).await,
            Err(e) => Err(e),
        }
    };
    let response = match fault {
        None => into_response(serve().await),
        Some(Fault::Refuse(e)) => e.into_response(),
        Some(Fault::LoseAnswer(e)) => {
            let _ = serve().await;
            e.into_response()
        }
        Some(Fault::Answer { status, body }) => {
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            r
        }
        Some(Fault::Rewrite(f)) => match serve().await {
            Ok(answer) => match f(answer.clone()) {
                Some(rewritten) => json_response(StatusCode::OK, &rewritten),
                None => {
                    // Not the answer the fault waits for: it stays planned.
                    faults.put_back(op, Fault::Rewrite(f));
                    met = None;
                    json_response(StatusCode::OK, &answer)
                }
            },
            Err(e) => e.into_response(),
        },
    };
    faults.record(Call {
        operation: op.to_owned(),
        at,
        status: response.status().as_u16(),
        fault: met,
    });
    response
}

fn into_response(result: Result<Value, AwsError>) -> Response {
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => e.into_response(),
    }
}

/// The operation a command-plane target names, and the signing name its
/// model goes with.
fn command_target(target: &str) -> Option<(&str, &'static str)> {
    if let Some(op) = target.strip_prefix(COMMANDS_PREFIX) {
        Some((op, "codedeploy-commands"))
    } else {
        target
            .strip_prefix(SECURE_COMMANDS_PREFIX)
            .map(|op| (op, "codedeploy-commands-secure"))
    }
}

fn authenticate(
    sim: &Simulation,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    service: &str,
) -> Result<IssuedCredential, AwsError> {
    sigv4_verify::verify(
        method,
        uri,
        headers,
        body,
        service,
        &sim.settings.region,
        &sim.settings.credentials,
        sim.with_state(|st| st.now()),
    )
    .map_err(|e| {
        let (code, message, status) = e.aws_error();
        AwsError::new(code, message)
            .with_status(StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN))
    })
}

/// An empty body is an empty input, as AWS's JSON services take it.
fn parse_body(body: &[u8]) -> Result<Value, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(AwsError::serialization(
            "Start of structure or map found where not expected.",
        )),
        Err(e) => Err(AwsError::serialization(&format!(
            "Malformed request body at line {} column {}",
            e.line(),
            e.column()
        ))),
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// An AWS JSON 1.1 error: `{"__type": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The HTTP status.
    pub status: StatusCode,
    /// `__type`, the exception's name.
    pub code: String,
    /// `message`.
    pub message: String,
}

impl AwsError {
    /// A client error (400).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The same error answered with `status` (throttling and 5xx).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// A body that is not the operation's shape.
    pub fn serialization(message: &str) -> Self {
        AwsError::new("SerializationException", message)
    }

    /// What AWS's JSON protocols answer for a target they do not serve:
    /// the message names it, so a client meeting an operation the
    /// simulator lacks learns which.
    pub fn unknown_operation(target: &str) -> Self {
        AwsError::new(
            "UnknownOperationException",
            format!("Unknown operation: {target}"),
        )
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "__type": self.code });
        if !self.message.is_empty() {
            body["message"] = Value::String(self.message);
        }
        let mut response = json_response(self.status, &body);
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            response.headers_mut().insert("x-amzn-errortype", v);
        }
        response
    }
}

/// `v` without its null members, at any depth: AWS leaves out what is
/// not set rather than sending null, and some clients (botocore's
/// timestamp parser, the agent's) refuse a null where a value belongs.
pub(crate) fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_is_a_serialization_exception() {
        let e = parse_body(b"{\"a\":").unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("line 1"), "{}", e.message);
        assert_eq!(
            parse_body(b"[1]").unwrap_err().code,
            "SerializationException"
        );
        assert!(parse_body(b"").unwrap().is_object());
    }
}
