//! `slipway appspec check DIR`: every problem in a bundle's appspec, as text
//! for people and, under GitHub Actions, as annotations on the file.

use std::io::Write;
use std::path::Path;

use slipway_shared::validate::{self, Severity};

use crate::github::commands::{Annotation, Level};
use crate::{Error, Result};

/// Checks the bundle at `dir` and writes one block per problem to `out`.
///
/// Returns whether the appspec is free of errors (warnings don't count).
pub fn run(dir: &Path, actions: bool, out: &mut dyn Write) -> Result<bool> {
    run_named(dir, None, actions, out)
}

/// As [`run`], for a deployment whose AppSpecFilename is `appspec_filename`.
pub fn run_named(
    dir: &Path,
    appspec_filename: Option<&str>,
    actions: bool,
    out: &mut dyn Write,
) -> Result<bool> {
    let report = validate::check_bundle_named(dir, appspec_filename).map_err(|source| {
        Error::AppspecCheck {
            dir: dir.to_owned(),
            source,
        }
    })?;
    print(&report, dir, actions, out)
}

/// Writes `report`'s problems (files named under `dir`), as text and, under
/// Actions, as annotations, then the verdict line. Returns whether it is
/// free of errors.
pub fn print(
    report: &slipway_shared::problem::Report,
    dir: &Path,
    actions: bool,
    out: &mut dyn Write,
) -> Result<bool> {
    for problem in &report.problems {
        writeln!(out, "{problem}").map_err(Error::Output)?;
        if actions {
            let file = dir.join(&problem.file);
            let file = file.to_string_lossy();
            let message = match &problem.hint {
                Some(hint) => format!("{}\n{hint}", problem.message),
                None => problem.message.clone(),
            };
            let annotation = Annotation {
                level: match problem.severity {
                    Severity::Error => Level::Error,
                    Severity::Warning => Level::Warning,
                },
                file: Some(&file),
                line: Some(problem.line),
                col: Some(problem.column),
                title: Some("appspec"),
                message: &message,
            };
            writeln!(out, "{annotation}").map_err(Error::Output)?;
        }
    }
    let errors = report.error_count();
    if errors == 0 {
        writeln!(out, "{}: ok", report.appspec_name()).map_err(Error::Output)?;
    } else {
        let s = if errors == 1 { "" } else { "s" };
        writeln!(out, "{}: {errors} error{s}", report.appspec_name()).map_err(Error::Output)?;
    }
    Ok(errors == 0)
}
