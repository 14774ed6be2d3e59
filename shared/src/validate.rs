//! Checks a bundle's appspec against its tree. (Stub: being written.)

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Result;

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
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
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

/// Checks the bundle rooted at `dir`.
pub fn check_bundle(dir: &Path) -> Result<Report> {
    let _ = dir;
    Ok(Report::default())
}
