//! The real host stack for the steps' tests: slipway-tests' private
//! supervisord and nginx (stopped, with everything they started, when
//! dropped), behind the panicking helpers a test wants.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_tests::host_stack;
#[allow(unused_imports)]
pub use slipway_tests::host_stack::get;

/// Generous: the machine is small and shared.
pub const DEADLINE: Duration = host_stack::DEADLINE;

pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free ports, picked together.
pub fn free_ports<const N: usize>() -> [u16; N] {
    host_stack::free_ports().unwrap()
}

/// Held for a test's whole stack: the stacks' ports are picked free and
/// bound only later (by gunicorn under supervisord), so two stacks starting
/// at once could race for one port.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `ready` every 50 ms until it holds, panicking with `what` after [`DEADLINE`].
pub fn wait_until(what: &str, ready: impl FnMut() -> bool) {
    host_stack::wait_until(what, None, DEADLINE, ready).unwrap()
}

pub fn venv_bin(name: &str) -> PathBuf {
    slipway_tests::venv::bin(name).expect("scripts/setup builds .venv")
}

/// [`host_stack::Supervisord`], panicking if it cannot start.
pub struct Supervisord(host_stack::Supervisord);

impl Supervisord {
    /// Starts supervisord on `dir/supervisor.sock`, including `dir/conf.d/*.conf`.
    pub fn start(dir: &Path) -> Supervisord {
        Supervisord(host_stack::Supervisord::start(dir).unwrap())
    }

    /// Writes `conf.d/<name>.conf`.
    pub fn write_program(&self, name: &str, body: &str) -> PathBuf {
        self.0.write_program(name, body).unwrap()
    }
}

impl std::ops::Deref for Supervisord {
    type Target = host_stack::Supervisord;
    fn deref(&self) -> &host_stack::Supervisord {
        &self.0
    }
}

/// [`host_stack::Nginx`], panicking if it cannot start.
pub struct Nginx(host_stack::Nginx);

impl Nginx {
    /// The main config with `site` (an nginx `server` block's text) included.
    pub fn write_config(dir: &Path, site: &str) {
        host_stack::Nginx::write_config(dir, site).unwrap()
    }

    pub fn start(dir: &Path, port: u16) -> Nginx {
        Nginx(host_stack::Nginx::start(dir, port).unwrap())
    }

    pub fn args(dir: &Path) -> Vec<String> {
        host_stack::Nginx::args(dir)
    }
}

impl std::ops::Deref for Nginx {
    type Target = host_stack::Nginx;
    fn deref(&self) -> &host_stack::Nginx {
        &self.0
    }
}

pub mod app;
