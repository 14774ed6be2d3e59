//! The job summary: Markdown appended to `GITHUB_STEP_SUMMARY`, shown on
//! the run's page. The runner masks registered secrets in it too.

use std::fs::OpenOptions;
use std::io::Write;

use crate::env::Env;
use crate::{Error, Result};

/// The runner shows at most 1 MiB per step; a longer summary is refused
/// whole, so we cut it ourselves.
pub const MAX_BYTES: usize = 1024 * 1024;

/// Appends `markdown` to the step's summary; does nothing outside Actions.
pub fn append(env: &Env, markdown: &str) -> Result<()> {
    let Some(path) = env.get("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    let kept = &markdown.as_bytes()[..markdown.floor_char_boundary(MAX_BYTES)];
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new().append(true).create(true).open(path)?;
        file.write_all(kept)?;
        file.write_all(b"\n")
    };
    write().map_err(|source| Error::FileCommandWrite {
        path: path.into(),
        source,
    })
}

/// Code spans that survive backticks in `text`.
pub fn code(text: &str) -> String {
    let fence = if text.contains('`') { "`` " } else { "`" };
    let close = if text.contains('`') { " ``" } else { "`" };
    format!("{fence}{text}{close}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_is_appended_to_the_runner_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        let env = Env::from_pairs([("GITHUB_STEP_SUMMARY", path.to_str().unwrap())]);
        append(&env, "### one").unwrap();
        append(&env, "two").unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "### one\ntwo\n");
    }

    #[test]
    fn without_a_summary_file_nothing_happens() {
        append(&Env::default(), "ignored").unwrap();
    }

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }
}
