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

/// The directory CodeDeploy treats as the bundle's root: `dir` itself, or,
/// when `dir` has no appspec and holds nothing but one directory that has
/// one, that directory (the agent lifts such a bundle up one level, as
/// archives made with `tar -czf app.tgz app/` need).
pub fn bundle_root(dir: &Path) -> PathBuf {
    if locate(dir).is_some() {
        return dir.to_owned();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return dir.to_owned();
    };
    let entries: Vec<_> = entries.flatten().take(2).collect();
    match entries.as_slice() {
        [only] if only.file_type().is_ok_and(|t| t.is_dir()) && locate(&only.path()).is_some() => {
            only.path()
        }
        _ => dir.to_owned(),
    }
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
    fn a_lone_top_level_directory_with_an_appspec_is_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/appspec.yml"), "").unwrap();
        assert_eq!(bundle_root(dir.path()), dir.path().join("app"));
    }

    #[test]
    fn a_top_level_directory_beside_other_files_is_not_lifted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/appspec.yml"), "").unwrap();
        std::fs::write(dir.path().join("README"), "").unwrap();
        assert_eq!(bundle_root(dir.path()), dir.path());
    }

    #[test]
    fn a_directory_is_not_an_appspec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("appspec.yml")).unwrap();
        assert_eq!(locate(dir.path()), None);
    }
}
