//! `slipway`: the GitHub Action's binary. It parses arguments, starts
//! tracing and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use slipway_action::bundle;
use slipway_action::cli::{AppspecCommand, Cli, Command};
use slipway_action::credentials::{self, retry::Backoff};
use slipway_action::env::Env;
use slipway_action::github::commands::escape_data;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .init();
    let env = Env::from_process();
    match run(cli, &env) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => {
            // The reader went away (`slipway … | head`): nothing to report.
            ExitCode::SUCCESS
        }
        Err(err) => {
            if env.is_actions() {
                // An annotation shows on the run's summary, not just the log.
                println!("::error::{}", escape_data(&format!("{err:#}")));
            }
            eprintln!("slipway: {err:#}");
            ExitCode::from(slipway_action::cli::EXIT_JOB_FAILED)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `SLIPWAY_LOG` (default: errors only), with the AWS SDK and HTTP stack capped at info:
/// at debug and trace it prints the resolved identity, whose credentials
/// carry the access key id (and signing logs the Authorization header), and a step's stderr may reach the log before the
/// runner has seen the masks on stdout.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::from_env("SLIPWAY_LOG");
    // A target directive matches by prefix: `aws` covers every aws_* crate.
    for target in ["aws", "hyper", "reqwest"] {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

fn run(cli: Cli, env: &Env) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Appspec(AppspecCommand::Check {
            dir,
            appspec_filename,
        }) => {
            let clean = slipway_action::appspec_check::run_named(
                &dir,
                appspec_filename.as_deref(),
                env.is_actions(),
                &mut std::io::stdout().lock(),
            )?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bundle(args) => {
            let options = bundle::options_from(&args, env)?;
            let out_dir = args.output_dir.clone().unwrap_or_else(|| ".".into());
            let built = bundle::build(&options, &out_dir)?;
            let mut stdout = std::io::stdout().lock();
            let valid = bundle::require_valid_appspec(
                &built,
                std::path::Path::new(""),
                env.is_actions(),
                &mut stdout,
            );
            bundle::describe(&built, &mut stdout)?;
            valid?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deploy(args) => {
            let ok = runtime()?.block_on(slipway_action::deploy::run(
                &args,
                env,
                http()?,
                &mut std::io::stdout(),
            ))?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Rollback(args) => {
            let ok = runtime()?.block_on(slipway_action::rollback::run(
                &args,
                env,
                http()?,
                &mut std::io::stdout(),
            ))?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Status(args) => {
            runtime()?.block_on(slipway_action::status::run(
                &args,
                env,
                http()?,
                &mut std::io::stdout(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Credentials(args) if args.cleanup => {
            credentials::cleanup(env, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Credentials(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let http = reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .timeout(std::time::Duration::from_secs(30))
                .build()?;
            let mut cx = credentials::Context {
                env,
                http,
                backoff: Backoff::default(),
                out: &mut std::io::stdout(),
                err: &mut std::io::stderr(),
            };
            runtime.block_on(credentials::run(&args, &mut cx))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn http() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .build()
}
