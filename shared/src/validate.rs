//! Checks a bundle's appspec against the bundle's own tree: what CodeDeploy
//! would refuse, found before the deploy instead of on a host.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::appspec::{self, AppSpec, FileMapping, Hook};
use crate::problem::{Problem, Report};
use crate::yaml::Pos;
use crate::{Error, Result};

pub use crate::problem::Severity;

/// The largest appspec read. Real ones are a few KiB; anything near this is
/// a mistake (a bundle file renamed) or an attack on the parser.
pub const MAX_APPSPEC_BYTES: u64 = 1024 * 1024;

/// Checks the bundle rooted at `dir`. Problems are reported, not raised;
/// the error is for a bundle directory that cannot be read at all.
pub fn check_bundle(dir: &Path) -> Result<Report> {
    let read_bundle = |source| Error::ReadBundle {
        path: dir.to_owned(),
        source,
    };
    let meta = fs::metadata(dir).map_err(read_bundle)?;
    if !meta.is_dir() {
        return Err(read_bundle(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    let mut report = Report::default();
    let root = appspec::bundle_root(dir);
    // Problems name files relative to `dir`, so a lifted bundle's keep
    // their directory: annotations must point at real paths.
    let prefix = root.strip_prefix(dir).unwrap_or(Path::new("")).to_owned();
    let Some(mut found) = appspec::locate(&root) else {
        report.problems.push(
            Problem::error(
                Path::new(appspec::APPSPEC_NAMES[0]),
                Pos::default(),
                "the bundle has no appspec.yml or appspec.yaml at its root",
            )
            .with_hint(
                "CodeDeploy reads the appspec from the root of the bundle; add appspec.yml there",
            ),
        );
        return Ok(report);
    };
    found.name = prefix.join(&found.name);
    found.shadowed = found.shadowed.map(|s| prefix.join(s));
    if let Some(shadowed) = &found.shadowed {
        report.problems.push(
            Problem::warning(
                shadowed,
                Pos::default(),
                format!(
                    "CodeDeploy reads {} and ignores this file",
                    found.name.display()
                ),
            )
            .with_hint("keep one appspec; delete the other"),
        );
    }
    report.appspec = Some(found.name.clone());
    let text = match read_text(&dir.join(&found.name)) {
        Ok(text) => text,
        Err(problem) => {
            report.problems.push(problem.at(&found.name));
            return Ok(report);
        }
    };
    let parsed = appspec::parse(&found.name, &text);
    report.problems.extend(parsed.problems);
    if let Some(spec) = parsed.appspec {
        let mut tree = Tree {
            root: &root,
            file: &found.name,
            problems: Vec::new(),
        };
        tree.check(&spec);
        report.problems.extend(tree.problems);
    }
    report
        .problems
        .sort_by_key(|p| (p.file.clone(), p.line, p.column));
    Ok(report)
}

/// A problem found before the appspec's name is attached.
struct Unreadable {
    pos: Pos,
    message: String,
    hint: &'static str,
}

impl Unreadable {
    fn at(self, file: &Path) -> Problem {
        Problem::error(file, self.pos, self.message).with_hint(self.hint)
    }
}

fn read_text(path: &Path) -> Result<String, Unreadable> {
    let unreadable = |e: std::io::Error| Unreadable {
        pos: Pos::default(),
        message: format!("cannot read the appspec: {e}"),
        hint: "check the file's permissions",
    };
    let file = fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    // Read one byte past the limit to tell "at the limit" from "over it"
    // without trusting the size metadata of a file that may still grow.
    file.take(MAX_APPSPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_APPSPEC_BYTES {
        return Err(Unreadable {
            pos: Pos::default(),
            message: "the appspec is larger than 1 MiB".into(),
            hint: "an appspec is a few KiB; check that this is the right file",
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count() as u64
            + 1;
        let byte = e.as_bytes()[valid.len()];
        Unreadable {
            pos: Pos { line, column },
            message: format!("the appspec is not UTF-8 (byte 0x{byte:02x})"),
            hint: "save the file as UTF-8",
        }
    })
}

struct Tree<'a> {
    root: &'a Path,
    file: &'a Path,
    problems: Vec<Problem>,
}

impl Tree<'_> {
    fn error(&mut self, pos: Pos, message: String, hint: &str) {
        self.problems
            .push(Problem::error(self.file, pos, message).with_hint(hint));
    }

    fn check(&mut self, spec: &AppSpec) {
        for event in &spec.hooks {
            for hook in &event.scripts {
                self.script(hook);
            }
        }
        let mut targets: HashMap<PathBuf, (usize, PathBuf)> = HashMap::new();
        let mut reported = Vec::new();
        for (i, mapping) in spec.files.iter().enumerate() {
            for (target, source) in self.mapping(mapping) {
                match targets.get(&target) {
                    Some((j, first)) if *j != i => {
                        if !reported.contains(&(*j, i)) {
                            reported.push((*j, i));
                            let message = format!(
                                "`files` puts both {} and {} at {}",
                                first.display(),
                                source.display(),
                                target.display()
                            );
                            self.error(
                                mapping.pos,
                                message,
                                "CodeDeploy refuses two sources for one destination; change a destination or narrow a source",
                            );
                        }
                    }
                    Some(_) => {}
                    None => {
                        targets.insert(target, (i, source));
                    }
                }
            }
        }
    }

    fn script(&mut self, hook: &Hook) {
        let Some(path) = self.inside(&hook.location) else {
            self.error(
                hook.pos,
                format!("hook script `{}` points outside the bundle", hook.location),
                "locations are relative to the bundle root",
            );
            return;
        };
        match fs::metadata(&path) {
            Err(_) => self.error(
                hook.pos,
                format!("hook script `{}` is not in the bundle", hook.location),
                "locations are relative to the bundle root; check the path and that the file is committed",
            ),
            Ok(meta) if !meta.is_file() => self.error(
                hook.pos,
                format!("hook script `{}` is not a file", hook.location),
                "point `location` at the script itself",
            ),
            Ok(meta) if meta.permissions().mode() & 0o111 == 0 => self.error(
                hook.pos,
                format!("hook script `{}` is not executable", hook.location),
                &format!("run `chmod +x {0}` and `git update-index --chmod=+x {0}`", hook.location),
            ),
            Ok(_) => {}
        }
    }

    /// The host paths `mapping` writes, each with the bundle file it comes from.
    fn mapping(&mut self, mapping: &FileMapping) -> Vec<(PathBuf, PathBuf)> {
        let Some(path) = self.inside(&mapping.source) else {
            self.error(
                mapping.pos,
                format!(
                    "`files` source `{}` points outside the bundle",
                    mapping.source
                ),
                "sources are relative to the bundle root; `/` means all of it",
            );
            return Vec::new();
        };
        let destination = Path::new(&mapping.destination);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(_) => {
                self.error(
                    mapping.pos,
                    format!("`files` source `{}` is not in the bundle", mapping.source),
                    "sources are relative to the bundle root; check the path and that it is committed",
                );
                return Vec::new();
            }
        };
        let relative = |p: &Path| p.strip_prefix(self.root).unwrap_or(p).to_owned();
        if !meta.is_dir() {
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            return vec![(destination.join(name), relative(&path))];
        }
        let mut out = Vec::new();
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                // A symlinked directory is copied as a link, not walked.
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if is_dir {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(&path) {
                    out.push((destination.join(rel), relative(&p)));
                }
            }
        }
        out
    }

    /// `location` resolved under the bundle root, or `None` if it climbs
    /// out. A leading `/` is part of a relative path to the agent.
    fn inside(&self, location: &str) -> Option<PathBuf> {
        let mut path = self.root.to_path_buf();
        let mut depth = 0usize;
        for part in Path::new(location.trim_start_matches('/')).components() {
            match part {
                Component::Normal(p) => {
                    path.push(p);
                    depth += 1;
                }
                Component::ParentDir => {
                    depth = depth.checked_sub(1)?;
                    path.pop();
                }
                _ => {}
            }
        }
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(appspec: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("appspec.yml"), appspec).unwrap();
        dir
    }

    #[test]
    fn a_missing_appspec_is_one_problem() {
        let dir = tempfile::tempdir().unwrap();
        let report = check_bundle(dir.path()).unwrap();
        assert_eq!(report.error_count(), 1);
        assert!(report.problems[0].message.contains("no appspec.yml"));
    }

    #[test]
    fn a_missing_bundle_is_an_error() {
        let err = check_bundle(Path::new("/nonexistent/bundle")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/bundle"));
    }

    #[test]
    fn climbing_out_of_the_bundle_is_refused() {
        let dir = bundle(
            "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: ../../etc/passwd\n",
        );
        let report = check_bundle(dir.path()).unwrap();
        assert!(report.problems[0].message.contains("outside the bundle"));
    }

    #[test]
    fn a_lone_top_level_directory_is_checked_as_the_agent_lifts_it() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("shop-1.4.2");
        fs::create_dir(&app).unwrap();
        fs::write(
            app.join("appspec.yml"),
            "version: 0.0\nos: linux\nhooks:\n  ApplicationStart:\n    - location: scripts/start\n",
        )
        .unwrap();
        let report = check_bundle(dir.path()).unwrap();
        let lines: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            report.appspec,
            Some(PathBuf::from("shop-1.4.2/appspec.yml"))
        );
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("shop-1.4.2/appspec.yml:5:17: error: hook script `scripts/start` is not in the bundle"),
            "{lines:?}"
        );
        fs::create_dir(app.join("scripts")).unwrap();
        fs::write(app.join("scripts/start"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(app.join("scripts/start"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_bundle(dir.path()).unwrap().problems, []);
    }

    #[test]
    fn a_leading_slash_is_relative_to_the_bundle() {
        let dir =
            bundle("version: 0.0\nos: linux\nfiles:\n  - source: /app\n    destination: /srv\n");
        fs::create_dir(dir.path().join("app")).unwrap();
        assert_eq!(check_bundle(dir.path()).unwrap().problems, []);
    }
}
