//! `slipway bundle`: a commit as a reproducible archive.
//!
//! # Layout
//! - [`tree`]: the commit's entries, with export-ignore, excludes and submodules.
//! - [`attributes`]: `.gitattributes` `export-ignore` from the commit's tree.
//! - [`archive`]: tar and zip writing, normalised; the appspec check's skeleton.
//! - [`gzip`]: gzip members compressed on every core.

pub mod archive;
pub mod attributes;
pub mod gzip;
pub mod tree;

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSetBuilder};
use sha2::{Digest, Sha256};
use slipway_shared::bundle::BundleType;
use slipway_shared::problem::Report;

use crate::deploy::error::{DeployError, Result};

/// CodeDeploy's limit for an S3 revision on EC2/on-premises.
pub const MAX_BUNDLE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The default compression level, `git archive`'s and gzip's.
pub const DEFAULT_LEVEL: u32 = 6;

/// What to bundle and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory inside the repository.
    pub repo: PathBuf,
    /// The commit (HEAD when `None`).
    pub reference: Option<String>,
    /// The archive format.
    pub format: BundleType,
    /// Globs on repository paths to leave out, beside export-ignore.
    pub exclude: Vec<String>,
    /// Compression level, 0 to 9.
    pub level: u32,
    /// Compression threads; 0 means one per core.
    pub threads: usize,
}

impl Options {
    /// HEAD of the repository at `repo` as tar.gz.
    pub fn new(repo: impl Into<PathBuf>) -> Self {
        Self {
            repo: repo.into(),
            reference: None,
            format: BundleType::Tgz,
            exclude: Vec::new(),
            level: DEFAULT_LEVEL,
            threads: 0,
        }
    }
}

/// A bundle written to disk.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The archive.
    pub path: PathBuf,
    /// Its format.
    pub format: BundleType,
    /// The commit it holds, full hex.
    pub commit: String,
    /// SHA-256 of the archive's bytes.
    pub sha256: [u8; 32],
    /// Size in bytes.
    pub size: u64,
    /// Files and links in it (directories not counted).
    pub files: usize,
    /// The appspec check's findings.
    pub report: Report,
}

impl Bundle {
    /// The SHA-256 as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Builds the bundle into `out_dir` (named after the commit) and checks its
/// appspec. The caller decides what problems mean.
pub fn build(options: &Options, out_dir: &Path) -> Result<Bundle> {
    let repo = git2::Repository::discover(&options.repo).map_err(|source| {
        DeployError::OpenRepository {
            path: options.repo.clone(),
            source,
        }
    })?;
    let commit = tree::resolve(&repo, &options.repo, options.reference.as_deref())?;
    let mut globs = GlobSetBuilder::new();
    for pattern in &options.exclude {
        // As in git, `*` stops at a slash and `**` crosses them.
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| DeployError::Exclude {
                pattern: pattern.clone(),
                reason: e.kind().to_string(),
            })?;
        globs.add(glob);
    }
    let globs = globs.build().map_err(|e| DeployError::Exclude {
        pattern: options.exclude.join(" "),
        reason: e.to_string(),
    })?;
    let (entries, repos) = tree::entries(repo, commit.id, &globs)?;
    let files = entries
        .iter()
        .filter(|e| !matches!(e.kind, tree::Kind::Dir))
        .count();

    let report = check_appspec(&entries, &repos)?;

    let path = out_dir.join(format!("{}.{}", commit.id, options.format.extension()));
    let io = |source| DeployError::WriteBundle { source };
    let file = File::create(&path).map_err(io)?;
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.threads
    };
    match options.format {
        BundleType::Tgz => {
            let gz = gzip::ParallelGzip::new(BufWriter::new(file), options.level, threads);
            let gz = archive::tar(gz, &entries, &repos, commit.time)?;
            gz.finish().map_err(io)?.flush().map_err(io)?;
        }
        BundleType::Tar => {
            archive::tar(BufWriter::new(file), &entries, &repos, commit.time)?
                .flush()
                .map_err(io)?;
        }
        BundleType::Zip => {
            archive::zip(file, &entries, &repos, commit.time, options.level)?;
        }
    }
    let (sha256, size) = hash_file(&path)?;
    if size > MAX_BUNDLE_BYTES {
        return Err(DeployError::BundleTooLarge {
            path,
            size,
            limit: MAX_BUNDLE_BYTES,
        });
    }
    Ok(Bundle {
        path,
        format: options.format,
        commit: commit.id.to_string(),
        sha256,
        size,
        files,
        report,
    })
}

fn check_appspec(entries: &[tree::Entry], repos: &[git2::Repository]) -> Result<Report> {
    let io = |source| DeployError::WriteBundle { source };
    let skeleton = tempfile::tempdir().map_err(io)?;
    archive::skeleton(skeleton.path(), entries, repos)?;
    slipway_shared::validate::check_bundle(skeleton.path())
        .map_err(|source| DeployError::CheckAppspec { source })
}

/// SHA-256 and size of the file at `path`.
pub fn hash_file(path: &Path) -> Result<([u8; 32], u64)> {
    let io = |source| DeployError::WriteBundle { source };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hasher.finalize().into(), size))
}

/// The bundle options that `args` and the step's inputs ask for.
pub fn options_from(args: &crate::cli::BundleArgs, env: &crate::env::Env) -> Result<Options> {
    let inputs = crate::github::inputs::Inputs::new(env);
    let repo = inputs
        .get("repository", args.repository.as_deref())
        .or_else(|| env.get("GITHUB_WORKSPACE").map(str::to_owned))
        .unwrap_or_else(|| ".".to_owned());
    let format = inputs
        .parsed("bundle-format", args.bundle_format.as_deref(), |v| match v
            .to_ascii_lowercase()
            .as_str()
        {
            "tgz" | "tar.gz" => Ok(BundleType::Tgz),
            "tar" => Ok(BundleType::Tar),
            "zip" => Ok(BundleType::Zip),
            _ => Err(format!("`{v}` is not a bundle format: use tgz, zip or tar")),
        })?
        .unwrap_or(BundleType::Tgz);
    let level = inputs
        .parsed(
            "compression-level",
            args.compression_level.as_deref(),
            |v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 9)
                    .ok_or_else(|| format!("`{v}` is not a level from 0 to 9"))
            },
        )?
        .unwrap_or(DEFAULT_LEVEL);
    let mut exclude: Vec<String> = args.exclude.clone();
    if exclude.is_empty()
        && let Some(input) = inputs.get("exclude", None)
    {
        exclude.push(input);
    }
    let exclude = exclude
        .iter()
        .flat_map(|e| e.split([',', '\n']))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(Options {
        repo: PathBuf::from(repo),
        reference: inputs.get("ref", args.reference.as_deref()),
        format,
        exclude,
        level,
        // For benchmarks: the single-core figure beside the parallel one.
        threads: env
            .get("SLIPWAY_BUNDLE_THREADS")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
    })
}

/// Prints the appspec check as `appspec check` does, and fails when it found
/// errors: nothing may be uploaded then.
pub fn require_valid_appspec(
    bundle: &Bundle,
    repo: &Path,
    actions: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let clean = crate::appspec_check::print(&bundle.report, repo, actions, out)?;
    if clean {
        Ok(())
    } else {
        Err(DeployError::InvalidAppspec {
            count: bundle.report.error_count(),
        })
    }
}

/// One line per fact, for people and for `grep`.
pub fn describe(bundle: &Bundle, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "bundle: {}\ncommit: {}\nsha256: {}\nsize: {} bytes\nfiles: {}",
        bundle.path.display(),
        bundle.commit,
        bundle.sha256_hex(),
        bundle.size,
        bundle.files
    )
    .map_err(DeployError::Output)
}
