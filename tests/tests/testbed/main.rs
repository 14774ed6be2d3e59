//! The test bed's own integration tests, one binary so the AWS SDKs link once.
//!
//! - `oidc`: the issuer's discovery, JWKS and token endpoint.
//! - `sts`: AssumeRoleWithWebIdentity and GetCallerIdentity through aws-sdk-sts.
//! - `bad_input`: malformed requests and tokens get AWS's and GitHub's error shapes.
//! - `moto`: moto's S3 and SSM through the SDKs, with STS credentials.
//! - `util`: clients pointed at a sandbox.

mod bad_input;
mod moto;
mod oidc;
mod sts;
mod util;
