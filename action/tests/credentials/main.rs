//! `slipway credentials` against the sandbox's OIDC issuer and STS, through
//! the built binary (and, for the provider, the library). One binary, so the
//! SDK links once.
//!
//! - `happy`: credentials reach GITHUB_ENV, GITHUB_OUTPUT and `export` lines.
//! - `refusals`: wrong `sub`, wrong audience, missing id-token permission,
//!   each diagnosed; AccessDenied costs one call.
//! - `retries`: an expired JWT is re-minted; throttling and 5xx are retried,
//!   at AssumeRoleWithWebIdentity and at GetCallerIdentity.
//! - `secrets`: no key, secret or token reaches a log unmasked.
//! - `provider`: the refreshing provider across a short credential lifetime,
//!   and through a failed renewal.
//! - `util`: running the binary like a runner would.

mod happy;
mod provider;
mod refusals;
mod retries;
mod secrets;
mod util;
