//! The sample Django shop in `tests/sample-app/`: where it is, and copying
//! it out as a release or a bundle's tree.

use std::path::{Path, PathBuf};

use crate::venv;

/// `tests/sample-app/`.
pub fn dir() -> PathBuf {
    venv::workspace_root().join("tests/sample-app")
}

/// Copies the sample app to `dest` (created) with the reference
/// `appspec/appspec.yml` and `appspec/scripts/` beside it, making a bundle's
/// tree; build output (`__pycache__`, `staticfiles`) is left out. The app
/// keeps no copy of its own, so the two cannot drift apart.
pub fn copy_to(dest: &Path) -> std::io::Result<()> {
    copy_tree(&dir(), dest)?;
    let reference = venv::workspace_root().join("appspec");
    std::fs::copy(reference.join("appspec.yml"), dest.join("appspec.yml"))?;
    copy_tree(&reference.join("scripts"), &dest.join("scripts"))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "__pycache__" || name == "staticfiles" {
            continue;
        }
        let source = entry.path();
        if entry.file_type()?.is_dir() {
            copy_tree(&source, &to.join(&name))?;
        } else {
            std::fs::copy(&source, to.join(&name))?;
        }
    }
    Ok(())
}

/// Makes a copy of the sample app fail to import: `shop/models.py` imports
/// a name Django does not have, so every management command and gunicorn
/// fail with an `ImportError`.
pub fn break_import(release: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut models = std::fs::OpenOptions::new()
        .append(true)
        .open(release.join("shop/models.py"))?;
    writeln!(models, "\nfrom django.db import no_such_name  # noqa: E402")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_stands_alone_with_the_reference_appspec() {
        let dest = tempfile::tempdir().unwrap();
        copy_to(dest.path()).unwrap();
        let appspec = dest.path().join("appspec.yml");
        assert!(!appspec.is_symlink());
        assert_eq!(
            std::fs::read_to_string(&appspec).unwrap(),
            std::fs::read_to_string(venv::workspace_root().join("appspec/appspec.yml")).unwrap()
        );
        assert!(dest.path().join("scripts/after-install").is_file());
        assert!(
            dest.path()
                .join("shop/migrations/0001_initial.py")
                .is_file()
        );
    }
}
