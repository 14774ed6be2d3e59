//! `slipway-agent`: the host agent's binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slipway_agent::daemon::{self, RunArgs, shutdown, status_client};
use slipway_agent::hook_mode::{self, HookArgs};
use slipway_agent::local::{self, LocalArgs, Outcome};
use slipway_agent::steps::cli::{self as steps, RollbackArgs, Step};
use slipway_shared::diagnostics::ErrorCode;

/// The Slipway host agent.
#[derive(Debug, Parser)]
#[command(name = "slipway-agent", version, about)]
struct Cli {
    /// Log lines as `human` text or `json`.
    #[arg(long, global = true, default_value = "human")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Deploy a revision on this host without CodeDeploy, like codedeploy-local.
    Local(LocalArgs),
    /// Run one built-in step (Supervisor, Gunicorn, Celery, nginx, secrets, Django) from a hook script.
    Step {
        #[command(subcommand)]
        step: Step,
    },
    /// Run the steps configured for the event the official CodeDeploy agent is running (LIFECYCLE_EVENT).
    Hook(HookArgs),
    /// Switch this host back to the previous release and reload, without CodeDeploy.
    Rollback(RollbackArgs),
    /// Run as the CodeDeploy host agent: poll for commands until SIGTERM.
    Run(RunArgs),
    /// Show what the running agent is doing and its last deployment.
    Status(RunArgs),
}

/// A step that ran and failed exits 1 like a failed event, with its reason.
fn step_outcome<E: std::error::Error>(result: Result<(), E>) -> anyhow::Result<Outcome> {
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
    let default_level = match cli.command {
        Command::Run(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // The daemon also logs where the official agent does, so an operator's
    // habits (and log shippers) keep working after the swap.
    let log_file = match &cli.command {
        Command::Run(args) => daemon::log_file(args).and_then(|path| open_log(&path)),
        _ => None,
    };
    init_logs(filter, cli.log_format, log_file);
    // The daemon waits on sockets and child processes nearly all the time:
    // one runtime thread does, where a worker per core would each cost a
    // stack and a malloc arena for nothing (blocking work has its own pool).
    // Before the runtime's threads: it sets the env file's variables.
    let hook = match &cli.command {
        // SAFETY: no other thread has started yet.
        Command::Hook(args) => match unsafe { hook_mode::load(args) } {
            Ok(loaded) => Some(loaded),
            Err(error) => {
                eprintln!("slipway-agent: {}", slipway_agent::executor::chain(&error));
                return ExitCode::from(1);
            }
        },
        _ => None,
    };
    let runtime = match &cli.command {
        Command::Run(_) => {
            daemon::memory::limit_arenas();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        _ => tokio::runtime::Runtime::new(),
    };
    let runtime = match runtime {
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
            Command::Hook(_) => {
                let loaded = hook.as_ref().expect("loaded before the runtime");
                step_outcome(hook_mode::run(loaded, &mut std::io::stdout()).await)
            }
            Command::Rollback(args) => {
                step_outcome(steps::rollback(args, &mut std::io::stdout()).await)
            }
            Command::Run(args) => {
                let (trigger, stop) = shutdown::channel();
                tokio::spawn(async move {
                    wait_for_stop_signal().await;
                    trigger.trigger();
                });
                daemon::run(args, stop).await?;
                Ok(Outcome::Succeeded)
            }
            Command::Status(args) => {
                status_client::print(args, &mut std::io::stdout()).await?;
                Ok(Outcome::Succeeded)
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

/// Opens `path` for appending, creating its directory; a file that cannot
/// be opened leaves stderr as the only log, with a line saying why.
fn open_log(path: &std::path::Path) -> Option<std::fs::File> {
    let opened = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        });
    match opened {
        Ok(file) => Some(file),
        Err(e) => {
            eprintln!(
                "slipway-agent: cannot log to {} ({e}); logging to stderr only",
                path.display()
            );
            None
        }
    }
}

/// Log lines to stderr, and to `file` when there is one (without colours).
fn init_logs(
    filter: tracing_subscriber::EnvFilter,
    format: LogFormat,
    file: Option<std::fs::File>,
) {
    use std::io::IsTerminal;
    use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
    let ansi = file.is_none() && std::io::stderr().is_terminal();
    let writer = match file {
        Some(file) => BoxMakeWriter::new(std::io::stderr.and(std::sync::Arc::new(file))),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// SIGTERM or SIGINT.
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
