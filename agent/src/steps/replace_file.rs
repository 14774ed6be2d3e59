//! Replacing a small file whole: written beside it under a name of this
//! process, then renamed over it, so a reader (supervisord, nginx, the next
//! step) sees the old text or the new, never a torn one.

use std::path::Path;

use super::error::{Result, io};

/// Replaces `path` with `text`, keeping the mode of the file it replaces;
/// the temporary file is removed if any part fails.
pub fn replace_file(path: &Path, text: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&temp, text)
        .map_err(io("write", &temp))
        .and_then(|()| {
            if let Ok(meta) = std::fs::metadata(path) {
                let _ = std::fs::set_permissions(&temp, meta.permissions());
            }
            std::fs::rename(&temp, path).map_err(io("rename over", path))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::replace_file;

    #[test]
    fn the_file_is_replaced_whole_with_its_mode_kept_and_no_temporary_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.conf");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_replace_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir/site.conf");
        assert!(replace_file(&path, b"new").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
