//! `slipway`: the GitHub Action's binary. It parses arguments, starts
//! tracing and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use slipway_action::cli::{AppspecCommand, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("SLIPWAY_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("slipway: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Appspec(AppspecCommand::Check { dir }) => {
            let env = |name: &str| std::env::var(name).ok();
            let clean = slipway_action::appspec_check::run(
                &dir,
                slipway_action::github::is_actions(env),
                &mut std::io::stdout().lock(),
            )?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
