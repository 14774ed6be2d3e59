//! The appspec validator against the fixtures under `tests/fixtures/appspec`.
//!
//! Each fixture is a bundle directory with an `expected` file: the first
//! line of every problem `slipway appspec check` must print, in order.
//! `invalid/` fixtures must have at least one error; `valid/` ones none
//! (warnings allowed: AWS's own examples earn some). An `agent` file says
//! what the official agent v1.8.1 did with the same bundle, measured by a
//! differential harness kept outside the repository; where its verdict and
//! ours differ, a `kept:` line says why. An `appspec-filename` file names
//! the deployment's AppSpecFilename.

use std::fs;
use std::path::{Path, PathBuf};

use slipway_shared::validate::{self, Severity};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/appspec")
        .join(kind);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn check(dir: &Path) -> slipway_shared::problem::Report {
    let named = fs::read_to_string(dir.join("appspec-filename")).ok();
    validate::check_bundle_named(dir, named.as_deref().map(str::trim)).unwrap()
}

/// The first line of each problem, as the CLI prints it.
fn problem_lines(dir: &Path) -> Vec<String> {
    let report = check(dir);
    report
        .problems
        .iter()
        .map(|p| p.to_string().lines().next().unwrap().to_owned())
        .collect()
}

fn expected_lines(dir: &Path) -> Vec<String> {
    let path = dir.join("expected");
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_invalid_fixture_gives_its_expected_messages_and_lines() {
    let dirs = fixtures("invalid");
    assert!(dirs.len() >= 25, "only {} invalid fixtures", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let report = check(dir);
        if report.error_count() == 0 {
            failures.push(format!("{}: no error reported", dir.display()));
        }
        for p in report.problems.iter().filter(|p| p.hint.is_none()) {
            failures.push(format!("{}: no fix given for `{p}`", dir.display()));
        }
        let (got, want) = (problem_lines(dir), expected_lines(dir));
        if got != want {
            failures.push(format!(
                "{}:\n  expected:\n    {}\n  got:\n    {}",
                dir.display(),
                want.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_valid_fixture_has_no_errors() {
    let dirs = fixtures("valid");
    assert!(!dirs.is_empty());
    for dir in &dirs {
        let report = check(dir);
        let errors: Vec<_> = report
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            dir.display(),
            errors.join("\n")
        );
        assert_eq!(problem_lines(dir), expected_lines(dir), "{}", dir.display());
    }
}

#[test]
fn every_fixture_says_what_the_official_agent_does_and_why_a_disagreement_stays() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (kind, dirs) in [
        ("valid", fixtures("valid")),
        ("invalid", fixtures("invalid")),
    ] {
        for dir in dirs {
            count += 1;
            let Ok(note) = fs::read_to_string(dir.join("agent")) else {
                failures.push(format!("{}: no `agent` note", dir.display()));
                continue;
            };
            let agent_deploys = note
                .lines()
                .next()
                .is_some_and(|l| l.ends_with(": deploys"));
            let agrees = agent_deploys == (kind == "valid");
            let kept = note
                .lines()
                .any(|l| l.starts_with("kept: ") && l.len() > 20);
            if !agrees && !kept {
                failures.push(format!(
                    "{}: the official agent {} it, and no `kept:` line says why Slipway differs",
                    dir.display(),
                    if agent_deploys { "deploys" } else { "fails" }
                ));
            }
            if agrees && kept {
                failures.push(format!(
                    "{}: a `kept:` line where the verdicts agree",
                    dir.display()
                ));
            }
        }
    }
    assert!(count >= 150, "only {count} fixtures");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_reference_appspec_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../appspec");
    let report = validate::check_bundle(&dir).unwrap();
    assert_eq!(report.problems, [], "{:?}", report.problems);
}

#[test]
fn an_appspec_over_one_mebibyte_is_refused_without_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("version: 0.0\nos: linux\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    fs::write(dir.path().join("appspec.yml"), text).unwrap();
    assert_eq!(
        problem_lines(dir.path()),
        ["appspec.yml: error: the appspec is larger than 1 MiB"]
    );
}

#[test]
fn an_appspec_of_exactly_one_mebibyte_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("version: 0.0\nos: linux\n");
    text.push_str(&"#".repeat(1024 * 1024 - text.len() - 1));
    text.push('\n');
    assert_eq!(text.len(), 1024 * 1024);
    fs::write(dir.path().join("appspec.yml"), text).unwrap();
    assert_eq!(problem_lines(dir.path()), Vec::<String>::new());
}

#[test]
fn both_appspec_names_present_warns_about_the_ignored_one() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
    fs::write(dir.path().join("appspec.yaml"), "version: 1\n").unwrap();
    assert_eq!(
        problem_lines(dir.path()),
        ["appspec.yaml: warning: CodeDeploy reads appspec.yml and ignores this file"]
    );
}
