//! The appspec of an EC2/on-premises deployment, read as CodeDeploy reads it.
//!
//! # Layout
//! - [`read`]: YAML text to [`AppSpec`], collecting every problem; split into
//!   the top level, `files`, `permissions`, `hooks` and typo suggestions.
//! - [`values`]: the small languages inside permissions (mode, ACL, SELinux range).
//! - [`locate`]: which file in a bundle is the appspec.

pub mod locate;
pub mod read;
pub mod values;

use std::fmt;

use crate::lifecycle::LifecycleEvent;
use crate::yaml::Pos;

pub use locate::{APPSPEC_NAMES, Located, bundle_root, locate};
pub use read::{Parsed, parse};
pub use values::{Ace, Mode, SelinuxRange};

/// The agent's default, and the documented limit, for one event's scripts.
pub const MAX_EVENT_TIMEOUT_SECS: u64 = 3600;

/// A whole appspec.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    /// The platform the revision targets.
    pub os: Os,
    /// What to copy where, in order.
    pub files: Vec<FileMapping>,
    /// What Install does with a file this deployment group did not put
    /// there; beats the deployment's own setting.
    pub file_exists_behavior: Option<FileExistsBehavior>,
    /// Ownership and modes for what Install created.
    pub permissions: Vec<Permission>,
    /// Scripts per lifecycle event, in source order.
    pub hooks: Vec<EventHooks>,
}

impl AppSpec {
    /// The scripts for `event`, if the appspec has any.
    pub fn hooks_for(&self, event: LifecycleEvent) -> &[Hook] {
        self.hooks
            .iter()
            .find(|h| h.event == event)
            .map(|h| h.scripts.as_slice())
            .unwrap_or_default()
    }
}

/// The `os` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// `linux`
    Linux,
    /// `windows`
    Windows,
}

/// One entry of `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    /// Relative to the bundle root; `/` means all of it.
    pub source: String,
    /// A directory on the host: a file source lands inside it.
    pub destination: String,
    /// Where the entry stands.
    pub pos: Pos,
}

/// The `file_exists_behavior` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileExistsBehavior {
    /// Fail the deployment.
    Disallow,
    /// Replace the file.
    Overwrite,
    /// Keep the file that is there.
    Retain,
}

impl FileExistsBehavior {
    /// Every behaviour, by its appspec name.
    pub const ALL: [(&'static str, FileExistsBehavior); 3] = [
        ("DISALLOW", FileExistsBehavior::Disallow),
        ("OVERWRITE", FileExistsBehavior::Overwrite),
        ("RETAIN", FileExistsBehavior::Retain),
    ];

    /// The appspec and API name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, b)| *b == self)
            .map(|(n, _)| *n)
            .unwrap_or("DISALLOW")
    }
}

impl fmt::Display for FileExistsBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a permission applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// Regular files.
    File,
    /// Directories.
    Directory,
}

/// One entry of `permissions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// A path on the host.
    pub object: String,
    /// `**` (everything below) or a `*` glob of direct children.
    pub pattern: String,
    /// Globs to leave alone.
    pub except: Vec<String>,
    /// Which kinds of object; both when not given.
    pub types: Vec<ObjectType>,
    /// The owning user.
    pub owner: Option<String>,
    /// The owning group.
    pub group: Option<String>,
    /// The mode, as octal digits.
    pub mode: Option<Mode>,
    /// ACL entries, applied with `setfacl --set`.
    pub acls: Vec<Ace>,
    /// The SELinux context.
    pub context: Option<Context>,
    /// Where the entry stands.
    pub pos: Pos,
}

/// A permission's SELinux context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The SELinux user (the key is `name`).
    pub name: Option<String>,
    /// The type; required.
    pub kind: String,
    /// The MLS/MCS range.
    pub range: Option<SelinuxRange>,
}

/// The scripts of one lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHooks {
    /// The event.
    pub event: LifecycleEvent,
    /// Where the event's key stands.
    pub pos: Pos,
    /// Its scripts, run in order.
    pub scripts: Vec<Hook>,
}

/// One script of a lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The script, relative to the bundle root.
    pub location: String,
    /// Seconds before the agent kills it.
    pub timeout_secs: u64,
    /// Whether the timeout was written or defaulted.
    pub timeout_given: bool,
    /// The user the script runs as (`su USER -c`).
    pub runas: Option<String>,
    /// Whether the script runs under `sudo`.
    pub sudo: bool,
    /// Where `location` stands.
    pub pos: Pos,
}
