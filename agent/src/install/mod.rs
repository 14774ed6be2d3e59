//! Install, with the official agent's semantics: replay the group's previous
//! cleanup file, plan the copies (refusing collisions as the
//! `file_exists_behavior` says), write the plan as `<group>-install.json`,
//! then carry it out, recording each created path in `<group>-cleanup`
//! before creating it.
//!
//! # Layout
//! - [`instructions`]: the instruction list and its official JSON.
//! - [`plan`]: appspec `files` and `permissions` → instructions.
//! - [`apply`]: carrying instructions out (copy, mkdir, chmod, setfacl, SELinux, chown).
//! - [`cleanup`]: the cleanup file, written and replayed.

pub mod apply;
pub mod cleanup;
pub mod instructions;
pub mod plan;

use std::path::Path;

use slipway_shared::appspec::{AppSpec, FileExistsBehavior};

use crate::state::Layout;
use crate::{Error, Result};

/// Installs the revision unpacked at `archive_dir` for deployment group
/// `group_id`. The appspec's `file_exists_behavior` beats `deployment_behavior`.
pub fn install(
    layout: &Layout,
    group_id: &str,
    archive_dir: &Path,
    appspec: &AppSpec,
    deployment_behavior: FileExistsBehavior,
) -> Result<()> {
    let dir = layout.instructions_dir();
    std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    let cleanup_file = layout.cleanup_file(group_id);
    cleanup::replay(&cleanup_file)?;
    let behavior = appspec.file_exists_behavior.unwrap_or(deployment_behavior);
    let plan = plan::plan(archive_dir, appspec, behavior)?;
    let json = layout.install_file(group_id);
    let file = std::fs::File::create(&json).map_err(Error::io("create", &json))?;
    let mut writer = std::io::BufWriter::new(file);
    plan.write_json(&mut writer)
        .and_then(|()| std::io::Write::flush(&mut writer))
        .map_err(Error::io("write", &json))?;
    apply::apply(&plan, &cleanup_file)
}
