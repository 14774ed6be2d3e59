//! MariaDB from Debian, the stand-in for the seed's Aurora MySQL: a private
//! `mariadbd` on a free loopback port with a throwaway data directory
//! (`mariadb-install-db`) and its unix socket in a temp dir. Stopped, and
//! its data removed, on drop.
//!
//! The app reaches it over TCP as Aurora is reached; the test bed itself
//! talks to it as root through the socket with Debian's `mariadb` client,
//! so no MySQL crate is needed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;
use crate::moto::free_port;

/// InnoDB recovery and the system tables on a busy 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Another process may take the port between our probe and mariadbd's bind.
const PORT_ATTEMPTS: usize = 3;
/// Small redo log and buffer pool: a throwaway server needs ~20 MB, not ~120 MB.
const SMALL: [&str; 2] = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"];

/// A running `mariadbd`.
#[derive(Debug)]
pub struct MariaDb {
    child: Child,
    port: u16,
    // Last: removed after the server has stopped.
    dir: tempfile::TempDir,
}

impl MariaDb {
    /// Initialises a data directory and starts the server on it, waiting
    /// until it answers a query. Blocks (a few seconds).
    ///
    /// The server is killed if the thread that started it exits
    /// (PR_SET_PDEATHSIG, so a crashed test leaves none behind): start it
    /// from a thread that outlives it, not from tokio's blocking pool.
    pub fn start() -> Result<MariaDb, Error> {
        let mut attempt = 1;
        loop {
            let dir = tempfile::Builder::new()
                .prefix("mariadb")
                .tempdir()
                .map_err(|source| Error::TempDir {
                    purpose: "mariadb's data",
                    source,
                })?;
            install_db(dir.path())?;
            let mut server = MariaDb::spawn(dir, free_port("mariadb")?)?;
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(Error::ProgramExited { .. }) if attempt < PORT_ATTEMPTS => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    fn spawn(dir: tempfile::TempDir, port: u16) -> Result<MariaDb, Error> {
        let d = dir.path();
        let mut command = Command::new("mariadbd");
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--tmpdir={}", d.join("tmp").display()))
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .args(["--bind-address=127.0.0.1", &format!("--port={port}")])
            .args(["--skip-name-resolve", "--skip-log-bin"])
            .args(SMALL)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            command.arg("--user=root");
        }
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                // If the test process dies without dropping us, so does mariadbd.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| Error::Spawn {
            program: "mariadbd".into(),
            source,
        })?;
        Ok(MariaDb { child, port, dir })
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // The socket appears before the server accepts queries on it.
            if self.socket().exists() && self.query("SELECT 1").is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::ProgramExited {
                    program: "mariadbd".into(),
                    status,
                    log_tail: self.log_tail(),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::ProgramTimeout {
                    program: "mariadbd".into(),
                    timeout: READY_TIMEOUT,
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn log_tail(&self) -> String {
        last_lines(&std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default())
    }

    /// The loopback TCP port the app connects to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's unix socket (root's way in).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `mariadb` connected as root through the socket, batch mode without
    /// column names; add `-e SQL` or feed it on stdin.
    pub fn client(&self) -> Command {
        let mut command = Command::new("mariadb");
        command
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--user=root", "--batch", "--skip-column-names"]);
        command
    }

    /// Runs `sql` as root and returns what it printed, trimmed.
    pub fn query(&self, sql: &str) -> Result<String, Error> {
        let output = self
            .client()
            .arg("-e")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                program: "mariadb".into(),
                source,
            })?;
        if !output.status.success() {
            return Err(Error::Query {
                sql: sql.into(),
                output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Creates database `name` and `user` (from 127.0.0.1 and localhost)
    /// with every privilege on it.
    pub fn create_database(&self, name: &str, user: &str, password: &str) -> Result<(), Error> {
        let quoted = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
        let (name, user, password) = (name.replace('`', "``"), quoted(user), quoted(password));
        let mut sql = format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4;");
        for host in ["127.0.0.1", "localhost"] {
            sql.push_str(&format!(
                "CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}';\
                 GRANT ALL ON `{name}`.* TO '{user}'@'{host}';"
            ));
        }
        // The statements hold the password: the error names the database only.
        self.query(&sql).map(drop).map_err(|error| match error {
            Error::Query { output, .. } => Error::Query {
                sql: format!("CREATE DATABASE/USER for {name}"),
                output,
            },
            other => other,
        })
    }

    fn terminate(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGTERM);
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn install_db(dir: &Path) -> Result<(), Error> {
    // A tmpdir of its own: in the shared /tmp, servers bootstrapping at once
    // collide on their temporary tables' names ("Could not remove temporary
    // table", then "Unknown table 'mysql.tmp_user_sys'") and the install fails.
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|source| Error::TempDir {
        purpose: "mariadb's tmpdir",
        source,
    })?;
    let mut command = Command::new("mariadb-install-db");
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .args(["--skip-test-db", "--auth-root-authentication-method=socket"])
        .args(SMALL);
    if is_root() {
        command.arg("--user=root");
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: "mariadb-install-db (scripts/setup installs mariadb-server)".into(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    // stdout's advice first, so the tail ends with stderr's ERROR lines.
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(Error::ProgramExited {
        program: "mariadb-install-db".into(),
        status: output.status,
        log_tail: last_lines(&text),
    })
}

/// The last ten lines: where a failing server says why.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_server_answers_and_stops_on_drop() {
        let db = MariaDb::start().unwrap();
        db.create_database("shop", "shop", "pw'd").unwrap();
        assert_eq!(
            db.query("SELECT COUNT(*) FROM mysql.user WHERE user = 'shop'")
                .unwrap(),
            "2"
        );
        assert!(std::net::TcpStream::connect(("127.0.0.1", db.port())).is_ok());
        let (pid, socket) = (db.pid(), db.socket());
        drop(db);
        assert!(!socket.exists());
        // SAFETY: signal 0 only checks the pid; it was reaped by drop.
        assert_ne!(unsafe { libc::kill(pid as i32, 0) }, 0);
    }
}
