//! Which file in a bundle is the appspec.

use std::path::{Path, PathBuf};

/// The names CodeDeploy looks for, in its order: the deployment's
/// `AppSpecFilename` (which defaults to `appspec.yml`), then `appspec.yaml`.
pub const APPSPEC_NAMES: [&str; 2] = ["appspec.yml", "appspec.yaml"];

/// The appspec found at a bundle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file CodeDeploy will read, relative to the root.
    pub name: PathBuf,
    /// Another appspec file CodeDeploy will ignore.
    pub shadowed: Option<PathBuf>,
}

/// The appspec in the bundle rooted at `dir`, or `None` if it has none.
///
/// Only regular files count, as only they can be read as an appspec; a
/// directory named `appspec.yml` is as good as missing.
pub fn locate(dir: &Path) -> Option<Located> {
    let mut present = APPSPEC_NAMES
        .into_iter()
        .filter(|name| dir.join(name).is_file())
        .map(PathBuf::from);
    let name = present.next()?;
    Some(Located {
        name,
        shadowed: present.next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yml_wins_over_yaml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("appspec.yaml"), "").unwrap();
        std::fs::write(dir.path().join("appspec.yml"), "").unwrap();
        let found = locate(dir.path()).unwrap();
        assert_eq!(found.name, PathBuf::from("appspec.yml"));
        assert_eq!(found.shadowed, Some(PathBuf::from("appspec.yaml")));
    }

    #[test]
    fn yaml_is_found_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("appspec.yaml"), "").unwrap();
        assert_eq!(
            locate(dir.path()).unwrap().name,
            PathBuf::from("appspec.yaml")
        );
    }

    #[test]
    fn a_directory_is_not_an_appspec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("appspec.yml")).unwrap();
        assert_eq!(locate(dir.path()), None);
    }
}
