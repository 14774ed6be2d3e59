//! What a passed `gunicorn-check` proved, so that `gunicorn-reload` in the
//! same deployment need not prove it again. In the reference hooks
//! AfterInstall runs the preflight and ApplicationStart's reload ran it a
//! second time on the same release and venv: about 2 s of Python importing
//! Django, of a lifecycle whose budget is 10 s (bench/lifecycle).
//!
//! The record is `<app_root>/.slipway/<program>.preflight`: one fingerprint
//! of what the preflight ran on. The reload skips its preflight only when
//! the fingerprint it computes is the recorded one: the same release
//! directory (path and inode), app, gunicorn and program config, and none
//! of gunicorn, the venv's python, its site-packages (a `pip install` adds
//! or replaces entries there) or the program config changed since (path,
//! size, mtime and inode of each). Files changed inside a release are not
//! seen: releases are built whole by `release-copy` and their code is not
//! touched after. Anything unreadable, or no record, and the reload runs
//! the preflight as before.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::{Result, io};
use super::lock::state_dir;
use super::replace_file::replace_file;

/// What a preflight ran on.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The gunicorn executable (its venv's python runs `manage.py check`).
    pub gunicorn: &'a Path,
    /// The release directory checked.
    pub release_dir: &'a Path,
    /// The WSGI app, `module:name`.
    pub app: &'a str,
    /// The Supervisor program config read for the refusals.
    pub program_config: &'a Path,
}

/// The fingerprint of `inputs`; None when one of them cannot be read.
pub fn fingerprint(inputs: &Inputs) -> Option<String> {
    // The release by identity alone: the steps between the check and the
    // reload write into it (collectstatic's staticfiles/, __pycache__/), and
    // `release-copy` builds one anew under another inode.
    let release = std::fs::metadata(inputs.release_dir).ok()?;
    let mut text = format!(
        "app {}\nrelease {} {}\n",
        inputs.app,
        inputs.release_dir.display(),
        release.ino()
    );
    let venv = inputs.gunicorn.parent()?.parent()?;
    let mut files: Vec<PathBuf> = vec![
        inputs.gunicorn.to_owned(),
        inputs.gunicorn.with_file_name("python"),
        inputs.program_config.to_owned(),
    ];
    // lib/python3.X/site-packages, whichever pythons the venv has.
    if let Ok(entries) = std::fs::read_dir(venv.join("lib")) {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("site-packages"))
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        files.extend(found);
    }
    for file in files {
        // Followed: the venv's python is a link to the interpreter.
        let meta = std::fs::metadata(&file).ok()?;
        text.push_str(&format!(
            "{} {} {}.{} {}\n",
            file.display(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino()
        ));
    }
    Some(text)
}

fn path(app_root: &Path, program: &str) -> PathBuf {
    state_dir(app_root).join(format!("{program}.preflight"))
}

/// Records that the preflight passed on what `fingerprint` describes.
pub fn record(app_root: &Path, program: &str, fingerprint: &str) -> Result<()> {
    let dir = state_dir(app_root);
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    replace_file(&path(app_root, program), fingerprint.as_bytes())
}

/// Whether the preflight passed on exactly what `fingerprint` describes.
pub fn passed(app_root: &Path, program: &str, fingerprint: &str) -> bool {
    std::fs::read_to_string(path(app_root, program)).is_ok_and(|text| text == fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A venv (bin/gunicorn, bin/python, lib/python3.11/site-packages), a
    /// release and a program config under `dir`.
    fn layout(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let bin = dir.join("venv/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("gunicorn"), "#!gunicorn").unwrap();
        std::fs::write(bin.join("python"), "#!python").unwrap();
        let site = dir.join("venv/lib/python3.11/site-packages");
        std::fs::create_dir_all(site.join("django")).unwrap();
        // Long ago, so that a change now gets another mtime even on a
        // coarse clock.
        std::fs::File::open(&site)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000))
            .unwrap();
        let release = dir.join("app/releases/d-1");
        std::fs::create_dir_all(&release).unwrap();
        let config = dir.join("gunicorn.conf");
        std::fs::write(&config, "[program:gunicorn]\n").unwrap();
        (bin.join("gunicorn"), release, config)
    }

    #[test]
    fn a_recorded_preflight_passes_for_the_same_inputs_only() {
        let dir = tempfile::tempdir().unwrap();
        let (gunicorn, release, config) = layout(dir.path());
        let app_root = dir.path().join("app");
        let inputs = Inputs {
            gunicorn: &gunicorn,
            release_dir: &release,
            app: "shop.wsgi:application",
            program_config: &config,
        };
        let print = fingerprint(&inputs).unwrap();
        assert!(
            !passed(&app_root, "gunicorn", &print),
            "nothing recorded yet"
        );
        record(&app_root, "gunicorn", &print).unwrap();
        assert!(passed(&app_root, "gunicorn", &print));
        assert!(!passed(&app_root, "other", &print), "per program");

        let other_release = dir.path().join("app/releases/d-2");
        std::fs::create_dir_all(&other_release).unwrap();
        let other = Inputs {
            release_dir: &other_release,
            ..inputs.clone()
        };
        assert!(!passed(
            &app_root,
            "gunicorn",
            &fingerprint(&other).unwrap()
        ));
        // collectstatic writes into the release after the check.
        std::fs::create_dir(release.join("staticfiles")).unwrap();
        assert!(passed(
            &app_root,
            "gunicorn",
            &fingerprint(&inputs).unwrap()
        ));
        // A release built again (release-copy renames a new tree in).
        std::fs::rename(&release, dir.path().join("old")).unwrap();
        std::fs::create_dir(&release).unwrap();
        assert!(!passed(
            &app_root,
            "gunicorn",
            &fingerprint(&inputs).unwrap()
        ));
        let other_app = Inputs {
            app: "shop.wsgi:other",
            ..inputs.clone()
        };
        assert!(!passed(
            &app_root,
            "gunicorn",
            &fingerprint(&other_app).unwrap()
        ));
    }

    #[test]
    fn a_package_installed_into_the_venv_or_a_changed_config_voids_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let (gunicorn, release, config) = layout(dir.path());
        let app_root = dir.path().join("app");
        let inputs = Inputs {
            gunicorn: &gunicorn,
            release_dir: &release,
            app: "shop.wsgi:application",
            program_config: &config,
        };
        record(&app_root, "gunicorn", &fingerprint(&inputs).unwrap()).unwrap();
        std::fs::create_dir(dir.path().join("venv/lib/python3.11/site-packages/newpkg")).unwrap();
        assert!(!passed(
            &app_root,
            "gunicorn",
            &fingerprint(&inputs).unwrap()
        ));

        record(&app_root, "gunicorn", &fingerprint(&inputs).unwrap()).unwrap();
        std::fs::write(
            &config,
            "[program:gunicorn]\ncommand=gunicorn --workers 4\n",
        )
        .unwrap();
        assert!(!passed(
            &app_root,
            "gunicorn",
            &fingerprint(&inputs).unwrap()
        ));
    }

    #[test]
    fn a_missing_input_has_no_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let (gunicorn, _, config) = layout(dir.path());
        let missing = dir.path().join("app/releases/gone");
        let inputs = Inputs {
            gunicorn: &gunicorn,
            release_dir: &missing,
            app: "shop.wsgi:application",
            program_config: &config,
        };
        assert_eq!(fingerprint(&inputs), None);
    }
}
