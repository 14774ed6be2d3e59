//! The `slipway` command line.
//!
//! Flags double as GitHub Action inputs: each command documents which
//! `INPUT_*` variable feeds which flag.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Ship a commit to EC2 through AWS CodeDeploy, with no long-lived keys.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `slipway` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with appspec.yml.
    #[command(subcommand)]
    Appspec(AppspecCommand),
}

/// `slipway appspec …`
#[derive(Debug, Subcommand)]
pub enum AppspecCommand {
    /// Check a bundle directory's appspec against the tree, as CodeDeploy
    /// reads it. Prints every problem and exits 1 if there are any.
    Check {
        /// The bundle's root directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appspec_check_defaults_to_the_current_directory() {
        let cli = Cli::try_parse_from(["slipway", "appspec", "check"]).unwrap();
        let Command::Appspec(AppspecCommand::Check { dir }) = cli.command;
        assert_eq!(dir, PathBuf::from("."));
    }

    #[test]
    fn appspec_check_takes_a_directory() {
        let cli = Cli::try_parse_from(["slipway", "appspec", "check", "appspec/"]).unwrap();
        let Command::Appspec(AppspecCommand::Check { dir }) = cli.command;
        assert_eq!(dir, PathBuf::from("appspec/"));
    }
}
