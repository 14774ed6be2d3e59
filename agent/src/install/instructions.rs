//! The install instructions, in the shape the official agent writes to
//! `<group>-install.json`: `{"instructions":[{"type":"copy",…}, …]}`.

use std::path::PathBuf;

use serde_json::{Value, json};

/// One step of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// Copy a file or symlink from the archive.
    Copy {
        /// In the archive.
        source: PathBuf,
        /// On the host.
        destination: PathBuf,
    },
    /// Create a directory.
    Mkdir {
        /// The directory.
        directory: PathBuf,
    },
    /// Set a mode.
    Chmod {
        /// Octal digits.
        mode: String,
        /// The object.
        file: PathBuf,
    },
    /// Set the owner and group.
    Chown {
        /// The user.
        owner: Option<String>,
        /// The group.
        group: Option<String>,
        /// The object.
        file: PathBuf,
    },
    /// `setfacl --set`.
    Setfacl {
        /// The entries beyond the base ones.
        acl: Vec<String>,
        /// The object.
        file: PathBuf,
    },
    /// `semanage fcontext -a` and `restorecon`.
    Semanage {
        /// The SELinux user.
        user: Option<String>,
        /// The type.
        kind: String,
        /// The range.
        range: Option<String>,
        /// The object.
        file: PathBuf,
    },
}

impl Instruction {
    fn to_value(&self) -> Value {
        let p = |p: &PathBuf| p.to_string_lossy().into_owned();
        match self {
            Instruction::Copy {
                source,
                destination,
            } => {
                json!({"type": "copy", "source": p(source), "destination": p(destination)})
            }
            Instruction::Mkdir { directory } => json!({"type": "mkdir", "directory": p(directory)}),
            Instruction::Chmod { mode, file } => {
                json!({"type": "chmod", "mode": mode, "file": p(file)})
            }
            Instruction::Chown { owner, group, file } => {
                json!({"type": "chown", "owner": owner, "group": group, "file": p(file)})
            }
            Instruction::Setfacl { acl, file } => {
                json!({"type": "setfacl", "acl": acl, "file": p(file)})
            }
            Instruction::Semanage {
                user,
                kind,
                range,
                file,
            } => json!({
                "type": "semanage",
                "context": {"user": user, "role": null, "type": kind, "range": range},
                "file": p(file),
            }),
        }
    }
}

/// The instructions of one install, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// What to do.
    pub instructions: Vec<Instruction>,
}

impl Plan {
    /// Writes the official `<group>-install.json` text to `out`, one
    /// instruction at a time: a plan of 20,000 files never exists as one
    /// JSON tree in memory.
    pub fn write_json(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(br#"{"instructions":["#)?;
        for (i, instruction) in self.instructions.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &instruction.to_value())?;
        }
        out.write_all(b"]}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_is_the_official_shape() {
        let plan = Plan {
            instructions: vec![
                Instruction::Mkdir {
                    directory: "/srv/app".into(),
                },
                Instruction::Copy {
                    source: "/a/x".into(),
                    destination: "/srv/app/x".into(),
                },
            ],
        };
        let mut out = Vec::new();
        plan.write_json(&mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["instructions"][0],
            json!({"type": "mkdir", "directory": "/srv/app"})
        );
        assert_eq!(v["instructions"][1]["destination"], "/srv/app/x");
    }
}
