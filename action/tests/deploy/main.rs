//! The deploy path against the sandbox: bundles, uploads, deployments
//! followed host by host, rollbacks and status.

mod bundle;
mod repo;
