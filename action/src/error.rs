//! The action library's errors.

use std::path::PathBuf;

use crate::credentials::diagnosis::Claims;
use crate::credentials::sts::StsError;

/// What went wrong in a `slipway` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The appspec could not be read or checked at all (as opposed to having
    /// problems, which are reported, not raised).
    #[error("cannot check the appspec in {dir}")]
    AppspecCheck {
        /// The bundle directory that was checked.
        dir: PathBuf,
        /// Why it could not be checked.
        #[source]
        source: slipway_shared::Error,
    },
    /// Writing to the terminal or the log failed.
    #[error("cannot write the report")]
    Output(#[source] std::io::Error),

    /// A required input was given neither as an input nor as a flag.
    #[error("input `{input}` is required: set `with: {input}:` in the workflow, or pass --{input}")]
    MissingInput {
        /// The input's name, as in action.yml.
        input: String,
    },
    /// A boolean input is not spelled as the toolkit reads booleans.
    #[error(
        "input `{input}` is `{value}`, not a boolean: use true, True, TRUE, false, False or FALSE"
    )]
    InvalidBoolean {
        /// The input's name.
        input: String,
        /// What it was set to.
        value: String,
    },
    /// An input's value is not acceptable.
    #[error("input `{input}`: {reason}")]
    InvalidInput {
        /// The input's name.
        input: String,
        /// What is wrong with the value and what would be right.
        reason: String,
    },

    /// The runner gave this job no way to request an OIDC token.
    #[error(
        "no GitHub OIDC token: {missing} is not set. Give the job `permissions: id-token: write` \
         (at workflow or job level). Pull requests from forks and Dependabot runs never get a token; \
         outside GitHub Actions, pass --web-identity-token-file"
    )]
    NoIdToken {
        /// The variable that is missing.
        missing: &'static str,
    },
    /// The token endpoint could not be reached or did not answer.
    #[error("cannot request the OIDC token from {url}")]
    TokenRequest {
        /// The endpoint, with the audience but without the bearer token.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The token endpoint refused the request.
    #[error("the OIDC token endpoint {url} answered {status}{hint}")]
    TokenRefused {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What the status usually means, starting with `: `, or empty.
        hint: &'static str,
    },
    /// The token endpoint's answer holds no token.
    #[error("the OIDC token endpoint {url} answered without a token in `value`")]
    TokenResponse {
        /// The endpoint.
        url: String,
        /// Why the body could not be read.
        #[source]
        source: serde_json::Error,
    },
    /// The web identity token file could not be read.
    #[error("cannot read the web identity token file {path}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// STS did not give us the role's credentials.
    #[error("cannot assume {role_arn} with the OIDC token (after {attempts} {})", plural(*attempts, "attempt"))]
    AssumeRole {
        /// The role.
        role_arn: String,
        /// How many AssumeRoleWithWebIdentity calls were made.
        attempts: u32,
        /// The last token's claims, for the diagnosis; `None` when it was
        /// not a readable JWT.
        claims: Option<Box<Claims>>,
        /// STS's answer.
        #[source]
        source: StsError,
    },
    /// Role chaining: STS did not let the environment's credentials assume
    /// the role.
    #[error("cannot assume {role_arn} from the credentials in the environment (after {attempts} {})", plural(*attempts, "attempt"))]
    ChainRole {
        /// The role.
        role_arn: String,
        /// How many AssumeRole calls were made.
        attempts: u32,
        /// Whether an external id was sent.
        external_id: bool,
        /// Whether session tags were sent.
        tagged: bool,
        /// STS's answer.
        #[source]
        source: StsError,
    },
    /// Role chaining needs credentials in the environment.
    #[error(
        "role-chaining is true, but {missing} is not set: run slipway credentials (or \
         configure-aws-credentials) for the first role in an earlier step, and do not set \
         unset-current-credentials"
    )]
    NoSourceCredentials {
        /// The variable that is missing.
        missing: &'static str,
    },
    /// The secret key kept its special characters through every attempt.
    #[error(
        "special-characters-workaround: every one of {attempts} secret keys had characters other than letters and digits"
    )]
    SpecialCharacters {
        /// How many sessions were assumed.
        attempts: u32,
    },
    /// The whole command took longer than `action-timeout-s`.
    #[error("gave up after action-timeout-s ({seconds} s)")]
    Timeout {
        /// The limit.
        seconds: u64,
    },
    /// A profile of that name is in the credentials file already.
    #[error(
        "profile `{profile}` is already in {path}: set overwrite-aws-profile: true to replace it"
    )]
    ProfileExists {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
    },
    /// A shared credentials or config file could not be read or written.
    #[error("cannot write the profile to {path}")]
    ProfileWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An HTTP client could not be built (a proxy URL it cannot use).
    #[error("cannot use http-proxy: {reason}")]
    Proxy {
        /// What is wrong.
        reason: String,
    },

    /// GetCallerIdentity failed with the new credentials.
    #[error("cannot check the new credentials with GetCallerIdentity")]
    CallerIdentity(#[source] StsError),
    /// The credentials belong to an account the workflow did not allow.
    #[error(
        "the credentials are for account {account}, which is not in allowed-account-ids ({allowed})"
    )]
    AccountNotAllowed {
        /// The account the credentials are for.
        account: String,
        /// The allowed accounts, comma-separated.
        allowed: String,
    },

    /// Under Actions, the runner did not name a file command's file.
    #[error("{var} is not set, though GITHUB_ACTIONS is true: is this an Actions step?")]
    MissingRunnerFile {
        /// GITHUB_ENV or GITHUB_OUTPUT.
        var: &'static str,
    },
    /// A file command entry cannot be written safely.
    #[error("cannot write `{name}` to {path}: {reason}")]
    FileCommandEntry {
        /// The file (GITHUB_ENV, GITHUB_OUTPUT).
        path: PathBuf,
        /// The variable or output name.
        name: String,
        /// Why the entry was refused.
        reason: &'static str,
    },
    /// A file command's file could not be written.
    #[error("cannot append to {path}")]
    FileCommandWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// The action library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
