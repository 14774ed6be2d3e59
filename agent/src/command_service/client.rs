//! A client of the CodeDeploy host command service, as the official agent
//! calls it: `POST /`, JSON 1.1, `X-Amz-Target: <prefix>.<Op>`, the
//! agent-version header, and SigV4 for `codedeploy-commands` (or
//! `codedeploy-commands-secure` with `enable_auth_policy`). No SDK exists for
//! this API; retries are the poller's, so this layer never retries.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::{Value, json};

use super::types::{CommandStatus, HostCommand, PollOutput, SpecificationOutput, StatusOutput};
use crate::spec::envelope::Envelope;

/// The header the agent names its version in.
pub const AGENT_VERSION_HEADER: &str = "x-amz-codedeploy-agent-version";
/// The official agent's read timeout: a long poll must answer within it.
pub const HTTP_READ_TIMEOUT: Duration = Duration::from_secs(80);

/// Which of the two models the agent speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavor {
    /// `codedeploy-commands`, target `CodeDeployCommandService_v20141006`.
    #[default]
    Standard,
    /// `codedeploy-commands-secure`, target `CodeDeployCommandService`
    /// (`enable_auth_policy`).
    Secure,
}

impl Flavor {
    /// The SigV4 signing name (the model's endpointPrefix; never `-fips`).
    pub const fn signing_name(self) -> &'static str {
        match self {
            Flavor::Standard => "codedeploy-commands",
            Flavor::Secure => "codedeploy-commands-secure",
        }
    }

    /// The prefix of every `X-Amz-Target`.
    pub const fn target_prefix(self) -> &'static str {
        match self {
            Flavor::Standard => "CodeDeployCommandService_v20141006",
            Flavor::Secure => "CodeDeployCommandService",
        }
    }
}

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
    /// No credentials to sign with.
    #[error("no credentials to sign {operation}")]
    Credentials {
        /// The operation called.
        operation: String,
        /// Why.
        #[source]
        source: aws_credential_types::provider::error::CredentialsError,
    },
    /// The request could not be signed.
    #[error("cannot sign {operation}: {reason}")]
    Sign {
        /// The operation called.
        operation: String,
        /// Why.
        reason: String,
    },
    /// The service answered with an AWS error.
    #[error("{operation} was refused with {status} {kind}: {message}")]
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

    /// Whether the service asked us to slow down (the official agent's
    /// `/throttle|rateexceeded/i` on the error).
    pub fn is_throttling(&self) -> bool {
        match self {
            Self::Service {
                kind,
                status,
                message,
                ..
            } => {
                let text = format!("{kind} {message}").to_lowercase();
                *status == 429 || text.contains("throttl") || text.contains("rateexceeded")
            }
            _ => false,
        }
    }
}

/// A signed client of the command service.
#[derive(Debug, Clone)]
pub struct CommandClient {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credentials: SharedCredentialsProvider,
    agent_version: String,
    flavor: Flavor,
}

impl CommandClient {
    /// A client of `endpoint` (`https://codedeploy-commands.…` or
    /// `http://127.0.0.1:PORT`) signing for `region` with `credentials`.
    pub fn new(
        http: reqwest::Client,
        endpoint: impl Into<String>,
        region: impl Into<String>,
        credentials: impl ProvideCredentials + 'static,
        agent_version: impl Into<String>,
    ) -> Self {
        Self {
            http,
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            region: region.into(),
            credentials: SharedCredentialsProvider::new(credentials),
            agent_version: agent_version.into(),
            flavor: Flavor::Standard,
        }
    }

    /// The same client speaking `flavor`.
    pub fn with_flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// The model this client speaks.
    pub fn flavor(&self) -> Flavor {
        self.flavor
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
        let output: PollOutput = self
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
    ) -> Result<Option<CommandStatus>, CommandError> {
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
        command_status: CommandStatus,
        diagnostics: Option<&Envelope>,
    ) -> Result<(), CommandError> {
        let mut input = json!({
            "HostCommandIdentifier": host_command_identifier,
            "CommandStatus": command_status.as_str(),
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
    ) -> Result<Option<CommandStatus>, CommandError> {
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
        let target = format!("{}.{operation}", self.flavor.target_prefix());
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
            let error: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
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
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|source| CommandError::Credentials {
                operation: operation.clone(),
                source,
            })?;
        let headers = self
            .signed_headers(&credentials, target, &body, SystemTime::now())
            .map_err(|reason| CommandError::Sign {
                operation: operation.clone(),
                reason,
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

    /// The headers of a call, the SigV4 ones included: the official agent
    /// signs content-type, host, the agent version, x-amz-content-sha256,
    /// x-amz-date and x-amz-target.
    pub fn signed_headers(
        &self,
        credentials: &aws_credential_types::Credentials,
        target: &str,
        body: &[u8],
        at: SystemTime,
    ) -> Result<Vec<(String, String)>, String> {
        let url = url::Url::parse(&self.endpoint).map_err(|e| e.to_string())?;
        let host = url.host_str().ok_or("the endpoint has no host")?;
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
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
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.flavor.signing_name())
            .time(at)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?;
        let signable = SignableRequest::new(
            "POST",
            format!("{}/", self.endpoint),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params.into())
            .map_err(|e| e.to_string())?
            .into_parts();
        headers.extend(
            instructions
                .headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned())),
        );
        // reqwest sets the host header from the URL itself.
        headers.retain(|(name, _)| name != "host");
        Ok(headers)
    }
}
