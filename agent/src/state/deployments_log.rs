//! `deployment-logs/codedeploy-agent-deployments.log`: every line a hook
//! writes to its `scripts.log`, as `[YYYY-mm-dd HH:MM:SS.mmm] [d-ID]message`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::{Error, Result};

/// The deployments log of one root, opened for appending.
#[derive(Debug)]
pub struct DeploymentsLog {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl DeploymentsLog {
    /// Opens (creating) the log at `path`; `enabled = false` writes nothing.
    pub fn open(path: &Path, enabled: bool) -> Result<DeploymentsLog> {
        let file = if enabled {
            let dir = path.parent().unwrap_or(Path::new("/"));
            std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
            Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(Error::io("open", path))?,
            )
        } else {
            None
        };
        Ok(DeploymentsLog {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one line for `deployment_id`.
    pub fn line(&mut self, now: SystemTime, deployment_id: &str, message: &str) -> Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let line = format!(
            "[{}] [{deployment_id}]{}\n",
            crate::clock::format_millis(now),
            message.trim_end_matches('\n')
        );
        file.write_all(line.as_bytes())
            .map_err(Error::io("write", &self.path))
    }
}
