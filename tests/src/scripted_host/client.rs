//! A client for the CodeDeploy host command service, as the official agent
//! calls it: `POST /`, JSON 1.1, `X-Amz-Target:
//! CodeDeployCommandService_v20141006.<Op>`, the agent-version header, and
//! SigV4 for the service `codedeploy-commands`.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::codedeploy::envelope::Envelope;
use crate::credentials::IssuedCredential;
use crate::sigv4_sign::RequestSigner;

/// The SigV4 signing name (the model's endpointPrefix).
pub const SIGNING_NAME: &str = "codedeploy-commands";
/// The prefix of every `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "CodeDeployCommandService_v20141006";
/// The header the agent names its version in.
pub const AGENT_VERSION_HEADER: &str = "x-amz-codedeploy-agent-version";
/// The official agent's read timeout: a long poll must answer within it.
pub const HTTP_READ_TIMEOUT: Duration = Duration::from_secs(80);

/// Why a command-service call failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The request never got an HTTP answer.
    #[error("{operation} to {url} failed")]
    Transport {
        /// The operation called.
        operation: String,
        /// The endpoint.
        url: String,
        /// What reqwest saw.
        #[source]
        source: reqwest::Error,
    },
    /// The request could not be signed.
    #[error("cannot sign {operation}")]
    Sign {
        /// The operation called.
        operation: String,
    },
    /// The service answered with an AWS error.
    #[error("{operation} was refused with {status} {kind}")]
    Service {
        /// The operation called.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The `__type`, without its namespace.
        kind: String,
        /// The error's message, if any.
        message: String,
    },
    /// The answer was not the JSON the model describes.
    #[error("{operation} answered with unreadable JSON")]
    Decode {
        /// The operation called.
        operation: String,
        /// What serde saw.
        #[source]
        source: serde_json::Error,
    },
}

impl CommandError {
    /// The AWS exception name, for a service error.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Service { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// A command handed out by PollHostCommand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostCommand {
    /// Opaque; echoed in the ack and the completion.
    pub host_command_identifier: String,
    /// The host the command is for (a substring of ours).
    pub host_identifier: Option<String>,
    /// Names the deployment and host for GetDeploymentSpecification.
    pub deployment_execution_id: String,
    /// The lifecycle event.
    pub command_name: Option<String>,
    /// Opaque.
    pub nonce: Option<i64>,
}

/// GetDeploymentSpecification's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpecificationOutput {
    /// Must be `CodeDeploy`.
    pub deployment_system: Option<String>,
    /// The envelopes.
    pub deployment_specification: Option<DeploymentSpecification>,
}

/// The envelopes of a deployment specification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentSpecification {
    /// The only envelope the agent uses.
    pub generic_envelope: Option<Envelope>,
    /// Unused by the agent.
    pub variant_id: Option<String>,
    /// Unused by the agent.
    pub variant_envelope: Option<Envelope>,
}

/// A signed client of the command service for one set of credentials.
#[derive(Debug, Clone)]
pub struct CommandClient {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credential: IssuedCredential,
    agent_version: String,
}

impl CommandClient {
    /// A client of `endpoint` (`http://127.0.0.1:PORT`) that signs with `credential`.
    pub fn new(
        http: reqwest::Client,
        endpoint: impl Into<String>,
        region: impl Into<String>,
        credential: IssuedCredential,
        agent_version: impl Into<String>,
    ) -> Self {
        Self {
            http,
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            region: region.into(),
            credential,
            agent_version: agent_version.into(),
        }
    }

    /// An HTTP client with the official agent's read timeout.
    pub fn default_http() -> reqwest::Client {
        reqwest::Client::builder()
            .read_timeout(HTTP_READ_TIMEOUT)
            .build()
            .unwrap_or_default()
    }

    /// PollHostCommand: the next command for `host_identifier`, if any.
    pub async fn poll_host_command(
        &self,
        host_identifier: &str,
    ) -> Result<Option<HostCommand>, CommandError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Output {
            host_command: Option<HostCommand>,
        }
        let output: Output = self
            .call(
                "PollHostCommand",
                json!({ "HostIdentifier": host_identifier }),
            )
            .await?;
        Ok(output.host_command)
    }

    /// GetDeploymentSpecification for a polled command.
    pub async fn get_deployment_specification(
        &self,
        deployment_execution_id: &str,
        host_identifier: &str,
    ) -> Result<SpecificationOutput, CommandError> {
        self.call(
            "GetDeploymentSpecification",
            json!({
                "DeploymentExecutionId": deployment_execution_id,
                "HostIdentifier": host_identifier,
            }),
        )
        .await
    }

    /// PutHostCommandAcknowledgement; returns the central command status, if given.
    pub async fn put_host_command_acknowledgement(
        &self,
        host_command_identifier: &str,
        diagnostics: Option<&Envelope>,
    ) -> Result<Option<String>, CommandError> {
        let mut input = json!({ "HostCommandIdentifier": host_command_identifier });
        if let Some(d) = diagnostics {
            input["Diagnostics"] = json!(d);
        }
        let output: StatusOutput = self.call("PutHostCommandAcknowledgement", input).await?;
        Ok(output.command_status)
    }

    /// PutHostCommandComplete with `Succeeded` or `Failed`.
    pub async fn put_host_command_complete(
        &self,
        host_command_identifier: &str,
        command_status: &str,
        diagnostics: Option<&Envelope>,
    ) -> Result<(), CommandError> {
        let mut input = json!({
            "HostCommandIdentifier": host_command_identifier,
            "CommandStatus": command_status,
        });
        if let Some(d) = diagnostics {
            input["Diagnostics"] = json!(d);
        }
        let _: Value = self.call("PutHostCommandComplete", input).await?;
        Ok(())
    }

    /// PostHostCommandUpdate (the Ruby agent never calls it); returns the
    /// central command status, if given.
    pub async fn post_host_command_update(
        &self,
        host_command_identifier: &str,
        estimated_completion: Option<SystemTime>,
        diagnostics: Option<&Envelope>,
    ) -> Result<Option<String>, CommandError> {
        let mut input = json!({ "HostCommandIdentifier": host_command_identifier });
        if let Some(at) = estimated_completion {
            let epoch = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            input["EstimatedCompletionTime"] = json!(epoch);
        }
        if let Some(d) = diagnostics {
            input["Diagnostics"] = json!(d);
        }
        let output: StatusOutput = self.call("PostHostCommandUpdate", input).await?;
        Ok(output.command_status)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        input: Value,
    ) -> Result<T, CommandError> {
        let target = format!("{TARGET_PREFIX}.{operation}");
        let body = serde_json::to_vec(&input).map_err(|source| CommandError::Decode {
            operation: operation.to_owned(),
            source,
        })?;
        let (status, bytes) = self.send_raw(&target, body).await?;
        let decode = |source| CommandError::Decode {
            operation: operation.to_owned(),
            source,
        };
        if !(200..300).contains(&status) {
            let error: Value = serde_json::from_slice(&bytes).map_err(decode)?;
            let kind = error["__type"].as_str().unwrap_or_default();
            let kind = kind.rsplit('#').next().unwrap_or(kind);
            let kind = kind.split(':').next().unwrap_or(kind).to_owned();
            let message = error["message"]
                .as_str()
                .or_else(|| error["Message"].as_str())
                .unwrap_or_default()
                .to_owned();
            return Err(CommandError::Service {
                operation: operation.to_owned(),
                status,
                kind,
                message,
            });
        }
        if bytes.is_empty() {
            return serde_json::from_slice(b"{}").map_err(decode);
        }
        serde_json::from_slice(&bytes).map_err(decode)
    }

    /// Sends `body` signed under `target` (any target, well-formed or not)
    /// and returns the HTTP status and body, for tests of bad input.
    pub async fn send_raw(
        &self,
        target: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), CommandError> {
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        let url = format!("{}/", self.endpoint);
        let transport = |source| CommandError::Transport {
            operation: operation.clone(),
            url: url.clone(),
            source,
        };
        let headers = self
            .signed_headers(target, &body, SystemTime::now())
            .ok_or_else(|| CommandError::Sign {
                operation: operation.clone(),
            })?;
        let mut request = self.http.post(&url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        Ok((status, bytes.to_vec()))
    }

    /// The headers of a call, the SigV4 ones included.
    fn signed_headers(
        &self,
        target: &str,
        body: &[u8],
        at: SystemTime,
    ) -> Option<Vec<(String, String)>> {
        let host = url::Url::parse(&self.endpoint).ok()?;
        let host = match host.port() {
            Some(port) => format!("{}:{port}", host.host_str()?),
            None => host.host_str()?.to_owned(),
        };
        let mut headers = vec![
            ("host".to_owned(), host),
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            ),
            ("x-amz-target".to_owned(), target.to_owned()),
            (AGENT_VERSION_HEADER.to_owned(), self.agent_version.clone()),
        ];
        let url = format!("{}/", self.endpoint);
        let signer = RequestSigner {
            credential: &self.credential,
            region: &self.region,
            service: SIGNING_NAME,
        };
        let signature = signer.sign_headers("POST", &url, &headers, body, at).ok()?;
        headers.extend(signature);
        // reqwest sets the host header from the URL itself.
        headers.retain(|(name, _)| name != "host");
        Some(headers)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatusOutput {
    command_status: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::CredentialStore;
    use crate::sigv4_verify;

    #[test]
    fn signs_calls_the_command_plane_accepts() {
        let credential = IssuedCredential {
            access_key_id: "AKIASCRIPTEDHOST0001".to_owned(),
            secret_access_key: "scripted/host/secret/0123456789abcdefghi".to_owned(),
            session_token: None,
            expiration: None,
            principal_arn: "arn:aws:iam::123456789012:user/host-1".to_owned(),
        };
        let store = CredentialStore::default();
        store.insert(credential.clone());
        let client = CommandClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:4567",
            "us-east-1",
            credential.clone(),
            "OFFICIAL_1.8.1-test",
        );
        let body = br#"{"HostIdentifier":"arn:aws:iam::123456789012:user/host-1"}"#;
        let now = SystemTime::now();
        let target = format!("{TARGET_PREFIX}.PollHostCommand");
        let mut headers = http::HeaderMap::new();
        // reqwest adds the host header from the URL.
        headers.insert("host", "127.0.0.1:4567".parse().unwrap());
        for (name, value) in client.signed_headers(&target, body, now).unwrap() {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        assert_eq!(headers[AGENT_VERSION_HEADER], "OFFICIAL_1.8.1-test");
        let verified = sigv4_verify::verify(
            &http::Method::POST,
            &"/".parse().unwrap(),
            &headers,
            body,
            SIGNING_NAME,
            "us-east-1",
            &store,
            now,
        );
        assert_eq!(verified, Ok(credential));
    }
}
