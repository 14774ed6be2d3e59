//! SigV4 as the sandbox speaks it: signing requests as the SDKs do, and
//! checking incoming ones as an AWS front end does.
//!
//! - [`sign`]: the signer, and the one signing-parameter builder.
//! - [`verify`]: recomputing and checking a request's signature.
//! - `authorization`: reading the `Authorization` header.
//! - `error`: why a signature is refused, in AWS's words.

mod authorization;
mod error;
pub mod sign;
pub mod verify;
