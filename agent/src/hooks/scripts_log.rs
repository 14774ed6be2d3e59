//! `logs/scripts.log` in the official line format (`YYYY-MM-DD HH:MM:SS `
//! then `LifecycleEvent - X`, `Script - loc`, `[stdout]…` or `[stderr]…`),
//! each line copied to the deployments log, and the event's lines kept for
//! the diagnostics tail: all of them, the `LifecycleEvent -` and `Script -`
//! lines too, as the official agent's `ScriptLog` keeps them.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use slipway_shared::diagnostics::{MAX_LOG_CHARS, log_tail};

use crate::clock::{self, Clock};
use crate::state::deployments_log::DeploymentsLog;
use crate::{Error, Result};

/// The scripts log of one deployment.
#[derive(Debug)]
pub struct ScriptsLog {
    path: PathBuf,
    file: std::fs::File,
    deployment_id: String,
    deployments: DeploymentsLog,
    clock: Arc<dyn Clock>,
    /// Recent output lines, at least enough for the diagnostics tail.
    tail: VecDeque<String>,
    tail_chars: usize,
}

impl ScriptsLog {
    /// Opens (appending) `path`, creating its directory.
    pub fn open(
        path: &Path,
        deployment_id: &str,
        deployments: DeploymentsLog,
        clock: Arc<dyn Clock>,
    ) -> Result<ScriptsLog> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(Error::io("open", path))?;
        Ok(ScriptsLog {
            path: path.to_owned(),
            file,
            deployment_id: deployment_id.to_owned(),
            deployments,
            clock,
            tail: VecDeque::new(),
            tail_chars: 0,
        })
    }

    /// Starts a new event: the diagnostics tail is per event.
    pub fn event(&mut self, event: &str) -> Result<()> {
        self.tail.clear();
        self.tail_chars = 0;
        self.line(format!("LifecycleEvent - {event}"))
    }

    /// Names the script about to run.
    pub fn script(&mut self, location: &str) -> Result<()> {
        self.line(format!("Script - {location}"))
    }

    /// One line of a script's output; `stream` is `stdout` or `stderr`.
    pub fn output(&mut self, stream: &str, line: &str) -> Result<()> {
        self.line(format!("[{stream}]{line}"))
    }

    /// Writes `tagged` and keeps it for the tail.
    fn line(&mut self, tagged: String) -> Result<()> {
        self.write(&tagged)?;
        self.tail_chars += tagged.chars().count() + 1;
        self.tail.push_back(tagged);
        while self.tail_chars > 2 * MAX_LOG_CHARS {
            if let Some(old) = self.tail.pop_front() {
                self.tail_chars -= old.chars().count() + 1;
            }
        }
        Ok(())
    }

    /// The diagnostics `log`: the tail of whole lines of this event.
    pub fn tail(&self) -> String {
        log_tail(self.tail.iter().map(String::as_str))
    }

    fn write(&mut self, message: &str) -> Result<()> {
        let now = self.clock.now();
        let line = format!("{} {message}\n", clock::format_seconds(now));
        self.file
            .write_all(line.as_bytes())
            .map_err(Error::io("write", &self.path))?;
        self.deployments.line(now, &self.deployment_id, message)
    }
}
