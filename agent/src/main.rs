//! `slipway-agent`: the host agent's binary.

use std::process::ExitCode;

use clap::Parser;

/// The Slipway host agent (the host command protocol is not wired up yet).
#[derive(Debug, Parser)]
#[command(name = "slipway-agent", version, about)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    eprintln!(
        "slipway-agent {}: the host command poller is not built yet",
        slipway_agent::VERSION
    );
    ExitCode::from(2)
}
