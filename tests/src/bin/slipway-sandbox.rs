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

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
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
    slipway_tests::demo::run(
        builder,
        args.env_file.as_deref(),
        std::io::stdout(),
        shutdown,
    )
    .await?;
    Ok(())
}
