//! `slipway bundle`: the same commit gives the same bytes, whatever the
//! machine's time zone, umask or work tree.

use std::io::Read;
use std::process::Command;

use crate::repo::Repo;

struct Bundled {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Bundled {
    fn field(&self, name: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{}\n{}", self.stdout, self.stderr))
            .to_owned()
    }
}

/// Runs `slipway bundle` in `repo` through a shell with `umask` and `TZ`.
fn bundle(repo: &Repo, out: &std::path::Path, umask: &str, tz: &str, args: &[&str]) -> Bundled {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" bundle \"$@\""))
        .arg(env!("CARGO_BIN_EXE_slipway"))
        .arg("--output-dir")
        .arg(out)
        .args(args)
        .current_dir(repo.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TZ", tz)
        .output()
        .expect("slipway runs");
    Bundled {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// (path, mode, link target) of every entry in a tar.gz.
fn listing(path: &str) -> Vec<(String, u32, Option<String>, u64)> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                e.link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
                h.mtime().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_same_commit_gives_the_same_bytes_across_runs_time_zones_and_umasks() {
    let repo = Repo::shop();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let first = bundle(&repo, a.path(), "022", "UTC", &[]);
    assert!(first.ok, "{}", first.stderr);
    let again = bundle(&repo, b.path(), "022", "UTC", &[]);
    let other = bundle(&repo, c.path(), "077", "Pacific/Auckland", &[]);
    assert_eq!(first.field("sha256"), again.field("sha256"));
    assert_eq!(first.field("sha256"), other.field("sha256"));
    assert_eq!(
        std::fs::read(first.field("bundle")).unwrap(),
        std::fs::read(other.field("bundle")).unwrap()
    );
}

#[test]
fn modes_symlinks_and_export_ignore_are_as_committed() {
    let repo = Repo::shop();
    let out = tempfile::tempdir().unwrap();
    let run = bundle(&repo, out.path(), "022", "UTC", &[]);
    assert!(run.ok, "{}", run.stderr);
    let entries = listing(&run.field("bundle"));
    let find = |p: &str| entries.iter().find(|e| e.0 == p).cloned();
    assert_eq!(find("scripts/start").unwrap().1, 0o755);
    assert_eq!(find("app/settings.py").unwrap().1, 0o644);
    assert_eq!(find("current").unwrap().2.as_deref(), Some("app"));
    assert!(
        find("docs/notes.md").is_none(),
        "export-ignore: {entries:?}"
    );
    assert!(find("docs/").is_none());
    let commit_time: u64 = repo
        .git(&["log", "-1", "--format=%ct"])
        .trim()
        .parse()
        .unwrap();
    assert!(entries.iter().all(|e| e.3 == commit_time));
    let names: Vec<_> = entries.iter().map(|e| e.0.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(run.field("files"), "5");
}

#[test]
fn the_commit_is_bundled_not_the_work_tree() {
    let repo = Repo::shop();
    let out = tempfile::tempdir().unwrap();
    let before = bundle(&repo, out.path(), "022", "UTC", &[]);
    repo.write("uncommitted.txt", "not yet")
        .write("app/settings.py", "DEBUG = True\n");
    let dirty = bundle(&repo, out.path(), "022", "UTC", &[]);
    assert!(dirty.ok, "a dirty tree is not an error: {}", dirty.stderr);
    assert_eq!(before.field("sha256"), dirty.field("sha256"));
    assert!(
        !listing(&dirty.field("bundle"))
            .iter()
            .any(|e| e.0 == "uncommitted.txt")
    );
}

#[test]
fn exclude_globs_add_to_export_ignore() {
    let repo = Repo::shop();
    let out = tempfile::tempdir().unwrap();
    let run = bundle(&repo, out.path(), "022", "UTC", &["--exclude", "app/*.py"]);
    assert!(run.ok, "{}", run.stderr);
    assert!(
        !listing(&run.field("bundle"))
            .iter()
            .any(|e| e.0 == "app/settings.py")
    );
}

#[test]
fn an_older_ref_is_bundled_on_request_and_zip_and_tar_are_offered() {
    let repo = Repo::shop();
    let first = repo.head();
    repo.write("app/new.py", "x = 1\n");
    repo.commit("second");
    let out = tempfile::tempdir().unwrap();
    let run = bundle(&repo, out.path(), "022", "UTC", &["--ref", &first[..8]]);
    assert_eq!(run.field("commit"), first);
    let zip = bundle(&repo, out.path(), "022", "UTC", &["--bundle-format", "zip"]);
    assert!(zip.field("bundle").ends_with(".zip"), "{}", zip.stderr);
    let zip_again = bundle(&repo, out.path(), "022", "UTC", &["--bundle-format", "zip"]);
    assert_eq!(zip.field("sha256"), zip_again.field("sha256"));
    let tar = bundle(&repo, out.path(), "022", "UTC", &["--bundle-format", "tar"]);
    assert!(tar.field("bundle").ends_with(".tar"));
}

#[test]
fn an_invalid_appspec_is_reported_as_appspec_check_does_and_fails() {
    let repo = Repo::shop();
    repo.write(
        "appspec.yml",
        &crate::repo::APPSPEC.replace("scripts/start", "scripts/missing"),
    );
    repo.commit("broken");
    let out = tempfile::tempdir().unwrap();
    let run = bundle(&repo, out.path(), "022", "UTC", &[]);
    assert!(!run.ok);
    assert!(run.stdout.contains("scripts/missing"), "{}", run.stdout);
    assert!(
        run.stdout.contains("appspec.yml: 1 error"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_bad_ref_and_an_empty_repository_are_named() {
    let repo = Repo::shop();
    let out = tempfile::tempdir().unwrap();
    let run = bundle(
        &repo,
        out.path(),
        "022",
        "UTC",
        &["--ref", "no-such-branch"],
    );
    assert!(!run.ok);
    assert!(
        run.stderr.contains("`no-such-branch` names no commit"),
        "{}",
        run.stderr
    );
    let empty = Repo::empty();
    let run = bundle(&empty, out.path(), "022", "UTC", &[]);
    assert!(!run.ok);
    assert!(run.stderr.contains("has no commits"), "{}", run.stderr);
}

#[test]
fn submodules_come_from_their_recorded_commit_or_are_refused_by_name() {
    let lib = Repo::empty();
    lib.write("vendored.py", "VENDORED = 1\n");
    lib.commit("lib");
    let repo = Repo::shop();
    let url = format!("file://{}", lib.path().display());
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        &url,
        "lib",
    ]);
    repo.commit("add lib");
    let out = tempfile::tempdir().unwrap();
    let run = bundle(&repo, out.path(), "022", "UTC", &[]);
    assert!(run.ok, "{}", run.stderr);
    let entries = listing(&run.field("bundle"));
    assert!(
        entries.iter().any(|e| e.0 == "lib/vendored.py"),
        "{entries:?}"
    );

    // A clone without --recurse-submodules has no checkout of lib.
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    let status = Command::new("git")
        .args(["clone", "-q", &url])
        .arg(clone.path().join("shop"))
        .status()
        .unwrap();
    assert!(status.success());
    let run = bundle(
        &repo,
        out.path(),
        "022",
        "UTC",
        &["--repository", clone.path().join("shop").to_str().unwrap()],
    );
    assert!(!run.ok);
    assert!(run.stderr.contains("submodule lib"), "{}", run.stderr);
    assert!(
        run.stderr.contains("git submodule update --init"),
        "{}",
        run.stderr
    );
}
