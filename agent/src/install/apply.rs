//! Carrying out an install plan. Each created path goes into the cleanup
//! file before it is created, so a crash mid-install still leaves a cleanup
//! file that removes everything this install made.

use std::ffi::CString;
use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use filetime::FileTime;

use super::cleanup::{self, Writer};
use super::instructions::{Instruction, Plan};
use crate::{Error, Result};

/// Runs `plan`, writing the new cleanup file at `cleanup_file`.
pub fn apply(plan: &Plan, cleanup_file: &Path) -> Result<()> {
    let mut cleanup = Writer::create(cleanup_file)?;
    for instruction in &plan.instructions {
        match instruction {
            Instruction::Mkdir { directory } => {
                cleanup.record(&directory.to_string_lossy())?;
                std::fs::create_dir(directory).map_err(Error::io("create", directory))?;
            }
            Instruction::Copy {
                source,
                destination,
            } => {
                cleanup.record(&destination.to_string_lossy())?;
                copy(source, destination)?;
            }
            Instruction::Chmod { mode, file } => {
                let bits = u32::from_str_radix(mode, 8).unwrap_or(0o644);
                std::fs::set_permissions(file, Permissions::from_mode(bits))
                    .map_err(Error::io("chmod", file))?;
            }
            Instruction::Setfacl { acl, file } => setfacl(acl, file)?,
            Instruction::Semanage {
                user,
                kind,
                range,
                file,
            } => {
                // As the official agent: no check for SELinux first, so a
                // context on a host without it fails Install, naming the
                // command; the rule is recorded once it is in place.
                let object = std::fs::canonicalize(file).map_err(Error::io("resolve", file))?;
                context(user.as_deref(), kind, range.as_deref(), &object)?;
                cleanup.record(&format!(
                    "{}{}",
                    cleanup::SEMANAGE_PREFIX,
                    object.to_string_lossy()
                ))?;
            }
            Instruction::Chown { owner, group, file } => {
                chown(owner.as_deref(), group.as_deref(), file)?
            }
        }
    }
    Ok(())
}

/// Copies a file with its mode and mtime (and owner, when we may), or
/// recreates a symlink; under OVERWRITE whatever was there goes first.
fn copy(source: &Path, destination: &Path) -> Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(destination) {
        if meta.is_dir() {
            return Err(Error::Install(format!(
                "cannot overwrite the directory {} with a file",
                destination.display()
            )));
        }
        std::fs::remove_file(destination).map_err(Error::io("replace", destination))?;
    }
    let meta = std::fs::symlink_metadata(source).map_err(Error::io("read", source))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(source).map_err(Error::io("read", source))?;
        std::os::unix::fs::symlink(target, destination)
            .map_err(Error::io("create", destination))?;
        return Ok(());
    }
    std::fs::copy(source, destination).map_err(Error::io("copy to", destination))?;
    let mtime = FileTime::from_last_modification_time(&meta);
    filetime::set_file_mtime(destination, mtime)
        .map_err(Error::io("set the mtime of", destination))?;
    use std::os::unix::fs::MetadataExt;
    if is_root() {
        std::os::unix::fs::lchown(destination, Some(meta.uid()), Some(meta.gid()))
            .map_err(Error::io("chown", destination))?;
        // chown clears setuid/setgid bits; put the mode back.
        std::fs::set_permissions(destination, meta.permissions())
            .map_err(Error::io("chmod", destination))?;
    }
    Ok(())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn permission_error(file: &Path, reason: String) -> Error {
    Error::Permission {
        path: file.to_owned(),
        reason,
    }
}

/// `setfacl --set`, with the base entries filled in from the current mode
/// as the official agent does, so the mode set just before is kept.
fn setfacl(acl: &[String], file: &Path) -> Result<()> {
    let mode = std::fs::metadata(file)
        .map_err(Error::io("read", file))?
        .permissions()
        .mode();
    let rwx = |bits: u32| {
        format!(
            "{}{}{}",
            if bits & 4 != 0 { 'r' } else { '-' },
            if bits & 2 != 0 { 'w' } else { '-' },
            if bits & 1 != 0 { 'x' } else { '-' }
        )
    };
    let mut entries = vec![
        format!("u::{}", rwx(mode >> 6)),
        format!("g::{}", rwx(mode >> 3)),
        format!("o::{}", rwx(mode)),
    ];
    // The mask is a base entry too once named entries exist: filled from
    // the group bits it keeps the mode chmod just set.
    let named = acl
        .iter()
        .any(|e| !e.starts_with("d:") && e.split(':').nth(1).is_some_and(|n| !n.is_empty()));
    let has_mask = acl.iter().any(|e| e.starts_with("m:"));
    if named && !has_mask {
        entries.push(format!("m::{}", rwx(mode >> 3)));
    }
    entries.extend(acl.iter().cloned());
    let output = Command::new("setfacl")
        .arg("--set")
        .arg(entries.join(","))
        .arg(file)
        .output()
        .map_err(|e| {
            permission_error(
                file,
                format!("cannot run setfacl (install the acl package): {e}"),
            )
        })?;
    if !output.status.success() {
        return Err(permission_error(
            file,
            format!(
                "setfacl failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    Ok(())
}

/// `semanage fcontext -a` then `restorecon -v` on `object`, with the
/// official agent's argument order (it shows the command in its error).
fn context(user: Option<&str>, kind: &str, range: Option<&str>, object: &Path) -> Result<()> {
    let mut args = vec!["fcontext", "-a"];
    if let Some(user) = user {
        args.extend(["-s", user]);
    }
    args.extend(["-t", kind]);
    if let Some(range) = range {
        args.extend(["-r", range]);
    }
    let object = object.to_string_lossy();
    args.push(&object);
    run_context_command("semanage", &args)?;
    run_context_command("restorecon", &["-v", &object])
}

fn run_context_command(program: &str, args: &[&str]) -> Result<()> {
    let failed = |status: String| Error::Context {
        command: format!("{program} {}", args.join(" ")),
        status,
    };
    let child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let child = match child {
        Ok(child) => child,
        // What the official agent's shell reports for a missing command.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(failed(format!("127 (no {program} on PATH)")));
        }
        Err(e) => return Err(failed(format!("none (cannot run {program}: {e})"))),
    };
    let pid = child.id();
    let out = child
        .wait_with_output()
        .map_err(|e| failed(format!("none (cannot wait for {program}: {e})")))?;
    if out.status.success() {
        return Ok(());
    }
    let mut status = match (out.status.code(), out.status.signal()) {
        (Some(code), _) => format!("pid {pid} exit {code}"),
        (None, Some(signal)) => format!("pid {pid} signal {signal}"),
        _ => format!("pid {pid} {}", out.status),
    };
    // The official agent leaves the reason on its own stdout; ours goes
    // with the error, where the operator reads it.
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(reason) = stderr.lines().rev().find(|l| !l.trim().is_empty()) {
        status.push_str(&format!(" ({})", reason.trim()));
    }
    Err(failed(status))
}

fn chown(owner: Option<&str>, group: Option<&str>, file: &Path) -> Result<()> {
    let uid = owner
        .map(|name| {
            lookup_user(name).ok_or_else(|| permission_error(file, format!("no user named {name}")))
        })
        .transpose()?;
    let gid = group
        .map(|name| {
            lookup_group(name)
                .ok_or_else(|| permission_error(file, format!("no group named {name}")))
        })
        .transpose()?;
    std::os::unix::fs::lchown(file, uid, gid).map_err(Error::io("chown", file))
}

/// The uid of the user `name`.
pub fn lookup_user(name: &str) -> Option<u32> {
    crate::hooks::runas::User::lookup(name)
        .ok()
        .flatten()
        .map(|u| u.uid)
}

fn lookup_group(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: getgrnam_r writes only into grp and buf, whose sizes we pass.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}
