//! `slipway-agent run`: the CodeDeploy host agent daemon. It resolves the
//! host's identity, fails what a previous run left in progress, serves the
//! local status API, and polls the host command service until told to stop.
//!
//! - [`identity`]: on-premises or EC2 identity, credentials, the endpoint.
//! - [`imds`]: the instance metadata service, v2 with the v1 fallback.
//! - [`network`]: the proxy and the trusted CAs of the AWS clients.
//! - [`socket`]: the status API's unix socket, its mode and group.
//! - [`poller`]: the poll loop and one command's round trip.
//! - [`tracking`]: the official ongoing-deployment files.
//! - [`status`]: the status board and its HTTP API.
//! - [`status_client`]: `slipway-agent status`.
//! - [`shutdown`]: the injected stop signal.
//! - [`memory`]: handing memory back while idle.

pub mod identity;
pub mod imds;
pub mod memory;
pub mod network;
pub mod poller;
pub mod shutdown;
pub mod socket;
pub mod status;
pub mod status_client;
pub mod tracking;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::Executor;
use crate::clock::SystemClock;
use crate::command_service::backoff::Backoff;
use crate::command_service::{CommandClient, Flavor};
use crate::config::Config;
use crate::executor::Host;
use crate::spec::envelope::{EnvelopePolicy, Verification};

/// `slipway-agent run`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The official `codedeployagent.yml`.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration was refused.
    #[error("cannot load the configuration")]
    Config(#[source] crate::Error),
    /// The on-premises identity file was refused.
    #[error("cannot use the on-premises configuration {path}: {reason}")]
    OnPremises {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// IMDS did not answer as an EC2 instance's does.
    #[error("cannot read {path} from the instance metadata service: {reason}")]
    Imds {
        /// The metadata path.
        path: &'static str,
        /// Why.
        reason: String,
    },
    /// A setting of the configuration file cannot be used.
    #[error("{config}: {key}: {reason}")]
    Setting {
        /// The configuration file.
        config: PathBuf,
        /// The key.
        key: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The status API could not listen.
    #[error("cannot serve the status API on {address}")]
    Status {
        /// The address or socket.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The log file the configuration names, when it can be read (a
/// configuration that cannot is reported by [`run`]).
pub fn log_file(args: &RunArgs) -> Option<PathBuf> {
    Config::load(args.config.as_deref())
        .ok()
        .map(|c| c.log_file())
}

/// Runs the daemon until `shutdown`.
pub async fn run(args: &RunArgs, shutdown: shutdown::Shutdown) -> Result<(), DaemonError> {
    let config = Config::load(args.config.as_deref()).map_err(DaemonError::Config)?;
    for (key, line) in &config.unknown_keys {
        tracing::warn!(key, line, "unknown configuration key, ignored");
    }
    // Settings that cannot work are refused before anything is contacted.
    let network = network::Network::from_config(&config)?;
    let socket_group = match &config.status_socket_group {
        Some(name) => Some(
            socket::group_id(name).map_err(|reason| DaemonError::Setting {
                config: config.path.clone(),
                key: "status_socket_group",
                reason,
            })?,
        ),
        None => None,
    };
    let identity = identity::resolve(&config).await?;
    let endpoint = identity::endpoint(&config, &identity.region, &identity.domain);
    tracing::info!(
        host_identifier = %identity.host_identifier,
        region = %identity.region,
        %endpoint,
        "starting"
    );
    let client = CommandClient::new(
        network.command_client(&config, Duration::from_secs(config.http_read_timeout))?,
        endpoint,
        identity.region.clone(),
        identity.credentials.clone(),
        crate::VERSION,
    )
    .with_flavor(if config.enable_auth_policy {
        Flavor::Secure
    } else {
        Flavor::Standard
    });
    let s3 = s3_client(&config, &identity, &network).await?;
    let board = status::Board::default();
    // Deployments matter more than the status API: without it, warn and go on.
    let server = match serve_status(&config, socket_group, board.clone(), shutdown.clone()).await {
        Ok(server) => Some(server),
        Err(error) => {
            tracing::warn!(error = %crate::executor::chain(&error), "status API not served");
            None
        }
    };
    let poller = poller::Poller {
        client,
        host_identifier: identity.host_identifier.clone(),
        tracker: tracking::Tracker::new(&config.root_dir, &config.ongoing_deployment_tracking),
        policy: envelope_policy(&config),
        wait_between_runs: Duration::from_secs_f64(config.wait_between_runs),
        backoff: Backoff::new(Duration::from_secs(config.wait_after_throttle_error)),
        grace: Duration::from_secs(config.kill_agent_max_wait_time_seconds),
        board,
        max_concurrent: poller::MAX_CONCURRENT_COMMANDS,
        update_interval: Duration::from_secs(config.command_update_interval),
        groups: poller::GroupLocks::default(),
        executor: Executor::new(Host {
            config,
            s3: Some(s3),
            clock: Arc::new(SystemClock),
            env: script_env(&identity.script_env),
        }),
    };
    // What start-up parsed and built and no longer needs.
    memory::release_free();
    poller.run(shutdown).await;
    if let Some(server) = server {
        server.abort();
    }
    Ok(())
}

/// The agent's environment with what the official agent adds to its own
/// from the on-premises file, for the hooks to inherit.
fn script_env(identity: &[(&'static str, String)]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !identity.iter().any(|(name, _)| k == name))
        .collect();
    env.extend(
        identity
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    env
}

/// An S3 client signing as the host, in its region, through
/// `s3_endpoint_override` when set, and through the proxy.
async fn s3_client(
    config: &Config,
    identity: &identity::Identity,
    network: &network::Network,
) -> Result<aws_sdk_s3::Client, DaemonError> {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(identity.region.clone()))
        .credentials_provider(identity.credentials.clone())
        .http_client(network.sdk_http_client(config)?)
        .load()
        .await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared);
    if let Some(endpoint) = &config.s3_endpoint_override {
        builder = builder.endpoint_url(endpoint).force_path_style(true);
    }
    Ok(aws_sdk_s3::Client::from_conf(builder.build()))
}

/// The envelope policy the configuration asks for.
pub fn envelope_policy(config: &Config) -> EnvelopePolicy {
    EnvelopePolicy {
        verification: match &config.envelope_ca_bundle {
            Some(ca_bundle) => Verification::Strict {
                ca_bundle: ca_bundle.clone(),
                subject_cn: config.envelope_signer_cn.clone(),
            },
            None => Verification::SignatureOnly,
        },
        allow_text: config.development_endpoint,
    }
}

async fn serve_status(
    config: &Config,
    group: Option<u32>,
    board: status::Board,
    mut shutdown: shutdown::Shutdown,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    let app = status::router(board);
    if let Some(address) = &config.status_address {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| DaemonError::Status {
                address: address.clone(),
                source,
            })?;
        tracing::info!(%address, "status API listening");
        return Ok(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.wait().await })
                .await;
        }));
    }
    let path = config.status_socket.clone();
    let listener = socket::bind(&path, group).map_err(|source| DaemonError::Status {
        address: path.display().to_string(),
        source,
    })?;
    tracing::info!(socket = %path.display(), "status API listening");
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await;
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identitys_variables_replace_the_agents_own_for_the_hooks() {
        // PATH is in every test process's environment; AWS_REGION may be.
        let env = script_env(&[("AWS_REGION", "eu-west-1".to_owned())]);
        let values = |name: &str| {
            env.iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(values("AWS_REGION"), [OsString::from("eu-west-1")]);
        assert_eq!(values("PATH").len(), 1);
    }
}
