//! Install's planning step, as the agent runs it before copying anything:
//! the copies and directories `files` makes, then the paths each
//! permission reaches. Every refusal the agent raises there is found here.
//!
//! The host is taken to be fresh: only the usual top-level directories
//! exist, so the plan is what a first deployment does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::appspec::{ObjectType, Permission};
use crate::yaml::Pos;

/// Directories a fresh Linux host already has.
const HOST_DIRS: &[&str] = &[
    "/",
    "/etc",
    "/home",
    "/opt",
    "/srv",
    "/tmp",
    "/usr",
    "/usr/local",
    "/usr/local/bin",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/www",
];

/// The copies and directories of an install, in the agent's bookkeeping.
#[derive(Default)]
pub(super) struct Plan {
    copies: BTreeMap<PathBuf, PathBuf>,
    dirs: BTreeSet<PathBuf>,
    targets: BTreeMap<PathBuf, usize>,
    /// Problems: where, what, how to fix.
    pub problems: Vec<(Pos, String, String)>,
}

/// `path` with `.` and `..` resolved, as Ruby's `File.expand_path` does for
/// an absolute path.
pub(super) fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn host_has_dir(p: &Path) -> bool {
    HOST_DIRS.iter().any(|d| Path::new(d) == p)
}

impl Plan {
    /// Directories missing above `path`, made outermost first.
    pub fn ancestors(&mut self, pos: Pos, path: &Path) {
        let mut missing = Vec::new();
        let mut parent = normal(path).parent().map(Path::to_path_buf);
        while let Some(p) = parent {
            if host_has_dir(&p) || self.dirs.contains(&p) {
                break;
            }
            parent = p.parent().map(Path::to_path_buf);
            missing.push(p);
        }
        for dir in missing.into_iter().rev() {
            self.mkdir(pos, &dir);
        }
    }

    pub fn mkdir(&mut self, pos: Pos, dir: &Path) {
        let dir = normal(dir);
        if host_has_dir(&dir) {
            return;
        }
        if let Some(source) = self.copies.get(&dir) {
            self.problems.push((
                pos,
                format!(
                    "`files` copies {} to {} and also makes a directory there",
                    source.display(),
                    dir.display()
                ),
                "the agent fails Install when a file and a directory share a path; change one destination".into(),
            ));
            return;
        }
        self.dirs.insert(dir);
    }

    pub fn copy(&mut self, pos: Pos, source: &Path, destination: &Path) {
        let destination = normal(destination);
        if let Some(first) = self.copies.get(&destination) {
            let message = if first == source {
                format!(
                    "`files` copies {} to {} twice",
                    source.display(),
                    destination.display()
                )
            } else {
                format!(
                    "`files` puts both {} and {} at {}",
                    first.display(),
                    source.display(),
                    destination.display()
                )
            };
            self.problems.push((
                pos,
                message,
                "CodeDeploy refuses two sources for one destination; change a destination or narrow a source".into(),
            ));
            return;
        }
        if self.dirs.contains(&destination) {
            self.problems.push((
                pos,
                format!(
                    "`files` copies {} to {}, where it also makes a directory",
                    source.display(),
                    destination.display()
                ),
                "the agent fails Install when a file and a directory share a path; change one destination".into(),
            ));
            return;
        }
        self.copies.insert(destination, source.to_owned());
    }

    /// The paths `permission` (entry `index`) reaches, checked as the agent
    /// checks them.
    pub fn permission(&mut self, index: usize, permission: &Permission) {
        let object = normal(Path::new(&permission.object));
        let pos = permission.pos;
        let files = permission.types.contains(&ObjectType::File);
        let default_acl = permission.acls.iter().find(|a| a.default).is_some();
        if self.copies.contains_key(&object) {
            if !files {
                return;
            }
            if permission.pattern != "**" {
                self.problems.push((
                    pos,
                    format!(
                        "`pattern: {}` on {}, a copied file, fails Install",
                        permission.pattern,
                        object.display()
                    ),
                    "a permission on a file takes no pattern; remove it, or name the directory"
                        .into(),
                ));
            }
            if !permission.except.is_empty() {
                self.problems.push((
                    pos,
                    format!(
                        "`except` on {}, a copied file, fails Install",
                        object.display()
                    ),
                    "a permission on a file takes no except; remove it, or name the directory"
                        .into(),
                ));
            }
            if default_acl {
                self.default_acl(pos, &object);
            }
            self.target(index, pos, object);
            return;
        }
        if !self.dirs.contains(&object) && !host_has_dir(&object) {
            return;
        }
        let mut reached = Vec::new();
        if files {
            for file in self.copies.keys() {
                if matches(permission, &object, file) {
                    reached.push((file.clone(), true));
                }
            }
        }
        if permission.types.contains(&ObjectType::Directory) {
            for dir in &self.dirs {
                if matches(permission, &object, dir) {
                    reached.push((dir.clone(), false));
                }
            }
        }
        let mut acl_reported = false;
        for (path, is_file) in reached {
            if is_file && default_acl && !acl_reported {
                acl_reported = true;
                self.default_acl(pos, &path);
            }
            self.target(index, pos, path);
        }
    }

    fn default_acl(&mut self, pos: Pos, file: &Path) {
        self.problems.push((
            pos,
            format!("a default ACL entry (`d:`) reaches the file {}, which fails Install", file.display()),
            "default entries are for directories: add `type: [directory]`, or give the defaults an entry of their own".into(),
        ));
    }

    fn target(&mut self, index: usize, pos: Pos, path: PathBuf) {
        match self.targets.get(&path) {
            Some(first) if *first != index => {
                let first = *first;
                // One report per pair of entries is enough to act on.
                let key = PathBuf::from(format!("\0{first}:{index}"));
                if self.targets.contains_key(&key) {
                    return;
                }
                self.targets.insert(key, index);
                self.problems.push((
                    pos,
                    format!(
                        "`permissions` entries {} and {} both reach {}, which fails Install",
                        first + 1,
                        index + 1,
                        path.display()
                    ),
                    "the agent sets each path from one entry only; narrow one so they do not overlap (`except` excludes direct children only)".into(),
                ));
            }
            Some(_) => {}
            None => {
                self.targets.insert(path, index);
            }
        }
    }
}

/// Whether `path` is below `object` and matches the entry's pattern and
/// not its excepts: `**` is everything below, any other pattern a `*` glob
/// of a direct child's name.
fn matches(permission: &Permission, object: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(object) else {
        return false;
    };
    let rel = rel.to_string_lossy();
    if rel.is_empty() {
        return false;
    }
    let included =
        permission.pattern == "**" || (!rel.contains('/') && glob(&permission.pattern, &rel));
    let excluded = !rel.contains('/') && permission.except.iter().any(|e| glob(e, &rel));
    included && !excluded
}

/// A glob where only `*` is special.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_with_stars_only() {
        assert!(glob("*.py", "app.py"));
        assert!(glob("*", "x"));
        assert!(!glob("*.py", "app.pyc"));
        assert!(glob("a*b*c", "aXXbYc"));
        assert!(!glob("?", "a"));
    }
}
