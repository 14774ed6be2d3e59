//! Turning an appspec's `files` and `permissions` into instructions, as the
//! official installer does: a file source lands *inside* its destination
//! directory, missing ancestors are created and recorded, and a destination
//! that already exists (the group's own files were just cleaned up, so it is
//! someone else's) is refused, skipped or overwritten by the behaviour.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use slipway_shared::appspec::values::AceKind;
use slipway_shared::appspec::{AppSpec, FileExistsBehavior, ObjectType, Permission};

use super::instructions::{Instruction, Plan};
use crate::{Error, Result};

struct Builder {
    plan: Plan,
    /// destination → source, for the two-sources check and permissions.
    copies: BTreeMap<PathBuf, PathBuf>,
    mkdirs: HashSet<PathBuf>,
    behavior: FileExistsBehavior,
}

/// The plan for installing the revision at `archive` as `appspec` says.
pub fn plan(archive: &Path, appspec: &AppSpec, behavior: FileExistsBehavior) -> Result<Plan> {
    let mut b = Builder {
        plan: Plan::default(),
        copies: BTreeMap::new(),
        mkdirs: HashSet::new(),
        behavior,
    };
    for mapping in &appspec.files {
        let source = archive.join(mapping.source.trim_start_matches('/'));
        let destination = PathBuf::from(&mapping.destination);
        let meta = std::fs::symlink_metadata(&source).map_err(|_| {
            Error::Install(format!(
                "the appspec's files source {} (line {}) is not in the revision",
                mapping.source, mapping.pos.line
            ))
        })?;
        if meta.is_dir() {
            b.missing_ancestors(&destination)?;
            b.directory(&source, &destination)?;
        } else {
            let name = source.file_name().unwrap_or_default();
            let target = destination.join(name);
            b.missing_ancestors(&target)?;
            b.copy(&source, &target)?;
        }
    }
    for permission in &appspec.permissions {
        b.permission(permission)?;
    }
    Ok(b.plan)
}

impl Builder {
    fn missing_ancestors(&mut self, path: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut parent = path.parent();
        while let Some(dir) = parent {
            if dir.as_os_str().is_empty() || dir == Path::new("/") || dir.exists() {
                break;
            }
            missing.push(dir.to_owned());
            parent = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            self.mkdir(&dir)?;
        }
        Ok(())
    }

    fn mkdir(&mut self, dir: &Path) -> Result<()> {
        if self.copies.contains_key(dir) {
            return Err(Error::Install(format!(
                "the directory {} is also a file destination",
                dir.display()
            )));
        }
        if self.mkdirs.insert(dir.to_owned()) {
            self.plan.instructions.push(Instruction::Mkdir {
                directory: dir.to_owned(),
            });
        }
        Ok(())
    }

    fn directory(&mut self, source: &Path, destination: &Path) -> Result<()> {
        if !destination.is_dir() {
            self.mkdir(destination)?;
        }
        let mut entries: Vec<_> = std::fs::read_dir(source)
            .map_err(Error::io("read", source))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let from = entry.path();
            let to = destination.join(entry.file_name());
            let ft = entry.file_type().map_err(Error::io("read", &from))?;
            if ft.is_dir() && !ft.is_symlink() {
                self.directory(&from, &to)?;
            } else {
                self.copy(&from, &to)?;
            }
        }
        Ok(())
    }

    fn copy(&mut self, source: &Path, destination: &Path) -> Result<()> {
        if std::fs::symlink_metadata(destination).is_ok() {
            match self.behavior {
                FileExistsBehavior::Disallow => {
                    return Err(Error::Install(format!(
                        "The deployment failed because a specified file already exists at this location: {}",
                        destination.display()
                    )));
                }
                FileExistsBehavior::Retain => return Ok(()),
                FileExistsBehavior::Overwrite => {}
            }
        }
        if let Some(other) = self.copies.get(destination) {
            return Err(Error::Install(format!(
                "The deployment failed because the application specification file specifies two source files named {} and {} for the same destination ({})",
                source.display(),
                other.display(),
                destination.display()
            )));
        }
        if self.mkdirs.contains(destination) {
            return Err(Error::Install(format!(
                "the file destination {} is also a directory to create",
                destination.display()
            )));
        }
        self.copies
            .insert(destination.to_owned(), source.to_owned());
        self.plan.instructions.push(Instruction::Copy {
            source: source.to_owned(),
            destination: destination.to_owned(),
        });
        Ok(())
    }

    fn permission(&mut self, permission: &Permission) -> Result<()> {
        let object = PathBuf::from(permission.object.trim_end_matches('/'));
        let wants = |t: ObjectType| permission.types.is_empty() || permission.types.contains(&t);
        if self.copies.contains_key(&object) && wants(ObjectType::File) {
            if permission.pattern != "**" || !permission.except.is_empty() {
                return Err(Error::Install(format!(
                    "permissions (line {}): {} is a file, so its pattern must be ** and except empty",
                    permission.pos.line,
                    object.display()
                )));
            }
            self.set(&object, permission);
            return Ok(());
        }
        let mut matches: Vec<PathBuf> = self
            .copies
            .keys()
            .map(|p| (p.clone(), ObjectType::File))
            .chain(
                self.mkdirs
                    .iter()
                    .map(|p| (p.clone(), ObjectType::Directory)),
            )
            .filter(|(p, t)| wants(*t) && matches(permission, &object, p))
            .map(|(p, _)| p)
            .collect();
        matches.sort();
        for path in matches {
            self.set(&path, permission);
        }
        Ok(())
    }

    /// chmod, setfacl, SELinux, chown: the official order.
    fn set(&mut self, file: &Path, permission: &Permission) {
        let file = file.to_owned();
        if let Some(mode) = &permission.mode {
            self.plan.instructions.push(Instruction::Chmod {
                mode: mode.to_string(),
                file: file.clone(),
            });
        }
        if !permission.acls.is_empty() {
            let acl = permission.acls.iter().map(ace_text).collect();
            self.plan.instructions.push(Instruction::Setfacl {
                acl,
                file: file.clone(),
            });
        }
        if let Some(context) = &permission.context {
            self.plan.instructions.push(Instruction::Semanage {
                user: context.name.clone(),
                kind: context.kind.clone(),
                range: context.range.as_ref().map(|r| r.to_string()),
                file: file.clone(),
            });
        }
        if permission.owner.is_some() || permission.group.is_some() {
            self.plan.instructions.push(Instruction::Chown {
                owner: permission.owner.clone(),
                group: permission.group.clone(),
                file,
            });
        }
    }
}

/// Whether `target` is below `object` and matches the permission's pattern
/// and none of its excepts. A glob other than `**` knows only `*` and
/// matches direct children.
fn matches(permission: &Permission, object: &Path, target: &Path) -> bool {
    let Ok(rel) = target.strip_prefix(object) else {
        return false;
    };
    let rel = rel.to_string_lossy();
    if rel.is_empty() {
        return false;
    }
    let pattern_ok =
        permission.pattern == "**" || (!rel.contains('/') && glob(&permission.pattern, &rel));
    pattern_ok && !permission.except.iter().any(|e| glob(e, &rel))
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

fn ace_text(ace: &slipway_shared::appspec::Ace) -> String {
    let kind = match ace.kind {
        AceKind::User => "u",
        AceKind::Group => "g",
        AceKind::Mask => "m",
        AceKind::Other => "o",
    };
    let perms: String = [(ace.read, 'r'), (ace.write, 'w'), (ace.execute, 'x')]
        .iter()
        .map(|(on, c)| if *on { *c } else { '-' })
        .collect();
    let default = if ace.default { "d:" } else { "" };
    format!("{default}{kind}:{}:{perms}", ace.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_know_only_star() {
        assert!(glob("*.py", "app.py"));
        assert!(glob("*", "x"));
        assert!(!glob("*.py", "app.pyc"));
        assert!(glob("a*b*c", "aXXbYc"));
    }

    #[test]
    fn an_ace_is_written_back_in_setfacl_syntax() {
        let ace = slipway_shared::appspec::Ace::parse("d:g:web:5").unwrap();
        assert_eq!(ace_text(&ace), "d:g:web:r-x");
    }
}
