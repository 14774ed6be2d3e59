//! Git repositories built for a test, with the git CLI as a user would.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A repository in a temporary directory.
pub struct Repo {
    dir: TempDir,
}

pub const APPSPEC: &str = "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/shop\nhooks:\n  ApplicationStart:\n    - location: scripts/start\n      timeout: 60\n";

impl Repo {
    /// An empty repository.
    pub fn empty() -> Self {
        let repo = Self {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A repository with one commit of a valid bundle: appspec, an executable
    /// hook, a symlink, and a file export-ignored.
    pub fn shop() -> Self {
        let repo = Self::empty();
        repo.write("appspec.yml", APPSPEC)
            .write_exec("scripts/start", "#!/bin/sh\necho started\n")
            .write("app/settings.py", "DEBUG = False\n")
            .write("docs/notes.md", "internal\n")
            .write(".gitattributes", "docs export-ignore\n")
            .symlink("current", "app");
        repo.commit("first release");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> &Self {
        let path = self.file(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn write_exec(&self, name: &str, text: &str) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        self.write(name, text);
        std::fs::set_permissions(self.file(name), std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    pub fn symlink(&self, name: &str, target: &str) -> &Self {
        std::os::unix::fs::symlink(target, self.file(name)).unwrap();
        self
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}
