//! The deploy path against the sandbox: bundles, uploads, deployments
//! followed host by host, rollbacks and status.

mod bed;
mod bundle;
mod deploy;
mod guards;
mod repo;
mod rollback;
#[path = "../common/runner_files.rs"]
mod runner_files;
