//! GitHub Actions conventions: how a step talks to the runner.
//!
//! # Layout
//! - [`commands`]: workflow commands on stdout (annotations, masks, groups).

pub mod commands;

/// Whether this process runs as a GitHub Actions step (`GITHUB_ACTIONS=true`).
pub fn is_actions(env: impl Fn(&str) -> Option<String>) -> bool {
    env("GITHUB_ACTIONS").as_deref() == Some("true")
}
