//! The `<group-id>_most_recent_install` and `_last_successful_install`
//! pointers: an absolute deployment directory, no newline. Most-recent moves
//! when DownloadBundle ends, last-successful when Install ends, so a revision
//! whose later hooks failed still supplies the next ApplicationStop.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Which pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointer {
    /// Written when DownloadBundle ends.
    MostRecent,
    /// Written when Install ends.
    LastSuccessful,
}

/// The pointer's path for `group_id` under `layout`.
pub fn path(layout: &super::Layout, group_id: &str, which: Pointer) -> PathBuf {
    match which {
        Pointer::MostRecent => layout.most_recent_pointer(group_id),
        Pointer::LastSuccessful => layout.last_successful_pointer(group_id),
    }
}

/// The deployment directory the pointer names, if it exists.
pub fn read(layout: &super::Layout, group_id: &str, which: Pointer) -> Result<Option<PathBuf>> {
    let file = path(layout, group_id, which);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let target = text.trim_end_matches('\n');
            Ok((!target.is_empty()).then(|| PathBuf::from(target)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            action: "read",
            path: file,
            source,
        }),
    }
}

/// Points `which` at `deployment_dir`, atomically (a crash leaves the old
/// pointer or the new one, never half of one).
pub fn write(
    layout: &super::Layout,
    group_id: &str,
    which: Pointer,
    deployment_dir: &Path,
) -> Result<()> {
    let file = path(layout, group_id, which);
    let dir = layout.instructions_dir();
    std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, deployment_dir.as_os_str().as_encoded_bytes())
        .map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, &file).map_err(Error::io("write", &file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Layout;

    #[test]
    fn a_pointer_is_the_bare_path_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let target = layout.deployment_dir("g", "d-1");
        write(&layout, "g", Pointer::LastSuccessful, &target).unwrap();
        let raw = std::fs::read(layout.last_successful_pointer("g")).unwrap();
        assert_eq!(raw, target.as_os_str().as_encoded_bytes());
        assert_eq!(
            read(&layout, "g", Pointer::LastSuccessful).unwrap(),
            Some(target)
        );
        assert_eq!(read(&layout, "g", Pointer::MostRecent).unwrap(), None);
    }
}
