//! The deployment root, laid out as the official agent lays it out so that
//! either agent can pick up the other's root.
//!
//! # Layout
//! - [`layout`]: the paths of the root.
//! - [`pointers`]: the most-recent and last-successful install pointers.
//! - [`revisions`]: `max_revisions` cleanup.
//! - [`deployments_log`]: the root's deployments log.

pub mod deployments_log;
pub mod layout;
pub mod pointers;
pub mod revisions;

pub use layout::Layout;
