//! Checks a bundle's appspec against the bundle's own tree: what CodeDeploy
//! would refuse, found before the deploy instead of on a host.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

mod plan;

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
    check_bundle_named(dir, None)
}

/// As [`check_bundle`], for a deployment whose `AppSpecFilename` is
/// `appspec_filename` (CodeDeploy's default is `appspec.yml`).
pub fn check_bundle_named(dir: &Path, appspec_filename: Option<&str>) -> Result<Report> {
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
    let named = appspec_filename.unwrap_or(appspec::APPSPEC_NAMES[0]);
    let found = match appspec_filename {
        Some(name) if root.join(name).is_file() => Some(appspec::Located {
            name: PathBuf::from(name),
            shadowed: None,
        }),
        _ => appspec::locate(&root),
    };
    let Some(mut found) = found else {
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
    if !root.join(named).is_file() {
        report.problems.push(
            Problem::error(
                &found.name,
                Pos::default(),
                format!(
                    "the bundle has no {named}: Install reads this file, but each hook step reads only {named} and fails"
                ),
            )
            .with_hint(format!(
                "rename this file {named}, or name it in the deployment (`--appspec-filename {0}`, or the action's appspec-filename input)",
                found.name.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
            )),
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

    fn warning(&mut self, pos: Pos, message: String, hint: &str) {
        self.problems
            .push(Problem::warning(self.file, pos, message).with_hint(hint));
    }

    fn check(&mut self, spec: &AppSpec) {
        for event in &spec.hooks {
            for hook in &event.scripts {
                self.script(hook);
            }
        }
        let mut plan = plan::Plan::default();
        for mapping in &spec.files {
            self.mapping(&mut plan, mapping);
        }
        for (i, permission) in spec.permissions.iter().enumerate() {
            plan.permission(i, permission);
        }
        for (pos, message, hint) in std::mem::take(&mut plan.problems) {
            self.error(pos, message, &hint);
        }
    }

    fn script(&mut self, hook: &Hook) {
        let path = match self.inside(&hook.location, true) {
            Ok(path) => path,
            Err(outside) => {
                self.error(
                    hook.pos,
                    format!("hook script `{}` points outside the bundle{outside}", hook.location),
                    "locations are relative to the bundle root; a script must be a file in the bundle",
                );
                return;
            }
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
            Ok(meta) => {
                if meta.permissions().mode() & 0o111 == 0 {
                    self.warning(
                        hook.pos,
                        format!("hook script `{}` is not executable: the agent makes it executable before running it", hook.location),
                        &format!("run `chmod +x {0}` and `git update-index --chmod=+x {0}`", hook.location),
                    );
                }
                self.shebang(hook, &path);
            }
        }
    }

    /// A shebang ending in CR names an interpreter such as `bash\r`, which
    /// does not exist: the script fails on the host with "not found".
    fn shebang(&mut self, hook: &Hook, path: &Path) {
        let Ok(file) = fs::File::open(path) else {
            self.error(
                hook.pos,
                format!("cannot read hook script `{}`", hook.location),
                "check the file's permissions",
            );
            return;
        };
        let mut head = Vec::new();
        if file.take(512).read_to_end(&mut head).is_err() {
            return;
        }
        let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
        if line.starts_with(b"#!") && line.ends_with(b"\r") {
            self.error(
                hook.pos,
                format!(
                    "the shebang line of hook script `{}` ends in CR (Windows line endings): the host looks for an interpreter whose name ends in CR and fails",
                    hook.location
                ),
                "convert the file to LF line endings, and add `* text eol=lf` for scripts to .gitattributes",
            );
        }
    }

    /// Plans the copies of `mapping` as the agent does.
    fn mapping(&mut self, plan: &mut plan::Plan, mapping: &FileMapping) {
        let path = match self.inside(&mapping.source, false) {
            Ok(path) => path,
            Err(outside) => {
                self.error(
                    mapping.pos,
                    format!(
                        "`files` source `{}` points outside the bundle{outside}",
                        mapping.source
                    ),
                    "sources are relative to the bundle root; `/` means all of it",
                );
                return;
            }
        };
        let destination = Path::new(&mapping.destination);
        if fs::symlink_metadata(&path).is_err() {
            self.error(
                mapping.pos,
                format!("`files` source `{}` is not in the bundle", mapping.source),
                "sources are relative to the bundle root; check the path and that it is committed",
            );
            return;
        }
        let relative = |p: &Path| p.strip_prefix(self.root).unwrap_or(p).to_owned();
        // The agent asks `File.directory?`, which follows a symlink.
        if !path.is_dir() {
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            let target = destination.join(name);
            plan.ancestors(mapping.pos, &target);
            plan.copy(mapping.pos, &relative(&path), &target);
            return;
        }
        plan.ancestors(mapping.pos, destination);
        self.copy_dir(plan, mapping, &path, destination, 0);
    }

    fn copy_dir(
        &mut self,
        plan: &mut plan::Plan,
        mapping: &FileMapping,
        dir: &Path,
        destination: &Path,
        depth: usize,
    ) {
        plan.mkdir(mapping.pos, destination);
        let relative = dir.strip_prefix(self.root).unwrap_or(dir).to_owned();
        if depth > 64 {
            self.error(
                mapping.pos,
                format!(
                    "`files` source `{}` loops through a symlink at {}",
                    mapping.source,
                    relative.display()
                ),
                "the agent follows symlinked directories while copying; break the loop",
            );
            return;
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.error(
                    mapping.pos,
                    format!("cannot read {} in the bundle: {e}", relative.display()),
                    "the agent copies everything under a source; make the directory readable",
                );
                return;
            }
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().map(PathBuf::from).unwrap_or_default();
            let target = destination.join(&name);
            let is_link = fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
            if is_link && p.is_dir() {
                // The agent walks a symlinked directory as its own: it must
                // stay inside the bundle.
                if let Err(outside) = self.confined(&p) {
                    self.error(
                        mapping.pos,
                        format!("`files` source `{}` reaches outside the bundle{outside}", mapping.source),
                        "the agent copies what a symlinked directory points to; replace the link with the files",
                    );
                    continue;
                }
            }
            if p.is_dir() {
                self.copy_dir(plan, mapping, &p, &target, depth + 1);
            } else {
                let rel = p.strip_prefix(self.root).unwrap_or(&p).to_owned();
                plan.copy(mapping.pos, &rel, &target);
            }
        }
    }

    /// Whether `path`, with every symlink resolved, is inside the bundle;
    /// the error names where it leads.
    fn confined(&self, path: &Path) -> std::result::Result<(), String> {
        let root = fs::canonicalize(self.root).unwrap_or_else(|_| self.root.to_owned());
        match fs::canonicalize(path) {
            Ok(real) if real.starts_with(&root) => Ok(()),
            Ok(real) => {
                // Name the link as written, which is what the writer can
                // fix, rather than where the host's own links lead.
                let link = path
                    .ancestors()
                    .take_while(|p| p.starts_with(self.root) && *p != self.root)
                    .find_map(|p| fs::read_link(p).ok().map(|t| (p.to_owned(), t)));
                Err(match link {
                    Some((at, to)) => format!(
                        " ({} is a symlink to {})",
                        at.strip_prefix(self.root).unwrap_or(&at).display(),
                        to.display()
                    ),
                    None => format!(" (through a symlink, to {})", real.display()),
                })
            }
            // Missing: reported by the caller as not in the bundle.
            Err(_) => Ok(()),
        }
    }

    /// `location` resolved under the bundle root, or why it is outside.
    /// `follows_link`: the agent follows a final symlink (hooks run what
    /// it points to; `files` copies a link to a file as a link).
    /// climbing above the root with `..`, or a symlink on the way that
    /// leads out. A leading `/` is part of a relative path to the agent.
    fn inside(&self, location: &str, follows_link: bool) -> std::result::Result<PathBuf, String> {
        let mut path = self.root.to_path_buf();
        let mut depth = 0usize;
        for part in Path::new(location.trim_start_matches('/')).components() {
            match part {
                Component::Normal(p) => {
                    path.push(p);
                    depth += 1;
                }
                Component::ParentDir => {
                    depth = depth.checked_sub(1).ok_or_else(String::new)?;
                    path.pop();
                }
                _ => {}
            }
        }
        // A `files` source that is itself a link to a file is copied as a
        // link; anything else is followed by the agent, so must stay in.
        let link_to_file = !follows_link
            && fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
            && !path.is_dir();
        let checked = if link_to_file {
            path.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| path.clone())
        } else {
            path.clone()
        };
        self.confined(&checked)?;
        Ok(path)
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
    fn a_hook_symlinked_out_of_the_bundle_is_refused() {
        let dir = bundle(
            "version: 0.0\nos: linux\nhooks:\n  ApplicationStart:\n    - location: scripts/start\n",
        );
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("start");
        fs::write(&target, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(dir.path().join("scripts")).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("scripts/start")).unwrap();
        let report = check_bundle(dir.path()).unwrap();
        assert_eq!(report.error_count(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0]
                .message
                .contains("points outside the bundle (scripts/start is a symlink to "),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_symlinked_directory_inside_the_bundle_is_walked_as_the_agent_walks_it() {
        let dir = bundle(
            "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /srv/a\n  - source: app/static\n    destination: /srv/a/assets\n",
        );
        fs::create_dir_all(dir.path().join("app/static")).unwrap();
        fs::write(dir.path().join("app/static/site.css"), "").unwrap();
        std::os::unix::fs::symlink("static", dir.path().join("app/assets")).unwrap();
        let report = check_bundle(dir.path()).unwrap();
        assert_eq!(report.error_count(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0]
                .message
                .contains("/srv/a/assets/site.css")
        );
    }

    #[test]
    fn an_unreadable_directory_is_reported_not_skipped() {
        let dir =
            bundle("version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /srv\n");
        let locked = dir.path().join("app/locked");
        fs::create_dir_all(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        let readable_anyway = fs::read_dir(&locked).is_ok();
        let report = check_bundle(dir.path()).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        if readable_anyway {
            // Running as root: nothing is unreadable, and nothing is reported.
            assert_eq!(report.error_count(), 0, "{:?}", report.problems);
            return;
        }
        assert_eq!(report.error_count(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0]
                .message
                .contains("cannot read app/locked")
        );
    }

    #[test]
    fn a_leading_slash_is_relative_to_the_bundle() {
        let dir =
            bundle("version: 0.0\nos: linux\nfiles:\n  - source: /app\n    destination: /srv\n");
        fs::create_dir(dir.path().join("app")).unwrap();
        assert_eq!(check_bundle(dir.path()).unwrap().problems, []);
    }
}
