//! Unpacking a bundle into `deployment-archive/`, streamed and confined.
//!
//! Every source (tar, tgz, zip, a directory) feeds entries to one [`Sink`],
//! which is the only code that writes. It refuses any entry that would land
//! outside the archive directory (`..`, absolute names, symlinks that escape
//! or that a later entry would write through, hardlinks to outside), device
//! and fifo entries, and archives past the [`Limits`]; each refusal names the
//! entry. Files are created with `O_EXCL` after removing whatever was there,
//! so nothing is ever written through an existing link.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;

use filetime::FileTime;
use slipway_shared::bundle::BundleType;

use super::Limits;
use super::limits::RATIO_FLOOR_BYTES;
use crate::{Error, Result};

/// How big a chunk of decompressed data crosses from the gzip thread.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the gzip thread and the writer: memory stays at
/// a few MiB whatever the archive's size.
const CHUNKS_IN_FLIGHT: usize = 8;

/// What an archive entry is.
#[derive(Debug)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file of this many bytes.
    File(u64),
    /// A symbolic link to this target.
    Symlink(PathBuf),
    /// A hard link to this earlier entry.
    Hardlink(String),
    /// Anything else (device, fifo, socket…), described.
    Other(&'static str),
}

/// What an extraction produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Extracted {
    /// Entries written.
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Unpacks `bundle` of `kind` (`None` for a directory) into `dest`, which
/// must not exist yet.
pub fn extract(
    bundle: &Path,
    kind: Option<BundleType>,
    dest: &Path,
    limits: Limits,
) -> Result<Extracted> {
    std::fs::create_dir_all(dest).map_err(Error::io("create", dest))?;
    let size = match kind {
        Some(_) => std::fs::metadata(bundle)
            .map_err(Error::io("read", bundle))?
            .len(),
        None => u64::MAX,
    };
    let mut sink = Sink::new(bundle, dest, limits, size);
    match kind {
        Some(BundleType::Tar) => {
            let file = File::open(bundle).map_err(Error::io("open", bundle))?;
            read_tar(&mut sink, BufReader::with_capacity(CHUNK, file))?;
        }
        Some(BundleType::Tgz) => read_tgz(&mut sink, bundle)?,
        Some(BundleType::Zip) => read_zip(&mut sink, bundle)?,
        None => read_dir(&mut sink, bundle)?,
    }
    sink.finish()
}

fn read_tar(sink: &mut Sink, reader: impl Read) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let bad = |e: io::Error| Error::ReadArchive {
        archive: sink.archive.clone(),
        reason: e.to_string(),
    };
    let entries = archive.entries().map_err(bad)?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::ReadArchive {
            archive: sink.archive.clone(),
            reason: e.to_string(),
        })?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().ok().map(|t| t as i64);
        let link = || {
            entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File(entry.size()),
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink(PathBuf::from(link())),
            tar::EntryType::Link => Kind::Hardlink(link()),
            tar::EntryType::Char => Kind::Other("a character device"),
            tar::EntryType::Block => Kind::Other("a block device"),
            tar::EntryType::Fifo => Kind::Other("a fifo"),
            _ => Kind::Other("an unsupported entry type"),
        };
        let owner = match (header.uid(), header.gid()) {
            (Ok(uid), Ok(gid)) => u32::try_from(uid).ok().zip(u32::try_from(gid).ok()),
            _ => None,
        };
        sink.entry(&name, kind, mode, mtime, owner, &mut entry)?;
    }
    Ok(())
}

/// gzip is inflated on its own thread while this one writes files, as
/// `tar -xzf` pipes gzip into tar: two cores instead of one.
fn read_tgz(sink: &mut Sink, bundle: &Path) -> Result<()> {
    let file = File::open(bundle).map_err(Error::io("open", bundle))?;
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(CHUNKS_IN_FLIGHT);
    let inflater = std::thread::spawn(move || {
        let mut gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(CHUNK, file));
        loop {
            let mut chunk = vec![0; CHUNK];
            let mut filled = 0;
            let result = loop {
                match gz.read(&mut chunk[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == CHUNK {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            if let Err(e) = result {
                let _ = tx.send(Err(e));
                return;
            }
            if filled == 0 {
                return;
            }
            chunk.truncate(filled);
            if tx.send(Ok(chunk)).is_err() {
                return;
            }
        }
    });
    let result = read_tar(
        sink,
        ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        },
    );
    // The reader is dropped by now, so a blocked send returns and the
    // thread ends.
    let _ = inflater.join();
    result
}

struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    return Err(io::Error::new(e.kind(), format!("not a gzip stream: {e}")));
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn read_zip(sink: &mut Sink, bundle: &Path) -> Result<()> {
    let bad = |reason: String| Error::ReadArchive {
        archive: bundle.to_owned(),
        reason,
    };
    let file = File::open(bundle).map_err(Error::io("open", bundle))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        let mode = entry.unix_mode();
        let mtime = entry.last_modified().and_then(zip_time);
        let kind = if entry.is_symlink() {
            let mut target = String::new();
            entry
                .by_ref()
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            Kind::Symlink(PathBuf::from(target))
        } else if entry.is_dir() {
            Kind::Dir
        } else {
            match mode.map(|m| m & libc::S_IFMT) {
                None | Some(0) | Some(libc::S_IFREG) => Kind::File(entry.size()),
                Some(_) => Kind::Other("a device, fifo or socket"),
            }
        };
        let default = if matches!(kind, Kind::Dir) {
            0o755
        } else {
            0o644
        };
        sink.entry(
            &name,
            kind,
            mode.unwrap_or(default) & 0o7777,
            mtime,
            None,
            &mut entry,
        )?;
    }
    Ok(())
}

fn zip_time(t: zip::DateTime) -> Option<i64> {
    let month = time::Month::try_from(t.month()).ok()?;
    let date = time::Date::from_calendar_date(t.year().into(), month, t.day()).ok()?;
    let at = date.with_hms(t.hour(), t.minute(), t.second()).ok()?;
    Some(at.assume_utc().unix_timestamp())
}

/// A directory revision, walked without following links.
fn read_dir(sink: &mut Sink, root: &Path) -> Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(Error::io("read", &dir))?
            .flatten()
            .collect();
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let rel = rel.join(child.file_name());
            let path = child.path();
            let meta = std::fs::symlink_metadata(&path).map_err(Error::io("read", &path))?;
            let mode = meta.permissions().mode() & 0o7777;
            let mtime = FileTime::from_last_modification_time(&meta).unix_seconds();
            let name = rel.to_string_lossy().into_owned();
            let ft = meta.file_type();
            if ft.is_dir() {
                sink.entry(&name, Kind::Dir, mode, Some(mtime), None, &mut io::empty())?;
                stack.push(rel);
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path).map_err(Error::io("read", &path))?;
                sink.entry(
                    &name,
                    Kind::Symlink(target),
                    mode,
                    Some(mtime),
                    None,
                    &mut io::empty(),
                )?;
            } else if ft.is_file() {
                let mut file = File::open(&path).map_err(Error::io("open", &path))?;
                sink.entry(
                    &name,
                    Kind::File(meta.len()),
                    mode,
                    Some(mtime),
                    None,
                    &mut file,
                )?;
            } else {
                sink.entry(
                    &name,
                    Kind::Other("a device, fifo or socket"),
                    mode,
                    None,
                    None,
                    &mut io::empty(),
                )?;
            }
        }
    }
    Ok(())
}

/// A uid and gid from the archive.
type Owner = (u32, u32);

/// The one writer of an extraction.
struct Sink {
    archive: PathBuf,
    root: PathBuf,
    limits: Limits,
    archive_bytes: u64,
    done: Extracted,
    /// Symlinks written so far, relative: no later entry may pass through one.
    symlinks: HashSet<PathBuf>,
    /// Directories' modes and mtimes, applied last so a read-only directory
    /// does not stop its own entries being written.
    dirs: Vec<(PathBuf, u32, Option<i64>, Option<Owner>)>,
    /// Directories known to exist, relative: most entries share a parent,
    /// and asking the file system again for each costs as much as the write.
    known_dirs: HashSet<PathBuf>,
    /// Whether the agent runs as root, so the archive's owners are kept.
    as_root: bool,
    buf: Vec<u8>,
}

impl Sink {
    fn new(archive: &Path, root: &Path, limits: Limits, archive_bytes: u64) -> Sink {
        Sink {
            archive: archive.to_owned(),
            root: root.to_owned(),
            limits,
            archive_bytes,
            done: Extracted::default(),
            symlinks: HashSet::new(),
            dirs: Vec::new(),
            known_dirs: HashSet::new(),
            // SAFETY: geteuid has no preconditions.
            as_root: unsafe { libc::geteuid() } == 0,
            buf: vec![0; CHUNK],
        }
    }

    fn refuse(&self, entry: &str, reason: impl Into<String>) -> Error {
        Error::ExtractEntry {
            archive: self.archive.clone(),
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }

    fn limit(&self, limit: &'static str, detail: String) -> Error {
        Error::ArchiveLimit {
            archive: self.archive.clone(),
            limit,
            detail,
        }
    }

    fn entry(
        &mut self,
        name: &str,
        kind: Kind,
        mode: u32,
        mtime: Option<i64>,
        owner: Option<(u32, u32)>,
        data: &mut dyn Read,
    ) -> Result<()> {
        // The archive's owner is restored as `tar -p` does when run as root
        // (and only then: others cannot give files away).
        let owner = owner.filter(|_| self.as_root);
        self.done.entries += 1;
        if self.done.entries > self.limits.max_entries {
            return Err(self.limit(
                "entry count",
                format!("more than {} entries, at {name:?}", self.limits.max_entries),
            ));
        }
        let rel = confine(name).map_err(|why| self.refuse(name, why))?;
        if rel.as_os_str().is_empty() {
            return Ok(()); // `./`: the archive directory itself
        }
        self.check_ancestors(name, &rel)?;
        let path = self.root.join(&rel);
        if let Some(parent) = rel.parent()
            && !self.known_dirs.contains(parent)
        {
            let dir = self.root.join(parent);
            std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
            self.known_dirs.insert(parent.to_owned());
        }
        match kind {
            Kind::Dir => {
                match std::fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        self.remove_existing(&rel, &path)?;
                        std::fs::create_dir(&path).map_err(Error::io("create", &path))?;
                    }
                    Err(_) => std::fs::create_dir(&path).map_err(Error::io("create", &path))?,
                }
                self.dirs.push((path, mode, mtime, owner));
                self.known_dirs.insert(rel);
            }
            Kind::File(size) => {
                self.grow(name, size)?;
                let create = || {
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(&path)
                };
                let mut file = match create() {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        self.remove_existing(&rel, &path)?;
                        create()
                    }
                    other => other,
                }
                .map_err(Error::io("create", &path))?;
                let mut written = 0u64;
                loop {
                    let n = match data.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(self.refuse(name, e.to_string())),
                    };
                    written += n as u64;
                    if written > size {
                        // A zip entry can lie about its size in the header.
                        self.grow(name, written - size)?;
                    }
                    file.write_all(&self.buf[..n])
                        .map_err(Error::io("write", &path))?;
                }
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
                        .map_err(Error::io("chown", &path))?;
                }
                // After the chown, which would clear setuid and setgid.
                file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(Error::io("chmod", &path))?;
                if let Some(t) = mtime {
                    filetime::set_file_handle_times(
                        &file,
                        None,
                        Some(FileTime::from_unix_time(t, 0)),
                    )
                    .map_err(Error::io("set the mtime of", &path))?;
                }
            }
            Kind::Symlink(target) => {
                if target.is_absolute() {
                    return Err(self.refuse(
                        name,
                        format!("symlink to the absolute path {}", target.display()),
                    ));
                }
                let base = rel.parent().unwrap_or(Path::new(""));
                if resolve(base, &target).is_none() {
                    return Err(self.refuse(
                        name,
                        format!("symlink to {} points outside the archive", target.display()),
                    ));
                }
                self.remove_existing(&rel, &path)?;
                std::os::unix::fs::symlink(&target, &path).map_err(Error::io("create", &path))?;
                if let Some(t) = mtime {
                    let _ = filetime::set_symlink_file_times(
                        &path,
                        FileTime::from_unix_time(t, 0),
                        FileTime::from_unix_time(t, 0),
                    );
                }
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
                        .map_err(Error::io("chown", &path))?;
                }
                self.symlinks.insert(rel);
            }
            Kind::Hardlink(target) => {
                let target_rel = confine(&target)
                    .map_err(|why| self.refuse(name, format!("hard link to {target:?}: {why}")))?;
                if target_rel.as_os_str().is_empty() {
                    return Err(self.refuse(name, "hard link to the archive directory"));
                }
                self.check_ancestors(name, &target_rel)?;
                let source = self.root.join(&target_rel);
                match std::fs::symlink_metadata(&source) {
                    Ok(m) if m.is_file() => {}
                    _ => return Err(self.refuse(
                        name,
                        format!(
                            "hard link to {target:?}, which is not an earlier file of the archive"
                        ),
                    )),
                }
                self.remove_existing(&rel, &path)?;
                std::fs::hard_link(&source, &path).map_err(Error::io("link", &path))?;
            }
            Kind::Other(what) => {
                return Err(self.refuse(name, format!("{what} is not allowed in a bundle")));
            }
        }
        Ok(())
    }

    /// Refuses a path whose directories include a symlink the archive made.
    fn check_ancestors(&self, name: &str, rel: &Path) -> Result<()> {
        if self.symlinks.is_empty() {
            return Ok(());
        }
        for ancestor in rel.ancestors().skip(1) {
            if self.symlinks.contains(ancestor) {
                return Err(self.refuse(
                    name,
                    format!(
                        "would be written through the symlink {}",
                        ancestor.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A later entry replaces an earlier one of the same name, as tar does;
    /// removing first means the new one is never written through a link.
    fn remove_existing(&mut self, rel: &Path, path: &Path) -> Result<()> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                std::fs::remove_dir_all(path).map_err(Error::io("replace", path))?
            }
            Ok(_) => std::fs::remove_file(path).map_err(Error::io("replace", path))?,
            Err(_) => return Ok(()),
        }
        self.symlinks.remove(rel);
        self.known_dirs.retain(|d| !d.starts_with(rel));
        Ok(())
    }

    fn grow(&mut self, name: &str, bytes: u64) -> Result<()> {
        self.done.bytes = self.done.bytes.saturating_add(bytes);
        if self.done.bytes > self.limits.max_expanded_bytes {
            return Err(self.limit(
                "expanded size",
                format!(
                    "more than {} bytes, at {name:?}",
                    self.limits.max_expanded_bytes
                ),
            ));
        }
        if self.done.bytes > RATIO_FLOOR_BYTES
            && self.done.bytes / self.archive_bytes.max(1) > self.limits.max_ratio
        {
            return Err(self.limit(
                "expansion ratio",
                format!(
                    "{} bytes from a {}-byte archive is more than {}× , at {name:?}",
                    self.done.bytes, self.archive_bytes, self.limits.max_ratio
                ),
            ));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Extracted> {
        // Deepest first, so a parent's mtime is set after its children.
        self.dirs
            .sort_by_key(|(p, ..)| std::cmp::Reverse(p.components().count()));
        for (path, mode, mtime, owner) in &self.dirs {
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::lchown(path, Some(*uid), Some(*gid))
                    .map_err(Error::io("chown", path))?;
            }
            // The owner keeps rwx so that max_revisions can remove the
            // revision later even when the agent does not run as root.
            std::fs::set_permissions(
                path,
                std::fs::Permissions::from_mode((mode & 0o7777) | 0o700),
            )
            .map_err(Error::io("chmod", path))?;
            if let Some(t) = mtime {
                let _ = filetime::set_file_mtime(path, FileTime::from_unix_time(*t, 0));
            }
        }
        Ok(self.done)
    }
}

/// An entry name as a path relative to the archive directory, or why not.
fn confine(name: &str) -> Result<PathBuf, String> {
    let path = Path::new(name);
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => rel.push(c),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("absolute path".into()),
            Component::ParentDir => return Err("`..` would leave the archive directory".into()),
        }
    }
    Ok(rel)
}

/// `target` read from the directory `base` (both relative to the archive
/// directory), or `None` if it climbs above it.
fn resolve(base: &Path, target: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = base.iter().collect();
    for component in target.components() {
        match component {
            Component::Normal(c) => parts.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Lifts a lone top-level directory holding the appspec up one level, as the
/// official agent does after unpacking.
pub fn lift_lone_directory(archive_dir: &Path) -> Result<bool> {
    let root = slipway_shared::appspec::bundle_root(archive_dir);
    if root == archive_dir {
        return Ok(false);
    }
    let tmp = archive_dir.with_extension("lifting");
    std::fs::rename(&root, &tmp).map_err(Error::io("move", &root))?;
    std::fs::remove_dir(archive_dir).map_err(Error::io("remove", archive_dir))?;
    std::fs::rename(&tmp, archive_dir).map_err(Error::io("move", &tmp))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confine_refuses_parent_and_absolute_names() {
        assert!(confine("../x").is_err());
        assert!(confine("a/../../x").is_err());
        assert!(confine("/etc/passwd").is_err());
        assert_eq!(confine("./a/b").unwrap(), PathBuf::from("a/b"));
    }

    #[test]
    fn resolve_stays_inside_or_says_none() {
        assert_eq!(
            resolve(Path::new("a/b"), Path::new("../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(resolve(Path::new("a"), Path::new("../../x")), None);
        assert_eq!(resolve(Path::new(""), Path::new("..")), None);
    }
}
