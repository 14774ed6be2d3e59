//! Shared by the agent's integration tests: revisions built in a temp dir,
//! packed as tar, tgz or zip, and `slipway-agent local` run as a process.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A test host: a temp dir holding the deployment root, the install
/// destinations and the revisions.
pub struct Host {
    pub dir: tempfile::TempDir,
}

impl Host {
    pub fn new() -> Host {
        Host {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn root(&self) -> PathBuf {
        self.path().join("root")
    }

    /// Where the appspecs of these tests install files.
    pub fn dest(&self) -> PathBuf {
        self.path().join("dest")
    }

    /// A fresh revision directory called `name`.
    pub fn revision(&self, name: &str) -> Revision {
        let dir = self.path().join("revisions").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Revision { dir }
    }

    /// Runs `slipway-agent local --root <root> ARGS`.
    pub fn local(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway-agent"));
        cmd.arg("local").arg("--root").arg(self.root()).args(args);
        Run::of(cmd.output().unwrap())
    }

    /// Runs `local` with extra environment variables.
    pub fn local_env(&self, args: &[&str], env: &[(String, String)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway-agent"));
        cmd.arg("local").arg("--root").arg(self.root()).args(args);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        Run::of(cmd.output().unwrap())
    }

    /// Runs `WRAPPER… slipway-agent local --root <root> ARGS`: the agent
    /// under `setpriv`, `unshare` or the like.
    pub fn local_wrapped(&self, wrapper: &[&str], args: &[&str]) -> Run {
        let (program, wrapper_args) = wrapper.split_first().expect("a wrapper program");
        let mut cmd = Command::new(program);
        cmd.args(wrapper_args)
            .arg(env!("CARGO_BIN_EXE_slipway-agent"))
            .arg("local")
            .arg("--root")
            .arg(self.root())
            .args(args);
        Run::of(cmd.output().unwrap())
    }

    /// Every path under the host dir outside the deployment root.
    pub fn outside_root(&self) -> BTreeSet<PathBuf> {
        let mut found = BTreeSet::new();
        let mut stack = vec![self.path().to_owned()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = e.path();
                if p == self.root() {
                    continue;
                }
                if e.file_type().unwrap().is_dir() {
                    stack.push(p.clone());
                }
                found.insert(p);
            }
        }
        found
    }

    /// The only deployment directory of the default group whose id is not in `known`.
    pub fn deployments(&self) -> Vec<PathBuf> {
        let group = self.root().join("default-local-deployment-group");
        let mut v: Vec<_> = std::fs::read_dir(group)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// The outcome of one `slipway-agent local`.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn of(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "agent failed:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_failed(&self) -> &Run {
        assert_eq!(
            self.code, 1,
            "agent did not fail an event:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The diagnostics JSON the failure printed.
    pub fn diagnostics(&self) -> serde_json::Value {
        let line = self
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("diagnostics: "))
            .unwrap_or_else(|| panic!("no diagnostics in:\n{}\n{}", self.stdout, self.stderr));
        serde_json::from_str(line).unwrap()
    }

    /// The deployment directory the run announced.
    pub fn deployment_dir(&self) -> PathBuf {
        let line = self.stdout.lines().next().unwrap();
        PathBuf::from(line.rsplit_once(" in ").unwrap().1)
    }
}

/// A revision being written.
pub struct Revision {
    pub dir: PathBuf,
}

impl Revision {
    pub fn file(&self, rel: &str, text: &str) -> &Revision {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        self
    }

    pub fn script(&self, rel: &str, body: &str) -> &Revision {
        self.file(rel, &format!("#!/bin/sh\n{body}\n"));
        let path = self.dir.join(rel);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    pub fn appspec(&self, text: &str) -> &Revision {
        self.file("appspec.yml", text)
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// Packs the revision as `kind` (tar, tgz, zip) beside it; returns the archive path.
    pub fn pack(&self, kind: &str) -> String {
        let out = self.dir.with_extension(kind);
        let file = std::fs::File::create(&out).unwrap();
        match kind {
            "tar" => {
                let mut b = tar::Builder::new(file);
                b.append_dir_all(".", &self.dir).unwrap();
                b.finish().unwrap();
            }
            "tgz" => {
                let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
                let mut b = tar::Builder::new(gz);
                b.append_dir_all(".", &self.dir).unwrap();
                b.into_inner().unwrap().finish().unwrap();
            }
            "zip" => {
                let mut z = zip::ZipWriter::new(file);
                let mut stack = vec![self.dir.clone()];
                while let Some(d) = stack.pop() {
                    for e in std::fs::read_dir(&d).unwrap().flatten() {
                        let p = e.path();
                        let rel = p
                            .strip_prefix(&self.dir)
                            .unwrap()
                            .to_str()
                            .unwrap()
                            .to_owned();
                        let mode = e.metadata().unwrap().permissions().mode();
                        let opts = zip::write::SimpleFileOptions::default()
                            .unix_permissions(mode & 0o7777);
                        if p.is_dir() {
                            z.add_directory(rel, opts).unwrap();
                            stack.push(p);
                        } else {
                            z.start_file(rel, opts).unwrap();
                            z.write_all(&std::fs::read(&p).unwrap()).unwrap();
                        }
                    }
                }
                z.finish().unwrap();
            }
            other => panic!("unknown kind {other}"),
        }
        out.to_str().unwrap().to_owned()
    }
}

/// A raw tar header with any name (the tar crate refuses `..` names, which
/// is exactly what these tests need to write).
pub fn raw_entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    {
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    let pad = (512 - data.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0, pad));
}

/// Ends a raw tar.
pub fn raw_end(out: &mut Vec<u8>) {
    out.extend(std::iter::repeat_n(0, 1024));
}

/// A minimal appspec with a `files` section and the given hooks text
/// (already indented under `hooks:`).
pub fn appspec(files: &[(&str, &str)], hooks: &str) -> String {
    let mut s = String::from("version: 0.0\nos: linux\n");
    if !files.is_empty() {
        s.push_str("files:\n");
        for (src, dst) in files {
            s.push_str(&format!("  - source: {src}\n    destination: {dst}\n"));
        }
    }
    if !hooks.is_empty() {
        s.push_str("hooks:\n");
        s.push_str(hooks);
    }
    s
}
