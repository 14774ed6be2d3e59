//! Problems found in a bundle, each at a file, line and column, with a way
//! to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::yaml::Pos;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// CodeDeploy would refuse or misread the appspec.
    Error,
    /// Legal, but probably not what was meant.
    Warning,
}

/// One problem, at a position in a file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The file, relative to the bundle root.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is about the file as a whole.
    pub line: u64,
    /// 1-based column; 0 when the problem is about the file as a whole.
    pub column: u64,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Problem {
    /// An error at `pos` in `file`.
    pub fn error(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Error,
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at `pos` in `file`.
    pub fn warning(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(file, pos, message)
        }
    }

    /// The same problem with a way to fix it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": {level}: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  help: {hint}")?;
        }
        Ok(())
    }
}

/// The outcome of checking one bundle.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The appspec file that was read, relative to the bundle root.
    pub appspec: Option<PathBuf>,
    /// Every problem found, in file order.
    pub problems: Vec<Problem>,
}

impl Report {
    /// How many problems are errors.
    pub fn error_count(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    /// The appspec's file name, for the summary line.
    pub fn appspec_name(&self) -> String {
        self.appspec
            .as_deref()
            .unwrap_or(Path::new("appspec.yml"))
            .display()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_column_and_hint() {
        let p = Problem::error(Path::new("appspec.yml"), Pos { line: 3, column: 7 }, "bad")
            .with_hint("fix it");
        assert_eq!(p.to_string(), "appspec.yml:3:7: error: bad\n  help: fix it");
    }

    #[test]
    fn a_whole_file_problem_has_no_position() {
        let p = Problem::warning(Path::new("appspec.yml"), Pos::default(), "odd");
        assert_eq!(p.to_string(), "appspec.yml: warning: odd");
    }
}
