//! The one error type of the test bed's library.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while starting or stopping a sandbox service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CodeDeploy simulator could not start.
    #[error("start the codedeploy simulator")]
    CodeDeploy {
        /// Why.
        #[source]
        source: crate::codedeploy::SimulatorError,
    },
    /// No free loopback port could be bound for a service.
    #[error("bind 127.0.0.1:0 for {service}")]
    Bind {
        /// The service that needed the port.
        service: &'static str,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// openssl could not generate the issuer's RSA key.
    #[error("generate the oidc signing key")]
    GenerateKey {
        /// openssl's error stack.
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// A token could not be signed.
    #[error("sign a token with key {kid}")]
    Sign {
        /// The key id of the signing key.
        kid: String,
        /// jsonwebtoken's error.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// A program `scripts/setup` installs into `.venv` is not there.
    #[error("{path} not found (run scripts/setup)")]
    VenvMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// moto_server could not be started.
    #[error("spawn {path}")]
    SpawnMoto {
        /// The executable.
        path: PathBuf,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// moto_server exited before it answered.
    #[error(
        "moto_server exited ({status}) before answering on {url}; its stderr ends: {stderr_tail}"
    )]
    MotoExited {
        /// The URL polled.
        url: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// The end of what it wrote to stderr.
        stderr_tail: String,
    },
    /// moto_server did not answer in time.
    #[error("moto_server did not answer on {url} within {timeout:?}")]
    MotoTimeout {
        /// The URL polled.
        url: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The TLS front's certificates could not be made.
    #[error("make the TLS front's certificates")]
    TlsCertificates {
        /// Why.
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// The TLS front (socat) could not be started or never listened.
    #[error("start the TLS front: {step}")]
    TlsFront {
        /// What failed.
        step: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client used for readiness checks and JWKS fetches could not be built.
    #[error("build the http client")]
    HttpClient {
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// A service did not answer its readiness probe.
    #[error("probe {url}")]
    Probe {
        /// The URL probed.
        url: String,
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// The environment could not be written out.
    #[error("write the sandbox environment")]
    WriteEnv {
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// The environment file could not be written.
    #[error("write the sandbox environment to {path}")]
    WriteEnvFile {
        /// The file.
        path: PathBuf,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// A host's agent configuration could not be written.
    #[error("write the agent configuration {path}")]
    WriteAgentConfig {
        /// The file or directory.
        path: PathBuf,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// A trust policy document is not JSON.
    #[error("trust policy of role {role} is not JSON")]
    TrustDocumentJson {
        /// The role being defined.
        role: String,
        /// serde_json's error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A trust policy document says something the sandbox cannot model.
    #[error("trust policy of role {role}: {field}: {reason}")]
    TrustDocument {
        /// The role being defined.
        role: String,
        /// Where in the document (`Statement[0].Condition.StringLike`).
        field: String,
        /// What is wrong there.
        reason: &'static str,
    },
    /// A temporary directory could not be created.
    #[error("create a temp dir for {purpose}")]
    TempDir {
        /// What it was for.
        purpose: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A program the test bed runs could not be started.
    #[error("spawn {program}")]
    Spawn {
        /// The program.
        program: String,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// A program exited before it was ready, or failed.
    #[error("{program} exited ({status}); its log ends: {log_tail}")]
    ProgramExited {
        /// The program.
        program: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// The end of its log or output.
        log_tail: String,
    },
    /// A program did not become ready in time.
    #[error("{program} was not ready within {timeout:?}; its log ends: {log_tail}")]
    ProgramTimeout {
        /// The program.
        program: String,
        /// How long we waited.
        timeout: Duration,
        /// The end of its log.
        log_tail: String,
    },
    /// A SQL statement run through the `mariadb` client failed.
    #[error("mariadb -e {sql:?}: {output}")]
    Query {
        /// The statements.
        sql: String,
        /// The client's stderr.
        output: String,
    },
    /// A file or directory of a host program could not be written.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done ("create", "write").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
