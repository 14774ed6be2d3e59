//! `max_revisions`: before a new bundle is downloaded, the oldest other
//! revisions of the group (by mtime) are removed so that, with the new one,
//! at most `max_revisions` remain. The last successful revision is never
//! removed, nor the one being deployed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::{Error, Result};

/// Removes old deployment directories of the group at `group_dir`, keeping
/// `current` and `last_successful`. Returns what it removed.
pub fn clean_up(
    group_dir: &Path,
    current: &Path,
    last_successful: Option<&Path>,
    max_revisions: u32,
) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(group_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                action: "list",
                path: group_dir.to_owned(),
                source,
            });
        }
    };
    let mut others: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p != current)
        .collect();
    // The official count includes the last successful revision, which is
    // then spared: the same arithmetic keeps the same directories.
    let extra = (others.len() + 1).saturating_sub(max_revisions as usize);
    if extra == 0 {
        return Ok(Vec::new());
    }
    others.retain(|p| Some(p.as_path()) != last_successful);
    let mtime = |p: &Path| {
        std::fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    };
    others.sort_by_key(|p| mtime(p));
    let removed: Vec<PathBuf> = others.into_iter().take(extra).collect();
    for dir in &removed {
        let gone = if dir.is_dir() && !dir.is_symlink() {
            std::fs::remove_dir_all(dir)
        } else {
            std::fs::remove_file(dir)
        };
        gone.map_err(Error::io("remove", dir))?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_successful_and_the_current_revision() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path();
        for (i, name) in ["d-1", "d-2", "d-3", "d-4"].iter().enumerate() {
            std::fs::create_dir(g.join(name)).unwrap();
            let t = filetime::FileTime::from_unix_time(1_000_000 + i as i64, 0);
            filetime::set_file_mtime(g.join(name), t).unwrap();
        }
        let removed = clean_up(g, &g.join("d-4"), Some(&g.join("d-1")), 2).unwrap();
        assert_eq!(removed, [g.join("d-2"), g.join("d-3")]);
        assert!(g.join("d-1").exists() && g.join("d-4").exists());
    }
}
