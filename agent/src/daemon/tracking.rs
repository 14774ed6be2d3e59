//! The official ongoing-deployment tracking files
//! (`deployment_command_tracker.rb`): `<root_dir>/<ongoing_deployment_tracking>/<DeploymentId>`
//! holds the HostCommandIdentifier of the command running for it, so that
//! after a crash, kill or restart the agent can fail that command at once
//! (code 7, FailedAfterRestart) instead of leaving the deployment stuck
//! until the host times out.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Files older than this are stale: the service gave up on them long ago.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The tracking directory.
#[derive(Debug, Clone)]
pub struct Tracker {
    dir: PathBuf,
}

/// A command found in progress at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The deployment (the file's name).
    pub deployment_id: String,
    /// The command to fail.
    pub host_command_identifier: String,
}

impl Tracker {
    /// The tracker under `root_dir`.
    pub fn new(root_dir: &Path, name: &str) -> Tracker {
        Tracker {
            dir: root_dir.join(name),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records that `host_command_identifier` runs for `deployment_id`.
    pub fn start(&self, deployment_id: &str, host_command_identifier: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(file_name(deployment_id));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, host_command_identifier)?;
        std::fs::rename(&tmp, &path)
    }

    /// Forgets the command of `deployment_id`.
    pub fn finish(&self, deployment_id: &str) {
        let _ = std::fs::remove_file(self.dir.join(file_name(deployment_id)));
    }

    /// The commands left in progress younger than [`MAX_AGE`] at `now`,
    /// emptying the directory as the official agent does.
    pub fn take_interrupted(&self, now: SystemTime) -> Vec<Interrupted> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let fresh = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age < MAX_AGE);
            let name = entry.file_name().to_string_lossy().into_owned();
            if fresh
                && !name.ends_with(".tmp")
                && let Ok(id) = std::fs::read_to_string(&path)
                && !id.trim().is_empty()
            {
                found.push(Interrupted {
                    deployment_id: name,
                    host_command_identifier: id.trim().to_owned(),
                });
            }
            let _ = std::fs::remove_file(&path);
        }
        found.sort_by(|a, b| a.deployment_id.cmp(&b.deployment_id));
        found
    }
}

/// A deployment id as a file name: ids are `d-XXXXXXXXX`, but a slash or
/// dot-dot from a confused service must not escape the directory.
fn file_name(deployment_id: &str) -> String {
    deployment_id.replace(['/', '\0'], "_").replace("..", "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_command_is_found_once_and_a_finished_one_never() {
        let root = tempfile::tempdir().unwrap();
        let tracker = Tracker::new(root.path(), "ongoing-deployment");
        tracker.start("d-AAAAAAAAA", "cmd-1").unwrap();
        tracker.start("d-BBBBBBBBB", "cmd-2").unwrap();
        tracker.finish("d-BBBBBBBBB");
        let now = SystemTime::now();
        assert_eq!(
            tracker.take_interrupted(now),
            [Interrupted {
                deployment_id: "d-AAAAAAAAA".into(),
                host_command_identifier: "cmd-1".into()
            }]
        );
        assert!(tracker.take_interrupted(now).is_empty());
    }

    #[test]
    fn a_day_old_file_is_dropped_unreported() {
        let root = tempfile::tempdir().unwrap();
        let tracker = Tracker::new(root.path(), "ongoing-deployment");
        tracker.start("d-AAAAAAAAA", "cmd-1").unwrap();
        let later = SystemTime::now() + MAX_AGE + Duration::from_secs(1);
        assert!(tracker.take_interrupted(later).is_empty());
        assert_eq!(std::fs::read_dir(tracker.dir()).unwrap().count(), 0);
    }
}
