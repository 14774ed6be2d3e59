//! `slipway credentials` against the sandbox's OIDC issuer and STS, through
//! the built binary (and, for the provider, the library). One binary, so the
//! SDK links once.
//!
//! - `happy`: credentials reach GITHUB_ENV, GITHUB_OUTPUT and `export` lines.
//! - `refusals`: every kind of refusal diagnosed, each printed statement
//!   applied to the sandbox role and shown to work, none printed where none
//!   helps; network errors named; AccessDenied costs one call.
//! - `chaining`: AssumeRole into another account's role from the
//!   environment's credentials, and its refusals.
//! - `cleanup`: the post step's empty variables, seen by a later step.
//! - `inputs`: unset-current-credentials, disable-retry, action-timeout-s,
//!   special-characters-workaround, aws-profile, http-proxy; exit codes.
//! - `retries`: an expired JWT is re-minted; throttling and 5xx are retried,
//!   at AssumeRoleWithWebIdentity and at GetCallerIdentity.
//! - `secrets`: no key, secret or token reaches a log unmasked.
//! - `provider`: the refreshing provider across a short credential lifetime,
//!   and through a failed renewal.
//! - `util`: running the binary like a runner would, and reading its file
//!   commands back as the runner does.

mod chaining;
mod cleanup;
mod happy;
mod inputs;
mod provider;
mod refusals;
mod retries;
#[path = "../common/runner_files.rs"]
mod runner_files;
mod secrets;
mod util;
