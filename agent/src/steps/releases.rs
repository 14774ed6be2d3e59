//! Releases on disk: `<app_root>/releases/<deployment-id>/` and a `current`
//! symlink that programs run from (gunicorn's `--chdir`). The link is
//! replaced with rename(2), so a reader sees the old release or the new one,
//! never a missing link. `releases/.history` records the switches, so
//! "previous" means the release that served before, not the oldest directory.

use std::path::{Path, PathBuf};

use super::error::{Result, StepError, io};
use super::replace_file::replace_file;

const HISTORY: &str = ".history";

/// One app's releases.
#[derive(Debug, Clone)]
pub struct Releases {
    app_root: PathBuf,
}

impl Releases {
    /// The releases under `app_root`.
    pub fn new(app_root: impl Into<PathBuf>) -> Releases {
        Releases {
            app_root: app_root.into(),
        }
    }

    /// `<app_root>/releases/<id>`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.app_root.join("releases").join(id)
    }

    /// The app root.
    pub fn app_root(&self) -> &Path {
        &self.app_root
    }

    /// `<app_root>/current`, the path programs must be configured with.
    pub fn current_link(&self) -> PathBuf {
        self.app_root.join("current")
    }

    fn refuse(&self, release: &str, reason: impl Into<String>) -> StepError {
        StepError::Release {
            app_root: self.app_root.clone(),
            release: release.into(),
            reason: reason.into(),
        }
    }

    /// The release `current` points at, if any.
    pub fn current(&self) -> Result<Option<String>> {
        let link = self.current_link();
        match std::fs::read_link(&link) {
            Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read the link", link)(e)),
        }
    }

    /// Points `current` at `releases/<id>` atomically and records the switch.
    pub fn switch_to(&self, id: &str) -> Result<()> {
        self.link(id)?;
        self.append_history(id)
    }

    /// Points `current` back at `id` after an interrupted switch away from
    /// it, dropping that switch from the history, so that
    /// [`Releases::previous`] is still the release that served before `id`.
    pub fn revert_to(&self, id: &str) -> Result<()> {
        self.link(id)?;
        let mut history = self.history()?;
        if history.last().is_some_and(|last| last != id) {
            history.pop();
        }
        if history.last().map(String::as_str) != Some(id) {
            history.push(id.into());
        }
        let mut text = history.join("\n");
        text.push('\n');
        replace_file(&self.history_path(), text.as_bytes())
    }

    fn link(&self, id: &str) -> Result<()> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(self.refuse(id, "not a release id"));
        }
        if !self.dir(id).is_dir() {
            return Err(self.refuse(id, "no such release directory"));
        }
        let link = self.current_link();
        let temp = self
            .app_root
            .join(format!(".current.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        // Relative, so the app root can be moved or bind-mounted.
        std::os::unix::fs::symlink(Path::new("releases").join(id), &temp)
            .map_err(io("create the link", &temp))?;
        std::fs::rename(&temp, &link).map_err(io("rename over", &link))
    }

    fn history_path(&self) -> PathBuf {
        self.app_root.join("releases").join(HISTORY)
    }

    fn history(&self) -> Result<Vec<String>> {
        let path = self.history_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io("read", path)(e)),
        }
    }

    fn append_history(&self, id: &str) -> Result<()> {
        use std::io::Write;
        let path = self.history_path();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("open", &path))?;
        writeln!(file, "{id}").map_err(io("append to", &path))
    }

    /// The release that served before the current one and still exists.
    pub fn previous(&self) -> Result<Option<String>> {
        let current = self.current()?;
        let history = self.history()?;
        Ok(history
            .iter()
            .rev()
            .find(|id| Some(*id) != current.as_ref() && self.dir(id).is_dir())
            .cloned())
    }

    /// Switches back to [`Releases::previous`], returning it.
    pub fn roll_back(&self) -> Result<String> {
        let previous = self
            .previous()?
            .ok_or_else(|| self.refuse("", "no previous release to roll back to"))?;
        self.switch_to(&previous)?;
        Ok(previous)
    }

    /// Removes all but the `keep` most recently switched-to releases; the
    /// current and previous ones are always kept. Returns what was removed.
    pub fn prune(&self, keep: usize) -> Result<Vec<String>> {
        let mut recent: Vec<String> = Vec::new();
        for id in self.history()?.into_iter().rev() {
            if !recent.contains(&id) {
                recent.push(id);
            }
        }
        let mut kept: Vec<String> = recent.into_iter().take(keep.max(2)).collect();
        kept.extend(self.current()?);
        let root = self.app_root.join("releases");
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(io("list", &root))? {
            let entry = entry.map_err(io("list", &root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || kept.contains(&name) || !entry.path().is_dir() {
                continue;
            }
            std::fs::remove_dir_all(entry.path()).map_err(io("remove", entry.path()))?;
            removed.push(name);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(ids: &[&str]) -> (tempfile::TempDir, Releases) {
        let dir = tempfile::tempdir().unwrap();
        for id in ids {
            std::fs::create_dir_all(dir.path().join("releases").join(id)).unwrap();
        }
        let releases = Releases::new(dir.path());
        (dir, releases)
    }

    #[test]
    fn switching_points_current_at_the_release() {
        let (_dir, releases) = app(&["d-1", "d-2"]);
        assert_eq!(releases.current().unwrap(), None);
        releases.switch_to("d-1").unwrap();
        releases.switch_to("d-2").unwrap();
        assert_eq!(releases.current().unwrap().as_deref(), Some("d-2"));
        assert!(releases.current_link().join(".").is_dir());
        assert_eq!(releases.previous().unwrap().as_deref(), Some("d-1"));
    }

    #[test]
    fn rolling_back_returns_to_the_release_that_served_before() {
        let (_dir, releases) = app(&["d-1", "d-2", "d-3"]);
        for id in ["d-3", "d-1", "d-2"] {
            releases.switch_to(id).unwrap();
        }
        assert_eq!(releases.roll_back().unwrap(), "d-1");
        assert_eq!(releases.current().unwrap().as_deref(), Some("d-1"));
    }

    #[test]
    fn a_missing_release_or_no_previous_one_is_refused() {
        let (_dir, releases) = app(&["d-1"]);
        let error = releases.switch_to("d-9").unwrap_err();
        assert!(error.to_string().contains("d-9"), "{error}");
        assert!(releases.switch_to("../etc").is_err());
        releases.switch_to("d-1").unwrap();
        assert!(releases.roll_back().is_err());
        assert_eq!(releases.current().unwrap().as_deref(), Some("d-1"));
    }

    #[test]
    fn reverting_an_interrupted_switch_keeps_the_previous_release() {
        let (_dir, releases) = app(&["d-1", "d-2", "d-3"]);
        for id in ["d-1", "d-2", "d-3"] {
            releases.switch_to(id).unwrap();
        }
        releases.revert_to("d-2").unwrap();
        assert_eq!(releases.current().unwrap().as_deref(), Some("d-2"));
        assert_eq!(releases.previous().unwrap().as_deref(), Some("d-1"));
        // Idempotent: a recovery interrupted after the link was reverted.
        releases.revert_to("d-2").unwrap();
        assert_eq!(releases.previous().unwrap().as_deref(), Some("d-1"));
    }

    #[test]
    fn pruning_keeps_the_newest_and_the_current() {
        let (_dir, releases) = app(&["a", "b", "c", "d"]);
        for id in ["a", "b", "c", "d"] {
            releases.switch_to(id).unwrap();
        }
        releases.switch_to("a").unwrap();
        let mut removed = releases.prune(2).unwrap();
        removed.sort();
        assert_eq!(removed, vec!["b".to_owned(), "c".to_owned()]);
        assert!(releases.dir("a").is_dir() && releases.dir("d").is_dir());
    }
}
