//! The test bed's own integration tests, one binary so the AWS SDKs link once.
//!
//! - `oidc`: the issuer's discovery, JWKS and token endpoint.
//! - `sts`: AssumeRoleWithWebIdentity and GetCallerIdentity through aws-sdk-sts.
//! - `bad_input`: malformed requests and tokens get AWS's and GitHub's error shapes.
//! - `boto3`: STS driven by boto3 from `.venv`, a second, independent client.
//! - `imds`: the simulated host's metadata through aws-config's IMDS client.
//! - `moto`: moto's S3 and SSM through the SDKs, with STS credentials.
//! - `sandbox_binary`: `slipway-sandbox` prints a working environment and stops cleanly.
//! - `util`: clients pointed at a sandbox.

mod bad_input;
mod boto3;
mod imds;
mod moto;
mod oidc;
mod sandbox_binary;
mod sts;
mod util;
