//! The real programs on a Django host, each private to a directory and on
//! free loopback ports, each stopped (with what it started) when dropped:
//! [`Supervisord`] on a unix socket, [`Nginx`] in the foreground, [`Redis`]
//! for Celery. The agent's step tests and the demo's hosts both build on
//! them; MariaDB is [`crate::MariaDb`].

mod nginx;
mod redis;
mod supervisord;

use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

pub use nginx::Nginx;
pub use redis::Redis;
pub use supervisord::Supervisord;

use crate::Error;

/// Generous: the machine is small and shared.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// `N` distinct free ports: the listeners are held until all are picked, so
/// two calls in a row cannot hand out the same port before either is bound.
pub fn free_ports<const N: usize>() -> Result<[u16; N], Error> {
    let bind = |source| Error::Bind {
        service: "a host program",
        source,
    };
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(bind))
        .collect::<Result<Vec<_>, _>>()?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(bind))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(std::array::from_fn(|i| ports[i]))
}

/// Polls `ready` every 50 ms until it holds; after `deadline`, or once
/// `child` has exited, fails naming `what`.
pub fn wait_until(
    what: &str,
    mut child: Option<&mut Child>,
    deadline: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), Error> {
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            return Err(Error::ProgramExited {
                program: what.into(),
                status,
                log_tail: String::new(),
            });
        }
        if start.elapsed() >= deadline {
            return Err(Error::ProgramTimeout {
                program: what.into(),
                timeout: deadline,
                log_tail: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// One HTTP/1.0 GET on a new connection: (status, body).
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Sends `signal` to a child we spawned and reaps it.
fn stop(child: &mut Child, signal: i32) {
    if let Ok(None) = child.try_wait() {
        // SAFETY: kill(2) on the pid of our own child, not yet reaped.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
    }
    let _ = child.wait();
}

pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
