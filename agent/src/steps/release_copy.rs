//! Making `releases/<id>` from the files the agent installed (the appspec's
//! `files` destination). The copy is built beside it and renamed into place,
//! so a release directory is whole or absent; the release `current` points
//! at is never rewritten.

use std::path::Path;

use super::error::{Result, StepError, io};
use super::releases::Releases;

/// Copies `from` to `releases/<id>` under `app_root`, replacing an earlier
/// copy of the same id (a retried deployment) unless it is serving.
pub fn copy_release(app_root: &Path, id: &str, from: &Path) -> Result<()> {
    let releases = Releases::new(app_root);
    let refuse = |reason: String| StepError::Release {
        app_root: app_root.to_owned(),
        release: id.into(),
        reason,
    };
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(refuse("not a release id".into()));
    }
    if !from.is_dir() {
        return Err(refuse(format!("{} is not a directory", from.display())));
    }
    if releases.current()?.as_deref() == Some(id) {
        return Err(refuse(
            "it is the current release; a serving release is never rewritten".into(),
        ));
    }
    let target = releases.dir(id);
    let parent = app_root.join("releases");
    std::fs::create_dir_all(&parent).map_err(io("create", &parent))?;
    let temp = parent.join(format!(".{id}.{}.tmp", std::process::id()));
    remove_if_present(&temp)?;
    copy_tree(from, &temp)?;
    remove_if_present(&target)?;
    std::fs::rename(&temp, &target).map_err(io("rename into place", &target))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Files keep their mode (copy does that), symlinks stay symlinks.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir(to).map_err(io("create", to))?;
    let mode = std::fs::metadata(from)
        .map_err(io("read", from))?
        .permissions();
    for entry in std::fs::read_dir(from).map_err(io("list", from))? {
        let entry = entry.map_err(io("list", from))?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(io("read", &source))?;
        if kind.is_symlink() {
            let target = std::fs::read_link(&source).map_err(io("read the link", &source))?;
            std::os::unix::fs::symlink(target, &dest).map_err(io("create the link", &dest))?;
        } else if kind.is_dir() {
            copy_tree(&source, &dest)?;
        } else {
            std::fs::copy(&source, &dest).map_err(io("copy to", &dest))?;
        }
    }
    std::fs::set_permissions(to, mode).map_err(io("set the mode of", to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn bundle(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(dir.join("manage.py"), text).unwrap();
        std::fs::write(dir.join("scripts/run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            dir.join("scripts/run"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let _ = std::os::unix::fs::symlink("manage.py", dir.join("link"));
    }

    #[test]
    fn the_installed_files_become_the_release_with_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("bundle");
        bundle(&from, "v1");
        copy_release(&dir.path().join("app"), "d-1", &from).unwrap();
        let release = dir.path().join("app/releases/d-1");
        assert_eq!(
            std::fs::read_to_string(release.join("manage.py")).unwrap(),
            "v1"
        );
        let mode = std::fs::metadata(release.join("scripts/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(release.join("link")).unwrap(),
            Path::new("manage.py")
        );
        // Nothing but the release is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("app/releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["d-1"]);
    }

    #[test]
    fn a_retried_release_is_replaced_but_the_serving_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (app, from) = (dir.path().join("app"), dir.path().join("bundle"));
        bundle(&from, "v1");
        copy_release(&app, "d-1", &from).unwrap();
        std::fs::write(from.join("manage.py"), "v2").unwrap();
        copy_release(&app, "d-1", &from).unwrap();
        let manage = app.join("releases/d-1/manage.py");
        assert_eq!(std::fs::read_to_string(&manage).unwrap(), "v2");

        Releases::new(&app).switch_to("d-1").unwrap();
        let error = copy_release(&app, "d-1", &from).unwrap_err();
        assert!(error.to_string().contains("current release"), "{error}");
        assert!(copy_release(&app, "../x", &from).is_err());
    }
}
