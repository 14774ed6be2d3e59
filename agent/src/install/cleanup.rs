//! `<group>-cleanup`: one created path per line (`semanage\0<path>` for an
//! SELinux rule), each written before the path is created. Replayed in
//! reverse before the next install: files and links removed, directories
//! only when empty, and an unterminated last line ignored (the agent died
//! before creating it).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The prefix of a line that records an SELinux rule.
pub const SEMANAGE_PREFIX: &str = "semanage\0";

/// Undoes the install recorded in `file`, then removes `file`.
pub fn replay(file: &Path) -> Result<()> {
    let text = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                action: "read",
                path: file.to_owned(),
                source,
            });
        }
    };
    let text = String::from_utf8_lossy(&text);
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop();
    }
    for line in lines.into_iter().rev() {
        let line = line.trim_end_matches('\n');
        if let Some(path) = line.strip_prefix(SEMANAGE_PREFIX) {
            // Only present on SELinux hosts; a failure leaves a stale rule,
            // which the official agent also tolerates.
            let _ = std::process::Command::new("semanage")
                .args(["fcontext", "-d", path])
                .status();
            continue;
        }
        remove(Path::new(line))?;
    }
    std::fs::remove_file(file).map_err(Error::io("remove", file))
}

fn remove(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let result = if meta.is_dir() {
        match std::fs::remove_dir(path) {
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(()),
            other => other,
        }
    } else {
        std::fs::remove_file(path)
    };
    result.map_err(Error::io("remove", path))
}

/// The cleanup file being written by an install.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    file: std::fs::File,
}

impl Writer {
    /// Creates (truncating) the cleanup file at `path`.
    pub fn create(path: &Path) -> Result<Writer> {
        let file = std::fs::File::create(path).map_err(Error::io("create", path))?;
        Ok(Writer {
            path: path.to_owned(),
            file,
        })
    }

    /// Records `line` before the thing it names is created.
    pub fn record(&mut self, line: &str) -> Result<()> {
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .map_err(Error::io("write", &self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_removes_files_keeps_full_directories_and_ignores_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("app")).unwrap();
        std::fs::write(d.join("app/a"), "").unwrap();
        std::fs::write(d.join("app/keep"), "").unwrap();
        std::fs::write(d.join("torn"), "").unwrap();
        let cleanup = d.join("g-cleanup");
        std::fs::write(
            &cleanup,
            format!(
                "{}\n{}\n{}",
                d.join("app").display(),
                d.join("app/a").display(),
                d.join("torn").display()
            ),
        )
        .unwrap();
        replay(&cleanup).unwrap();
        assert!(!d.join("app/a").exists());
        assert!(
            d.join("app/keep").exists(),
            "a directory with other files stays"
        );
        assert!(d.join("torn").exists(), "the unterminated line is ignored");
        assert!(!cleanup.exists());
    }
}
