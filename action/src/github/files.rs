//! File commands: `GITHUB_ENV` and `GITHUB_OUTPUT`.
//!
//! Every entry is written in the heredoc form `NAME<<DELIM`, value, `DELIM`,
//! which is safe for any value, including multi-line ones. As in
//! `@actions/core`, the delimiter is `ghadelimiter_<uuid>`, fresh per entry,
//! and a name or value that contains it is refused: it would end the value
//! early and let the rest inject variables of its own.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A file command's file, such as the path in `GITHUB_ENV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCommand {
    path: PathBuf,
}

impl FileCommand {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the entries go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entries` in one write, so a concurrent reader never sees half
    /// an entry and a refused entry leaves the file untouched.
    pub fn append(&self, entries: &[(&str, &str)]) -> Result<()> {
        let mut text = String::new();
        for (name, value) in entries {
            let delimiter = format!("ghadelimiter_{}", uuid::Uuid::new_v4());
            text.push_str(&entry(name, value, &delimiter).map_err(|reason| {
                Error::FileCommandEntry {
                    path: self.path.clone(),
                    name: (*name).to_owned(),
                    reason,
                }
            })?);
        }
        let write = || -> std::io::Result<()> {
            let mut file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)?;
            file.write_all(text.as_bytes())?;
            file.flush()
        };
        write().map_err(|source| Error::FileCommandWrite {
            path: self.path.clone(),
            source,
        })
    }
}

/// One heredoc entry, or why it cannot be written.
fn entry(name: &str, value: &str, delimiter: &str) -> std::result::Result<String, &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.contains(['\n', '\r']) {
        return Err("the name spans lines");
    }
    if name.contains(delimiter) {
        return Err("the name contains the delimiter");
    }
    if value.contains(delimiter) {
        return Err("the value contains the delimiter");
    }
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// Reads a file command's file back: `NAME=VALUE` lines and heredoc
/// entries. The writer's own round-trip check; the integration tests read
/// the files with a parser of their own, written from the runner's format.
#[cfg(test)]
fn parse(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut entries = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l == delimiter => break,
                    Some(l) => value.push(l),
                    None => return Err(format!("`{name}` has no closing `{delimiter}`")),
                }
            }
            entries.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            entries.push((name.to_owned(), value.to_owned()));
        } else {
            return Err(format!("invalid line `{line}`"));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_a_heredoc_with_the_delimiter_on_its_own_lines() {
        assert_eq!(
            entry("AWS_REGION", "eu-west-1", "ghadelimiter_x").unwrap(),
            "AWS_REGION<<ghadelimiter_x\neu-west-1\nghadelimiter_x\n"
        );
    }

    #[test]
    fn a_value_holding_the_delimiter_is_refused() {
        let err = entry("X", "a\nghadelimiter_x\nEVIL=1", "ghadelimiter_x").unwrap_err();
        assert_eq!(err, "the value contains the delimiter");
        assert!(entry("ghadelimiter_x", "v", "ghadelimiter_x").is_err());
        assert!(entry("A\nB", "v", "d").is_err());
        assert!(entry("", "v", "d").is_err());
    }

    #[test]
    fn appended_entries_read_back_including_multiline_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = FileCommand::new(dir.path().join("env"));
        file.append(&[("A", "1"), ("B", "two\nlines")]).unwrap();
        file.append(&[("C", "")]).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert_eq!(
            parse(&text).unwrap(),
            [("A", "1"), ("B", "two\nlines"), ("C", "")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let delimiters: Vec<_> = text
            .lines()
            .filter_map(|l| l.split_once("<<"))
            .map(|(_, d)| d)
            .collect();
        assert!(delimiters.iter().all(|d| d.starts_with("ghadelimiter_")));
        assert_ne!(delimiters[0], delimiters[1], "a fresh delimiter per entry");
    }

    #[test]
    fn a_write_to_a_missing_directory_names_the_file() {
        let file = FileCommand::new("/nonexistent/dir/github_env");
        let err = file.append(&[("A", "1")]).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/dir/github_env"),
            "{err}"
        );
    }
}
