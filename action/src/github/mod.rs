//! GitHub Actions conventions: how a step talks to the runner.
//!
//! # Layout
//! - [`commands`]: workflow commands on stdout (annotations, masks, groups).
//! - [`inputs`]: `INPUT_*` variables, toolkit booleans, required inputs.
//! - [`files`]: GITHUB_ENV and GITHUB_OUTPUT, with heredoc delimiters.
//! - [`summary`]: the job summary (GITHUB_STEP_SUMMARY).

pub mod commands;
pub mod files;
pub mod inputs;
pub mod summary;

/// Whether this process runs as a GitHub Actions step (`GITHUB_ACTIONS=true`).
pub fn is_actions(env: impl Fn(&str) -> Option<String>) -> bool {
    env("GITHUB_ACTIONS").as_deref() == Some("true")
}
