//! The built-in steps hook scripts call as `slipway-agent step NAME …`:
//! driving Supervisor, switching releases, reloading Gunicorn, Celery and
//! nginx without dropping a request, rendering secrets, and running Django's
//! migrations once per fleet.
//!
//! # Layout
//! - [`cli`]: the `step` and `rollback` commands' arguments and order of work.
//! - [`supervisor`]: supervisord's XML-RPC API over its unix socket.
//! - [`xmlrpc`]: the XML-RPC encoding.
//! - [`program_config`]: reading a `[program:x]` section to refuse unsafe settings.
//! - [`releases`]: `releases/<id>/` and the atomically switched `current` link.
//! - [`gunicorn`]: preflight, config refusals, HUP reload, waiting for the release.
//! - [`bluegreen`]: a changed gunicorn program replaced through a standby and nginx.
//! - [`preflight_record`]: a passed `gunicorn-check`, so the reload need not repeat it.
//! - [`celery`]: the stopasgroup refusal and the warm restart.
//! - [`nginx`]: `nginx -t`, reload, worker replacement.
//! - [`secrets`]: SSM Parameter Store to a 0600 env file.
//! - [`switch`]: a journaled switch of releases, forward or back, and its reload.
//! - [`journal`]: what a step did, durably, so a killed one can be taken over.
//! - [`lock`]: one step at a time per Supervisor program (flock).
//! - [`recover`]: finishing or reversing what a killed step left half done.
//! - [`validate`]: ValidateService: the health URL through nginx, or a switch-back.
//! - [`replace_file`]: a small file replaced whole (write beside, rename over).
//! - [`release_copy`]: `releases/<id>` from the installed files, whole or absent.
//! - [`django`]: `migrate` once under the database's advisory lock, `collectstatic`.
//! - [`error`]: the steps' errors.

pub mod bluegreen;
pub mod celery;
pub mod cli;
pub mod django;
pub mod error;
pub mod gunicorn;
pub mod journal;
pub mod lock;
pub mod nginx;
pub mod preflight_record;
pub mod program_config;
pub mod recover;
pub mod release_copy;
pub mod releases;
pub mod replace_file;
pub mod secrets;
pub mod supervisor;
pub mod switch;
pub mod validate;
pub mod xmlrpc;

pub use error::StepError;
