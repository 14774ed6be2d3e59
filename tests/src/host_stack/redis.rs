//! A private redis-server, Celery's broker.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{DEADLINE, free_ports, stop, wait_until};
use crate::Error;

/// redis-server on a free port, keeping nothing on disk, stopped on drop.
#[derive(Debug)]
pub struct Redis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
}

impl Redis {
    /// Starts redis-server with `dir` as its working directory and waits
    /// until its port accepts.
    pub fn start(dir: &Path) -> Result<Redis, Error> {
        let [port] = free_ports::<1>()?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "redis-server (scripts/setup installs it)".into(),
                source,
            })?;
        let mut redis = Redis { port, child };
        wait_until("redis-server", Some(&mut redis.child), DEADLINE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:PORT/DB`.
    pub fn url(&self, db: u8) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        stop(&mut self.child, libc::SIGTERM);
    }
}
