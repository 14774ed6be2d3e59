//! `slipway-sandbox`: runs the local AWS test bed and prints the `export`
//! lines that point slipway, the AWS CLI or boto3 at it. Ctrl-C or SIGTERM
//! stops it.
//!
//! ```sh
//! slipway-sandbox --env-file .sandbox/env &
//! until [ -f .sandbox/env ]; do sleep 0.1; done
//! . .sandbox/env
//! aws sts get-caller-identity    # arn:aws:iam::123456789012:user/sandbox
//! ```
//!
//! With `--hosts 3 --agents DIR`, three on-premises hosts are registered
//! and `slipway-agent run --config DIR/host-1/codedeployagent.yml` (and so
//! on) serves them. With `--django` too, each host also gets the Django
//! stack the reference appspec deploys onto (`make demo`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slipway_tests::demo::DemoHosts;
use tokio::signal::unix::{SignalKind, signal};

/// Runs the local AWS test bed (OIDC issuer, STS, IMDS, moto) until Ctrl-C.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Skip moto (no S3, SSM or KMS endpoints).
    #[arg(long)]
    without_moto: bool,
    /// Let IMDS answer token-less (IMDSv1) requests.
    #[arg(long)]
    allow_imds_v1: bool,
    /// Register this many on-premises hosts (tag `slipway-demo=web`), each
    /// with its own IAM user. Without --agents, a scripted host plays each
    /// one, its hooks succeeding after a moment.
    #[arg(long, default_value_t = 0, value_name = "N")]
    hosts: usize,
    /// Play no hosts: write each one's official `codedeployagent.yml` and
    /// `codedeploy.onpremises.yml` under DIR/host-<i>/ (with its own
    /// deployment root and logs there) for `slipway-agent run --config`.
    #[arg(long, value_name = "DIR")]
    agents: Option<PathBuf>,
    /// With --agents: give each host the Django stack the reference appspec
    /// deploys onto (its own supervisord and nginx under DIR/host-<i>/, one
    /// MariaDB and one redis for all) and the environment its agent runs
    /// with, DIR/host-<i>/agent.env; export the database's and broker's
    /// settings (SHOP_DB_*, SHOP_BROKER_URL) and each site's URL
    /// (SHOP_SITE_HOST_<i>).
    #[arg(long, requires = "agents")]
    django: bool,
    /// Also write the `export` lines to this file (atomically, once every
    /// service answers; removed again on exit), for scripts to source.
    #[arg(long, value_name = "PATH")]
    env_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("slipway-sandbox: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut builder = slipway_tests::Sandbox::builder();
    if args.without_moto {
        builder = builder.without_moto();
    }
    if args.allow_imds_v1 {
        builder = builder.allow_imds_v1();
    }
    // Registered before anything starts, so an early Ctrl-C still stops
    // the sandbox cleanly instead of killing the process outright.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    if args.agents.is_some() && args.hosts == 0 {
        anyhow::bail!("--agents DIR needs --hosts N (how many hosts to write under DIR)");
    }
    let hosts = match &args.agents {
        Some(dir) => DemoHosts::Agents {
            count: args.hosts,
            dir,
            django: args.django,
        },
        None => DemoHosts::Scripted(args.hosts),
    };
    slipway_tests::demo::run(
        builder,
        hosts,
        args.env_file.as_deref(),
        std::io::stdout(),
        shutdown,
    )
    .await?;
    Ok(())
}
