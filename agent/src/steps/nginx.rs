//! nginx: test the config, reload (HUP to the master), and confirm the
//! workers were replaced. Never a restart: a reload keeps the listening
//! sockets, and old workers finish their requests.
//!
//! Measured: `nginx -s reload` exits 0 even when a new `listen` fails to
//! bind (the master keeps the old config), so success is judged by the
//! worker pids changing, after `nginx -t` has passed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::error::{Result, StepError, io};

/// How to reach one nginx.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Nginx {
    /// The nginx binary.
    pub binary: PathBuf,
    /// Arguments that select its config (`-p`, `-c`, `-e`), as it was started.
    pub args: Vec<String>,
    /// Its pid file.
    pub pid_file: PathBuf,
}

impl Nginx {
    /// `nginx -t` with the same arguments.
    pub fn test_config(&self) -> Result<()> {
        let output = Command::new(&self.binary)
            .arg("-t")
            .args(&self.args)
            .output()
            .map_err(|e| StepError::Nginx {
                action: "-t",
                output: e.to_string(),
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(StepError::Nginx {
                action: "-t",
                output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    /// The master's pid.
    pub fn master_pid(&self) -> Result<i32> {
        let text = std::fs::read_to_string(&self.pid_file).map_err(io("read", &self.pid_file))?;
        text.trim().parse().map_err(|_| StepError::Nginx {
            action: "reload",
            output: format!("{} holds no pid", self.pid_file.display()),
        })
    }

    /// Tests the config, HUPs the master and waits until none of the old
    /// workers is left serving the new config's generation.
    pub async fn reload(&self, deadline: Duration) -> Result<()> {
        self.reload_from_workers(deadline).await.map(drop)
    }

    /// [`Nginx::reload`], then waits until the old workers have exited:
    /// until then one may still take a connection for the old upstream, so
    /// an upstream switched away from must keep serving that long
    /// (measured: stopping it at once failed requests).
    pub async fn reload_and_drain(&self, deadline: Duration) -> Result<()> {
        let (master, before) = self.reload_from_workers(deadline).await?;
        let give_up = tokio::time::Instant::now() + deadline;
        while children(master).iter().any(|pid| before.contains(pid)) {
            if tokio::time::Instant::now() >= give_up {
                return Err(StepError::Nginx {
                    action: "reload",
                    output: format!("old workers of {before:?} still running"),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Reloads; the master's pid and the workers it had before.
    async fn reload_from_workers(&self, deadline: Duration) -> Result<(i32, Vec<i32>)> {
        self.test_config()?;
        let master = self.master_pid()?;
        let before = children(master);
        // SAFETY: kill(2) with a pid read from nginx's own pid file.
        if unsafe { libc::kill(master, libc::SIGHUP) } != 0 {
            return Err(StepError::Nginx {
                action: "reload",
                output: format!("HUP to pid {master}: {}", std::io::Error::last_os_error()),
            });
        }
        let give_up = tokio::time::Instant::now() + deadline;
        loop {
            let now = children(master);
            // New workers appear at once; old ones linger while they finish
            // requests, so a new pid is the sign the config was applied.
            if now.iter().any(|pid| !before.contains(pid)) {
                return Ok((master, before));
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(StepError::Nginx {
                    action: "reload",
                    output: format!(
                        "workers {before:?} were not replaced; see nginx's error log (a failed bind keeps the old config)"
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The pids whose parent is `parent`, from /proc.
fn children(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" {
        return None;
    }
    fields.next()?.parse().ok()
}
