//! The built-in steps hook scripts call as `slipway-agent step NAME …`:
//! driving Supervisor, switching releases, reloading Gunicorn, Celery and
//! nginx without dropping a request, and rendering secrets.
//!
//! # Layout
//! - [`supervisor`]: supervisord's XML-RPC API over its unix socket.
//! - [`xmlrpc`]: the XML-RPC encoding.
//! - [`error`]: the steps' errors.

pub mod error;
pub mod supervisor;
pub mod xmlrpc;

pub use error::StepError;
