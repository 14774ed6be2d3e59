//! The agent library's errors. Each variant names the action that failed and
//! carries what it failed on; [`Error::diagnostics_code`] is the one place
//! they become CodeDeploy's diagnostics codes.

use std::path::PathBuf;

use slipway_shared::diagnostics::ErrorCode;

/// What went wrong running a lifecycle event on this host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The agent's configuration file could not be read or understood.
    #[error("cannot read the agent configuration {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory of the deployment root could not be used.
    #[error("cannot {action} {path}")]
    Io {
        /// What the agent was doing ("create", "read", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bundle could not be downloaded from S3.
    #[error("cannot download s3://{bucket}/{key}: {reason}")]
    Download {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What S3 said, or what did not match.
        reason: String,
    },
    /// The bundle is not of a type the agent unpacks.
    #[error("unknown bundle type for {path}: {reason}")]
    BundleType {
        /// The bundle.
        path: PathBuf,
        /// Why its type is unknown.
        reason: String,
    },
    /// An archive entry was refused or could not be written.
    #[error("cannot extract {entry:?} from {archive}: {reason}")]
    ExtractEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's name as the archive spells it.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The archive itself could not be read.
    #[error("cannot read the archive {archive}: {reason}")]
    ReadArchive {
        /// The archive.
        archive: PathBuf,
        /// Why.
        reason: String,
    },
    /// The archive is bigger than the configured limits allow.
    #[error("the archive {archive} exceeds the {limit} limit ({detail})")]
    ArchiveLimit {
        /// The archive.
        archive: PathBuf,
        /// Which limit.
        limit: &'static str,
        /// The figures.
        detail: String,
    },
    /// The revision's appspec is missing or malformed.
    #[error("invalid appspec {path}: {reason}")]
    AppSpec {
        /// The appspec file.
        path: PathBuf,
        /// The first problem, with its line.
        reason: String,
    },
    /// Install refused a `files` entry (a collision under DISALLOW, two
    /// sources for one destination…).
    #[error("{0}")]
    Install(String),
    /// A permission could not be applied.
    #[error("cannot apply permissions to {path}: {reason}")]
    Permission {
        /// The object.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A permission's SELinux context could not be applied: `semanage` or
    /// `restorecon` failed or is missing (as on a host without SELinux). The
    /// official agent's text, word for word.
    #[error(
        "The deployment failed because the application specification file contains an error in the settings for the context parameter. Update the permissions section of the AppSpec file, and then try again. Failed command: {command}. Exit code: {status}"
    )]
    Context {
        /// The command line, as the official agent shows it.
        command: String,
        /// How it ended (`pid N exit C`, as Ruby shows a process status).
        status: String,
    },
    /// A hook script failed; the diagnostics say how.
    #[error("{message}")]
    Hook {
        /// The diagnostics code (1–4 or 6).
        code: ErrorCode,
        /// The script, as the appspec names it.
        script: String,
        /// The official agent's message for this failure.
        message: String,
        /// The tail of the scripts' output.
        log: String,
    },
    /// The revision needs something a deployment does not have (no bundle
    /// downloaded yet, an event the agent does not run…).
    #[error("{0}")]
    Deployment(String),
}

impl Error {
    /// The diagnostics code CodeDeploy is told for this error.
    pub fn diagnostics_code(&self) -> ErrorCode {
        match self {
            Error::Hook { code, .. } => *code,
            _ => ErrorCode::UnknownError,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// The agent library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
