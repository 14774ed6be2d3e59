//! Hook-runner mode's errors: each names the variable, the config file and
//! line, or the event and step that failed.

use std::path::PathBuf;

use crate::steps::StepError;

/// What went wrong in `slipway-agent hook`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The official agent sets LIFECYCLE_EVENT for every hook; it is absent.
    #[error(
        "LIFECYCLE_EVENT is not set: `slipway-agent hook` runs as an appspec hook under the CodeDeploy agent (use --check to test the config)"
    )]
    NoEvent,
    /// LIFECYCLE_EVENT names no event that runs hooks.
    #[error(
        "LIFECYCLE_EVENT={name} is not a lifecycle event that runs hooks (expected one of {expected})"
    )]
    UnknownEvent {
        /// The value found.
        name: String,
        /// The event names that run hooks.
        expected: String,
    },
    /// Another variable the official agent sets for every hook is absent.
    #[error("{var} is not set (the CodeDeploy agent sets it for every hook)")]
    MissingEnv {
        /// The variable.
        var: &'static str,
    },
    /// The config or the env file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The config or the env file says something wrong.
    #[error("{path}:{line}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The 1-based line (0 when unknown).
        line: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The config has no entry for the event being run.
    #[error("{path}: no steps for {event}; add `{event}: []` under `events:` to run none")]
    EventNotConfigured {
        /// The config file.
        path: PathBuf,
        /// The event.
        event: String,
    },
    /// A step failed; the event stops there.
    #[error("{event}: the step at {path}:{line} failed")]
    Step {
        /// The event.
        event: String,
        /// The config file.
        path: PathBuf,
        /// The step's line.
        line: u64,
        /// Why (boxed: a step's error is large).
        #[source]
        source: Box<StepError>,
    },
}
