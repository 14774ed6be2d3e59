//! The steps' errors. Each names what the step was doing and what it was
//! doing it to (program, file, URL); secrets' values never appear in them.

use std::path::PathBuf;

use super::xmlrpc::DecodeError;

/// What went wrong in a built-in step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// supervisord's socket could not be reached or spoke no HTTP.
    #[error("cannot reach supervisord at {socket}: {reason}")]
    SupervisorTransport {
        /// The unix socket.
        socket: PathBuf,
        /// What failed.
        reason: String,
    },
    /// supervisord answered a call with a fault.
    #[error("supervisor {method}({target}) failed: {fault_string} (fault {code})")]
    SupervisorFault {
        /// The XML-RPC method, without the `supervisor.` prefix.
        method: String,
        /// The program or group the call named ("" for none).
        target: String,
        /// The fault code (10 BAD_NAME, 60 ALREADY_STARTED, …).
        code: i64,
        /// Supervisor's `"NAME: detail"`.
        fault_string: String,
    },
    /// supervisord's answer could not be read.
    #[error("supervisor {method} answered something unreadable")]
    SupervisorDecode {
        /// The XML-RPC method.
        method: String,
        /// The decoding error.
        #[source]
        source: DecodeError,
    },
    /// supervisord's answer had an unexpected shape.
    #[error("supervisor {method} answered {reason}")]
    SupervisorShape {
        /// The XML-RPC method.
        method: String,
        /// What was wrong.
        reason: String,
    },
    /// A program did not reach the wanted state in time.
    #[error("{program} did not become {wanted} (last state {last})")]
    ProgramState {
        /// The program.
        program: String,
        /// The state waited for.
        wanted: String,
        /// The last state seen.
        last: String,
    },
    /// A file or directory could not be used.
    #[error("cannot {action} {path}")]
    Io {
        /// What the step was doing ("read", "rename", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A Supervisor program config cannot be deployed safely.
    #[error("{file}: program {program}: {setting}: {reason}")]
    UnsafeProgram {
        /// The config file.
        file: PathBuf,
        /// The `[program:x]` section.
        program: String,
        /// The setting at fault, as written.
        setting: String,
        /// Why it is refused.
        reason: String,
    },
    /// A preflight command failed.
    #[error("preflight `{command}` failed: {output}")]
    Preflight {
        /// The command line.
        command: String,
        /// Its exit status and output tail.
        output: String,
    },
    /// The release to switch to does not exist, or there is none to go back to.
    #[error("release {release} under {app_root}: {reason}")]
    Release {
        /// The app root.
        app_root: PathBuf,
        /// The release id ("" when none).
        release: String,
        /// What is wrong.
        reason: String,
    },
    /// The health URL did not report the wanted release in time.
    #[error("{url} did not report release {release}: {last}")]
    Health {
        /// The URL.
        url: String,
        /// The release expected.
        release: String,
        /// The last answer or error.
        last: String,
    },
    /// The release failed ValidateService; `outcome` says whether the host
    /// was switched back, and the source is the last health answer.
    #[error("release {release} failed validation; {outcome}")]
    Validate {
        /// The release that failed.
        release: String,
        /// What was done about it ("switched back to r1 and reloaded gunicorn").
        outcome: String,
        /// Why it failed.
        #[source]
        source: Box<StepError>,
    },
    /// A blue/green switch of a gunicorn program failed; `outcome` says
    /// what serves now, and the source is why.
    #[error("{program}: blue/green switch to release {release} failed; {outcome}")]
    BlueGreen {
        /// The gunicorn program being replaced.
        program: String,
        /// The release it was switching to.
        release: String,
        /// What was done about it ("gunicorn-standby stopped and removed; gunicorn keeps serving r1").
        outcome: String,
        /// Why it failed.
        #[source]
        source: Box<StepError>,
    },
    /// A blue/green switch cannot be made as configured; nothing was changed.
    #[error("{program}: cannot switch blue/green: {reason}")]
    BlueGreenPlan {
        /// The gunicorn program.
        program: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// The nginx file holds no `server` line for the address to switch away from.
    #[error("{path}: no `server {address}` to switch to {to}")]
    Upstream {
        /// The nginx file.
        path: PathBuf,
        /// The address nginx was expected to send to.
        address: String,
        /// The address it was to send to instead.
        to: String,
    },
    /// A step's journal could not be read.
    #[error("cannot read the journal {path}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What was wrong with it.
        #[source]
        source: serde_json::Error,
    },
    /// nginx refused its config or did not reload.
    #[error("nginx {action} failed: {output}")]
    Nginx {
        /// `-t` or `reload`.
        action: &'static str,
        /// Its output or what was observed.
        output: String,
    },
    /// SSM Parameter Store could not be read.
    #[error("cannot read SSM parameters under {path}: {reason}")]
    Ssm {
        /// The parameter path.
        path: String,
        /// The SDK's error (names, never values).
        reason: String,
    },
    /// A Django management command failed on a release.
    #[error("manage.py {command} on release {release} failed: {output}")]
    Django {
        /// `migrate` or `collectstatic`.
        command: &'static str,
        /// The release id.
        release: String,
        /// Its exit status and last line of output (a traceback ends with the cause).
        output: String,
    },
}

/// The steps' result type.
pub type Result<T, E = StepError> = std::result::Result<T, E>;

pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> StepError {
    let path = path.into();
    move |source| StepError::Io {
        action,
        path,
        source,
    }
}
