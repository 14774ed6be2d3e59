//! The host command plane, `CodeDeployCommandService_v20141006.<Op>`: what
//! agents call to fetch lifecycle commands and report their results.

use std::sync::Arc;

use serde_json::{Value, json};
use slipway_shared::appspec::FileExistsBehavior;
use slipway_shared::diagnostics::Diagnostics;

use super::envelope::Envelope;
use super::orchestrator::{self, CompleteError, Simulation};
use super::server::{AwsError, strip_nulls};
use super::state::{CommandPhase, EventDiagnostics, HostCommand, State, Status};
use crate::credentials::IssuedCredential;

type Output = Result<Value, AwsError>;

/// The command service has only these two errors; the message says why.
fn client_error(message: impl Into<String>) -> AwsError {
    AwsError::new("ClientException", message)
}

/// Runs command-plane operation `op` on `input` for `caller`, the
/// credential that signed the request.
pub async fn dispatch(
    sim: &Arc<Simulation>,
    op: &str,
    input: Value,
    caller: &IssuedCredential,
) -> Output {
    let caller = caller.principal_arn.as_str();
    match op {
        "PollHostCommand" => poll(sim, &input, caller).await,
        "GetDeploymentSpecification" => specification(sim, &input, caller),
        "PutHostCommandAcknowledgement" => sim.with_state(|st| acknowledge(st, &input, caller)),
        "PostHostCommandUpdate" => sim.with_state(|st| update(st, &input, caller)),
        "PutHostCommandComplete" => complete(sim, &input, caller),
        _ => Err(AwsError::unknown_operation(op)),
    }
}

fn string<'a>(input: &'a Value, field: &str) -> Result<&'a str, AwsError> {
    match input.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None | Some(Value::Null) => Err(client_error(format!("{field} is required"))),
        Some(_) => Err(AwsError::serialization(&format!(
            "Unexpected value type for field '{field}'"
        ))),
    }
}

/// The request's HostIdentifier, once it names a registered instance the
/// caller may speak for.
fn registered_host<'a>(st: &State, input: &'a Value, caller: &str) -> Result<&'a str, AwsError> {
    let host = string(input, "HostIdentifier")?;
    if !st.is_registered_host(host) {
        return Err(client_error(format!(
            "HostIdentifier {host} is not a registered instance"
        )));
    }
    check_caller(st, caller, host)?;
    Ok(host)
}

fn check_caller(st: &State, caller: &str, host: &str) -> Result<(), AwsError> {
    if st.may_act_as(caller, host) {
        Ok(())
    } else {
        Err(client_error(format!("{caller} may not act as host {host}")))
    }
}

/// Long-polls: answers as soon as a command is queued for the host, or
/// with no command once the poll wait runs out.
async fn poll(sim: &Arc<Simulation>, input: &Value, caller: &str) -> Output {
    let deadline = tokio::time::Instant::now() + sim.settings.poll_wait;
    loop {
        // Register as a waiter before looking, so a command queued in
        // between still wakes this poll.
        let notified = sim.commands_ready().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let found = sim.with_state(|st| -> Result<Option<Value>, AwsError> {
            let host = registered_host(st, input, caller)?.to_owned();
            Ok(take_command(st, &host).map(|c| {
                json!({ "HostCommand": {
                    "HostCommandIdentifier": c.id,
                    "HostIdentifier": c.host_identifier,
                    "DeploymentExecutionId": c.execution_id,
                    "CommandName": c.event.name(),
                    "Nonce": c.nonce,
                }})
            }))
        })?;
        if let Some(command) = found {
            return Ok(command);
        }
        if !sim.wait_for(notified, deadline).await {
            return Ok(json!({}));
        }
    }
}

/// Hands the host its oldest queued command, marking the event started.
fn take_command(st: &mut State, host: &str) -> Option<HostCommand> {
    let (nonce, id) = st
        .queued
        .iter()
        .find(|(_, id)| st.commands[*id].host_identifier == host)
        .map(|(n, id)| (*n, id.clone()))?;
    st.queued.remove(&nonce);
    let command = st.commands.get_mut(&id)?;
    command.phase = CommandPhase::Dispatched;
    let command = command.clone();
    tracing::debug!(
        deployment_id = %command.deployment_id,
        command_id = %command.id,
        event = %command.event,
        host,
        "command dispatched"
    );
    let now = st.now();
    if let Some(d) = st.deployments.get_mut(&command.deployment_id) {
        let t = &mut d.targets[command.target_index];
        let e = &mut t.events[command.event_index];
        e.status = Status::InProgress;
        e.start = Some(now);
        t.last_updated = now;
    }
    Some(command)
}

/// The spec fields the official agent reads, and no others. Not
/// `AllPossibleLifecycleEvents`: only the local CLI sends it, and the
/// daemon agent fails every Install when it is present.
fn spec_json(st: &State, deployment_id: &str) -> Option<Value> {
    let d = st.deployments.get(deployment_id)?;
    let revision = &d.revision;
    let revision = if let Some(s3) = &revision.s3_location {
        json!({
            "RevisionType": "S3",
            "S3Revision": {
                "Bucket": s3.bucket,
                "Key": s3.key,
                "BundleType": s3.bundle_type,
                "Version": s3.version,
                "ETag": s3.e_tag,
            }
        })
    } else {
        let gh = revision.git_hub_location.clone().unwrap_or_default();
        let repo = gh.repository.unwrap_or_default();
        let (account, repository) = repo.split_once('/').unwrap_or(("", repo.as_str()));
        json!({
            "RevisionType": "GitHub",
            "GitHubRevision": {
                "Account": account,
                "Repository": repository,
                "CommitId": gh.commit_id,
            }
        })
    };
    let spec = json!({
        "DeploymentId": d.id,
        "DeploymentGroupId": d.group_id,
        "DeploymentGroupName": d.group_name,
        "ApplicationName": d.application_name,
        "DeploymentCreator": d.creator,
        "DeploymentType": "IN_PLACE",
        "AgentActionOverrides": { "AgentOverrides": {
            "FileExistsBehavior": d
                .file_exists_behavior
                .unwrap_or(FileExistsBehavior::Disallow)
                .name(),
        }},
        "Revision": revision,
    });
    Some(strip_nulls(spec))
}

/// The deployment and target an execution id names: the simulator makes
/// them as `account/region/deployment/target`.
fn parse_execution_id(execution: &str) -> Option<(&str, usize)> {
    let mut parts = execution.split('/');
    let deployment = parts.nth(2)?;
    let target = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((deployment, target))
}

fn specification(sim: &Simulation, input: &Value, caller: &str) -> Output {
    let execution = string(input, "DeploymentExecutionId")?;
    let unknown = || client_error(format!("DeploymentExecutionId {execution} is unknown"));
    let (deployment_id, target) = parse_execution_id(execution).ok_or_else(unknown)?;
    let (spec, cached) = sim.with_state(|st| {
        let host = registered_host(st, input, caller)?;
        let d = st.deployments.get(deployment_id).ok_or_else(unknown)?;
        let t = d.targets.get(target).ok_or_else(unknown)?;
        if t.host_identifier != host {
            return Err(client_error(format!(
                "DeploymentExecutionId {execution} does not belong to host {host}"
            )));
        }
        Ok((spec_json(st, deployment_id), d.spec_envelope.clone()))
    })?;
    let envelope = match cached {
        Some(envelope) => envelope,
        None => {
            // Signing takes milliseconds: done outside the lock, once.
            let spec = spec.ok_or_else(unknown)?.to_string();
            let envelope = sim
                .settings
                .envelope
                .seal(spec.as_bytes(), &sim.settings.signer)
                .map_err(|_| {
                    AwsError::new("ServerException", "")
                        .with_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                })?;
            sim.with_state(|st| {
                if let Some(d) = st.deployments.get_mut(deployment_id) {
                    d.spec_envelope.get_or_insert(envelope.clone());
                }
            });
            envelope
        }
    };
    Ok(json!({
        "DeploymentSystem": "CodeDeploy",
        "DeploymentSpecification": { "GenericEnvelope": envelope },
    }))
}

/// The command the request names, once the caller may speak for its host.
fn command<'a>(st: &'a State, input: &Value, caller: &str) -> Result<&'a HostCommand, AwsError> {
    let id = string(input, "HostCommandIdentifier")?;
    let command = st
        .commands
        .get(id)
        .ok_or_else(|| client_error(format!("HostCommandIdentifier {id} is unknown")))?;
    check_caller(st, caller, &command.host_identifier)?;
    Ok(command)
}

/// The status the agent should act on: anything but InProgress tells it to
/// skip the command.
fn central_status(st: &State, c: &HostCommand) -> &'static str {
    match c.phase {
        CommandPhase::Queued => "Pending",
        CommandPhase::Dispatched | CommandPhase::Acknowledged => "InProgress",
        CommandPhase::Abandoned => "Failed",
        CommandPhase::Completed => st
            .deployments
            .get(&c.deployment_id)
            .map(|d| d.targets[c.target_index].events[c.event_index].status)
            .map_or("Succeeded", |s| {
                if s == Status::Failed {
                    "Failed"
                } else {
                    "Succeeded"
                }
            }),
    }
}

fn acknowledge(st: &mut State, input: &Value, caller: &str) -> Output {
    let diagnostics = check_diagnostics(input)?;
    let id = command(st, input, caller)?.id.clone();
    let command = st.commands.get_mut(&id).expect("found above");
    command.acknowledgement = diagnostics.map(|d| d.payload);
    if command.phase == CommandPhase::Queued {
        return Err(client_error("the host command has not been dispatched"));
    }
    if command.phase == CommandPhase::Dispatched {
        command.phase = CommandPhase::Acknowledged;
        tracing::debug!(
            deployment_id = %command.deployment_id,
            command_id = %command.id,
            event = %command.event,
            "command acknowledged"
        );
    }
    let command = &st.commands[&id];
    Ok(json!({ "CommandStatus": central_status(st, command) }))
}

fn update(st: &mut State, input: &Value, caller: &str) -> Output {
    check_diagnostics(input)?;
    if let Some(t) = input.get("EstimatedCompletionTime")
        && !t.is_number()
    {
        return Err(AwsError::serialization(
            "Unexpected value type for field 'EstimatedCompletionTime'",
        ));
    }
    let id = command(st, input, caller)?.id.clone();
    let estimate = input.get("EstimatedCompletionTime").and_then(Value::as_f64);
    let command = st.commands.get_mut(&id).expect("found above");
    command.updates.push(estimate);
    let command = &st.commands[&id];
    Ok(json!({ "CommandStatus": central_status(st, command) }))
}

/// Checks an optional `Diagnostics` envelope against the model's limits.
fn check_diagnostics(input: &Value) -> Result<Option<Envelope>, AwsError> {
    let Some(raw) = input.get("Diagnostics").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let envelope: Envelope = serde_json::from_value(raw.clone())
        .map_err(|_| AwsError::serialization("Unexpected value type for field 'Diagnostics'"))?;
    if envelope.format.is_empty() || envelope.format.chars().count() > 64 {
        return Err(client_error(
            "Diagnostics Format must be 1 to 64 characters",
        ));
    }
    if envelope.payload.chars().count() > 8192 {
        return Err(client_error(
            "Diagnostics Payload must be at most 8192 characters",
        ));
    }
    Ok(Some(envelope))
}

/// Reads the agent's payload, slipway-shared's [`Diagnostics`]. One that
/// is not such JSON is still shown: as the message of an unknown error.
fn diagnostics(envelope: Option<Envelope>, succeeded: bool) -> EventDiagnostics {
    let parsed = envelope
        .as_ref()
        .filter(|e| e.format == "JSON")
        .and_then(|e| serde_json::from_str::<Diagnostics>(&e.payload).ok());
    match parsed {
        Some(d) => EventDiagnostics {
            error_code: d.error_code.lifecycle_error_code().to_owned(),
            script_name: d.script_name,
            message: d.message,
            log_tail: d.log,
        },
        None => EventDiagnostics {
            error_code: if succeeded { "Success" } else { "UnknownError" }.to_owned(),
            script_name: String::new(),
            message: envelope.map(|e| e.payload).unwrap_or_default(),
            log_tail: String::new(),
        },
    }
}

fn complete(sim: &Arc<Simulation>, input: &Value, caller: &str) -> Output {
    let envelope = check_diagnostics(input)?;
    let succeeded = match string(input, "CommandStatus")? {
        "Succeeded" => true,
        "Failed" => false,
        other => {
            return Err(client_error(format!(
                "CommandStatus {other} is not a final status"
            )));
        }
    };
    let id = string(input, "HostCommandIdentifier")?;
    let diagnostics = diagnostics(envelope, succeeded);
    sim.with_state(|st| command(st, input, caller).map(|_| ()))?;
    let effects = sim
        .with_state(|st| orchestrator::complete_command(st, id, succeeded, diagnostics))
        .map_err(|e| {
            client_error(match e {
                CompleteError::Unknown => format!("HostCommandIdentifier {id} is unknown"),
                CompleteError::NotDispatched => {
                    format!("host command {id} has not been dispatched")
                }
                CompleteError::AlreadyCompleted => format!("host command {id} is already complete"),
                CompleteError::Abandoned => format!("host command {id} timed out or was cancelled"),
            })
        })?;
    sim.apply(effects);
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_envelope(payload: &str) -> Option<Envelope> {
        Some(Envelope {
            format: "JSON".into(),
            payload: payload.into(),
        })
    }

    #[test]
    fn execution_ids_name_deployment_and_target() {
        assert_eq!(
            parse_execution_id("123456789012/us-east-1/d-ABCDEFGHI/2"),
            Some(("d-ABCDEFGHI", 2))
        );
        assert_eq!(parse_execution_id("a/b/d-ABCDEFGHI"), None);
        assert_eq!(parse_execution_id("a/b/d-X/1/2"), None);
    }

    #[test]
    fn agent_codes_map_to_the_service_vocabulary() {
        let d = diagnostics(
            json_envelope(
                r#"{"error_code":4,"script_name":"scripts/start","message":"exit 1","log":"boom\n"}"#,
            ),
            false,
        );
        assert_eq!(d.error_code, "ScriptFailed");
        assert_eq!(d.script_name, "scripts/start");
        assert_eq!(d.log_tail, "boom\n");
        for (code, name) in [(6, "OutputsLeftOpen"), (7, "UnknownError")] {
            let payload =
                format!(r#"{{"error_code":{code},"script_name":"","message":"m","log":""}}"#);
            assert_eq!(diagnostics(json_envelope(&payload), false).error_code, name);
        }
    }

    #[test]
    fn unreadable_diagnostics_are_an_unknown_error() {
        let d = diagnostics(json_envelope("not json"), false);
        assert_eq!(d.error_code, "UnknownError");
        assert_eq!(d.message, "not json");
        assert_eq!(diagnostics(None, true).error_code, "Success");
    }
}
