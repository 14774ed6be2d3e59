//! `slipway-agent`: the host agent's binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slipway_agent::local::{self, LocalArgs, Outcome};
use slipway_agent::steps::cli::{self as steps, RollbackArgs, Step};
use slipway_shared::diagnostics::ErrorCode;

/// The Slipway host agent.
#[derive(Debug, Parser)]
#[command(name = "slipway-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Deploy a revision on this host without CodeDeploy, like codedeploy-local.
    Local(LocalArgs),
    /// Run one built-in step (Supervisor, Gunicorn, Celery, nginx, secrets) from a hook script.
    Step {
        #[command(subcommand)]
        step: Step,
    },
    /// Switch this host back to the previous release and reload, without CodeDeploy.
    Rollback(RollbackArgs),
}

/// A step that ran and failed exits 1 like a failed event, with its reason.
fn step_outcome(result: Result<(), slipway_agent::steps::StepError>) -> anyhow::Result<Outcome> {
    match result {
        Ok(()) => Ok(Outcome::Succeeded),
        Err(error) => {
            eprintln!("slipway-agent: {}", slipway_agent::executor::chain(&error));
            Ok(Outcome::Failed(ErrorCode::ScriptFailed))
        }
    }
}

/// Exit codes: 0 deployed, 1 an event failed, 2 the command could not run.
fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("slipway-agent: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result: anyhow::Result<Outcome> = runtime.block_on(async {
        match &cli.command {
            Command::Local(args) => Ok(local::run(args, &mut std::io::stdout()).await?),
            Command::Step { step } => {
                step_outcome(steps::run_step(step, &mut std::io::stdout()).await)
            }
            Command::Rollback(args) => {
                step_outcome(steps::rollback(args, &mut std::io::stdout()).await)
            }
        }
    });
    match result {
        Ok(Outcome::Succeeded) => ExitCode::SUCCESS,
        Ok(Outcome::Failed(_)) => ExitCode::from(1),
        Err(error) => {
            eprintln!(
                "slipway-agent: {}",
                slipway_agent::executor::chain(error.as_ref())
            );
            ExitCode::from(2)
        }
    }
}
