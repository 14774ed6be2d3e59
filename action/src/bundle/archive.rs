//! Entries to archive bytes, normalised so the same commit always gives the
//! same bytes: mtime the commit time, uid/gid 0, no user or group names,
//! modes 0644/0755 (0777 for links), entries in path order.

use std::io::{Seek, Write};

use git2::Repository;

use super::tree::{Entry, Kind};
use crate::deploy::error::{DeployError, Result};

const FILE_MODE: u32 = 0o644;
const EXEC_MODE: u32 = 0o755;
const DIR_MODE: u32 = 0o755;
const LINK_MODE: u32 = 0o777;

fn read_blob<'r>(repos: &'r [Repository], entry: &Entry) -> Result<Option<git2::Blob<'r>>> {
    let Kind::File { repo, oid, .. } = &entry.kind else {
        return Ok(None);
    };
    repos[*repo]
        .find_blob(*oid)
        .map(Some)
        .map_err(|source| DeployError::ReadTree { source })
}

fn write_error(source: std::io::Error) -> DeployError {
    DeployError::WriteBundle { source }
}

/// Writes a tar archive of `entries` to `out`.
pub fn tar<W: Write>(out: W, entries: &[Entry], repos: &[Repository], mtime: i64) -> Result<W> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    let mtime = mtime.max(0) as u64;
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(DIR_MODE);
                header.set_size(0);
                builder
                    .append_data(&mut header, format!("{}/", entry.path), std::io::empty())
                    .map_err(write_error)?;
            }
            Kind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(LINK_MODE);
                header.set_size(0);
                builder
                    .append_link(&mut header, &entry.path, target)
                    .map_err(write_error)?;
            }
            Kind::File { executable, .. } => {
                let blob = read_blob(repos, entry)?.expect("a file has a blob");
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { EXEC_MODE } else { FILE_MODE });
                header.set_size(blob.content().len() as u64);
                builder
                    .append_data(&mut header, &entry.path, blob.content())
                    .map_err(write_error)?;
            }
        }
    }
    builder.into_inner().map_err(write_error)
}

/// Writes a zip archive of `entries` to `out`.
pub fn zip<W: Write + Seek>(
    out: W,
    entries: &[Entry],
    repos: &[Repository],
    mtime: i64,
    level: u32,
) -> Result<W> {
    use zip::write::SimpleFileOptions;
    let zip_error = |e: zip::result::ZipError| DeployError::WriteBundle {
        source: std::io::Error::other(e),
    };
    let time = time::OffsetDateTime::from_unix_timestamp(mtime)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    // Zip has no time zone: the commit time in UTC, clamped to what DOS
    // dates can hold.
    let stamp = zip::DateTime::from_date_and_time(
        time.year().clamp(1980, 2107) as u16,
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
    )
    .unwrap_or_default();
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(i64::from(level)))
        .last_modified_time(stamp);
    let mut writer = zip::ZipWriter::new(out);
    for entry in entries {
        match &entry.kind {
            Kind::Dir => writer
                .add_directory(
                    format!("{}/", entry.path),
                    options.unix_permissions(DIR_MODE),
                )
                .map_err(zip_error)?,
            Kind::Symlink(target) => writer
                .add_symlink(&entry.path, target, options.unix_permissions(LINK_MODE))
                .map_err(zip_error)?,
            Kind::File { executable, .. } => {
                let blob = read_blob(repos, entry)?.expect("a file has a blob");
                let mode = if *executable { EXEC_MODE } else { FILE_MODE };
                writer
                    .start_file(&entry.path, options.unix_permissions(mode))
                    .map_err(zip_error)?;
                writer.write_all(blob.content()).map_err(write_error)?;
            }
        }
    }
    writer.finish().map_err(zip_error)
}

/// Lays the tree out under `dir` for the appspec check, as cheaply as the
/// check allows: every directory and link, the appspec candidates with
/// their content, and empty files with their modes for the hook scripts
/// the appspecs name. Only when an appspec maps two or more `files`
/// sources (whose destinations may collide) are the files under those
/// sources laid out too. Creating 20,000 empty files costs seconds on an
/// overlay file system; the check reads only names, modes and the appspec.
pub fn skeleton(dir: &std::path::Path, entries: &[Entry], repos: &[Repository]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| DeployError::WriteBundle { source };
    let is_appspec = |path: &str| {
        let depth = path.matches('/').count();
        let name = path.rsplit('/').next().unwrap_or(path);
        depth <= 1 && slipway_shared::appspec::APPSPEC_NAMES.contains(&name)
    };
    // Paths the appspecs name, and prefixes whose files are all needed.
    let mut needed: Vec<String> = Vec::new();
    let mut subtrees: Vec<String> = Vec::new();
    for entry in entries.iter().filter(|e| is_appspec(&e.path)) {
        let Some(blob) = read_blob(repos, entry)? else {
            continue;
        };
        let text = String::from_utf8_lossy(blob.content());
        let base = entry.path.rsplit_once('/').map_or("", |(d, _)| d);
        let join = |location: &str| {
            let location = location.trim_start_matches('/').trim_end_matches('/');
            match (base, location) {
                ("", l) => l.to_owned(),
                (b, "") => b.to_owned(),
                (b, l) => format!("{b}/{l}"),
            }
        };
        let parsed = slipway_shared::appspec::parse(std::path::Path::new(&entry.path), &text);
        let Some(spec) = parsed.appspec else { continue };
        for event in &spec.hooks {
            needed.extend(event.scripts.iter().map(|h| join(&h.location)));
        }
        needed.extend(spec.files.iter().map(|f| join(&f.source)));
        if spec.files.len() > 1 {
            subtrees.extend(spec.files.iter().map(|f| join(&f.source)));
        }
    }
    let wanted = |path: &str| {
        is_appspec(path)
            || needed.iter().any(|n| n == path)
            || subtrees
                .iter()
                .any(|t| t.is_empty() || path.starts_with(&format!("{t}/")))
    };
    // Only the directories the appspecs name or that hold what is written:
    // a skeleton of every directory in a large tree cost seconds to create
    // and remove, most of `deploy`'s time before the upload.
    let wanted_dir = |path: &str| {
        needed.iter().any(|n| n == path)
            || subtrees
                .iter()
                .any(|t| t.is_empty() || t == path || path.starts_with(&format!("{t}/")))
    };
    let parent = |path: &std::path::Path| match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(io),
        None => Ok(()),
    };
    for entry in entries {
        let path = dir.join(&entry.path);
        match &entry.kind {
            Kind::Dir if wanted_dir(&entry.path) => std::fs::create_dir_all(&path).map_err(io)?,
            Kind::Dir => {}
            Kind::Symlink(target) => {
                parent(&path)?;
                std::os::unix::fs::symlink(target, &path).map_err(io)?
            }
            Kind::File { executable, .. } if wanted(&entry.path) => {
                parent(&path)?;
                let content: Vec<u8> = if is_appspec(&entry.path) {
                    read_blob(repos, entry)?
                        .map(|b| b.content().to_vec())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                std::fs::write(&path, content).map_err(io)?;
                let mode = if *executable { EXEC_MODE } else { FILE_MODE };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(io)?;
            }
            Kind::File { .. } => {}
        }
    }
    Ok(())
}
