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
    /// The official `<group>-install.json` text.
    pub fn to_json(&self) -> String {
        let list: Vec<Value> = self
            .instructions
            .iter()
            .map(Instruction::to_value)
            .collect();
        json!({ "instructions": list }).to_string()
    }
}
