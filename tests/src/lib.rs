//! Slipway's local AWS test bed: a GitHub Actions OIDC issuer, STS, IMDS and
//! moto's server (S3, SSM, KMS), started on free loopback ports by one
//! [`Sandbox`] and stopped when it drops. Tests and the README's demo
//! (`slipway-sandbox`) point the official AWS clients at it unchanged.
//!
//! # Layout
//! - [`sandbox`]: [`Sandbox`] and [`SandboxBuilder`], the entry point.
//! - [`oidc`]: [`OidcIssuer`], discovery, JWKS and the runner's token endpoint.
//! - [`claims`]: [`Claims`], the run context and GitHub's JWT claims.
//! - [`signing_key`]: [`SigningKey`], the issuer's RS256 key.
//! - [`sts`]: [`Sts`], AssumeRoleWithWebIdentity and GetCallerIdentity;
//!   [`sts::trust`] holds [`Role`] and [`TrustPolicy`].
//! - [`moto`]: [`Moto`], moto's server from `.venv`.
//! - [`credentials`]: the AWS credentials the sandbox issued.
//! - [`error`]: [`Error`], what can fail while starting.
//! - `server`, `ids`, `sync`: serving a router, AWS-shaped ids, locking.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), slipway_tests::Error> {
//! let sandbox = slipway_tests::Sandbox::builder().without_moto().start().await?;
//! let token = sandbox.oidc().mint("sts.amazonaws.com");
//! // AssumeRoleWithWebIdentity at sandbox.sts_endpoint() with
//! // sandbox.deploy_role_arn() and `token` returns credentials.
//! # Ok(()) }
//! ```

pub mod claims;
pub mod credentials;
pub mod error;
mod ids;
pub mod moto;
pub mod oidc;
pub mod sandbox;
mod server;
pub mod signing_key;
pub mod sts;
mod sync;

pub use claims::Claims;
pub use credentials::{CredentialStore, IssuedCredential};
pub use error::Error;
pub use moto::Moto;
pub use oidc::OidcIssuer;
pub use sandbox::{Sandbox, SandboxBuilder};
pub use signing_key::SigningKey;
pub use sts::{Condition, Federated, Operator, Role, Sts, TrustPolicy};
