//! Running an event's appspec scripts as the official agent runs them.
//!
//! # Layout
//! - [`runner`]: one script: process group, closed stdin, the official
//!   environment, one deadline over exit and pipe EOF, group kill.
//! - [`runas`]: switching to the `runas` user without `sudo su`.
//! - [`running`]: the process groups running now, for shutdown.
//! - [`scripts_log`]: `logs/scripts.log` and the diagnostics tail.

pub mod runas;
pub mod runner;
pub mod running;
pub mod scripts_log;

pub use runner::{EventScripts, run_event};
pub use scripts_log::ScriptsLog;
