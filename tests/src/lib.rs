//! Slipway's local AWS test bed.
//!
//! # Layout
//! - [`codedeploy`]: the CodeDeploy simulator.
//! - [`credentials`]: the AWS credentials the sandbox issued.
//! - [`scripted_host`]: a host that speaks the CodeDeploy command protocol, playing a script.
//! - [`sigv4_verify`]: checks a request's SigV4 signature against them.

pub mod codedeploy;
pub mod credentials;
pub mod scripted_host;
pub mod sigv4_verify;
