//! `slipway appspec check` as a user and a GitHub Actions step run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/appspec")
        .join(path)
}

fn check(dir: &Path, actions: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
    cmd.args(["appspec", "check"]).arg(dir);
    cmd.env_remove("GITHUB_ACTIONS");
    if actions {
        cmd.env("GITHUB_ACTIONS", "true");
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn a_clean_bundle_exits_zero() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../appspec");
    let out = check(&dir, false);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "appspec.yml: ok\n");
}

#[test]
fn problems_exit_one_and_print_each_with_its_fix() {
    let out = check(&fixture("invalid/tabs-in-indentation"), false);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("appspec.yml:4:1: error: a tab in the indentation\n  help: YAML indents with spaces only"), "{text}");
    assert!(text.contains("appspec.yml:5:1: error"), "{text}");
    assert!(text.ends_with("appspec.yml: 2 errors\n"), "{text}");
    assert!(
        !text.contains("::error"),
        "annotations outside Actions: {text}"
    );
}

#[test]
fn under_github_actions_each_problem_is_also_an_annotation() {
    let dir = fixture("invalid/unquoted-octal-mode");
    let out = check(&dir, true);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let annotation = text
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in {text}"));
    let file = dir.join("appspec.yml");
    let file = file
        .to_string_lossy()
        .replace(':', "%3A")
        .replace(',', "%2C");
    assert!(
        annotation.starts_with(&format!(
            "::error file={file},line=5,col=11,title=appspec::"
        )),
        "{annotation}"
    );
    assert!(
        annotation.contains("%0Aquote it: mode: \"0644\""),
        "{annotation}"
    );
}

#[test]
fn warnings_alone_do_not_fail_the_check() {
    let out = check(&fixture("valid/aws-permissions-example"), true);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("::warning file="));
}

#[test]
fn a_missing_directory_exits_three_naming_it() {
    let out = check(Path::new("/nonexistent/bundle"), false);
    assert_eq!(
        out.status.code(),
        Some(slipway_action::cli::EXIT_JOB_FAILED.into())
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/bundle"), "{err}");
}

#[test]
fn a_bundle_with_only_appspec_yaml_passes_when_the_deployment_names_it() {
    let dir = fixture("invalid/appspec-yaml-only");
    assert_eq!(check(&dir, false).status.code(), Some(1));
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["appspec", "check", "--appspec-filename", "appspec.yaml"])
        .arg(&dir)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "appspec.yaml: ok\n");
}
