//! A commit's tree as the bundle's entries: sorted, with `export-ignore`,
//! `--exclude` and submodules applied. The work tree is never read.

use std::path::Path;

use git2::{ObjectType, Oid, Repository};
use globset::GlobSet;

use super::attributes::{self, Rules};
use crate::deploy::error::{DeployError, Result};

/// One entry of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path inside the bundle, `/`-separated, no leading slash.
    pub path: String,
    /// What it is.
    pub kind: Kind,
}

/// An entry's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory (git records none empty).
    Dir,
    /// A file: its blob, in the repository at `repo` (0 is the top one,
    /// others are submodules), and whether it is executable.
    File {
        /// Which repository holds the blob.
        repo: usize,
        /// The blob.
        oid: Oid,
        /// Git's 100755.
        executable: bool,
    },
    /// A symbolic link to `target`.
    Symlink(String),
}

/// The commit to bundle.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The full id.
    pub id: Oid,
    /// Committer time, seconds since the epoch: every entry's mtime.
    pub time: i64,
}

/// The commit `reference` names (HEAD when `None`).
pub fn resolve(repo: &Repository, path: &Path, reference: Option<&str>) -> Result<Commit> {
    let spec = reference.unwrap_or("HEAD");
    if reference.is_none() && repo.head().is_err() {
        return Err(DeployError::EmptyRepository {
            path: path.to_owned(),
        });
    }
    let commit = repo
        .revparse_single(spec)
        .and_then(|o| o.peel_to_commit())
        .map_err(|source| DeployError::Ref {
            reference: spec.to_owned(),
            source,
        })?;
    Ok(Commit {
        id: commit.id(),
        time: commit.committer().when().seconds(),
    })
}

/// Everything a bundle of `commit` holds, sorted by path bytes, and the
/// repositories the blobs live in (`repos[0]` is `repo`'s path).
pub fn entries(
    repo: Repository,
    commit: Oid,
    exclude: &GlobSet,
) -> Result<(Vec<Entry>, Vec<Repository>)> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|source| DeployError::ReadTree { source })?;
    let mut walk = Walk {
        repos: Vec::new(),
        entries: Vec::new(),
        exclude,
        prefixes: vec![String::new()],
    };
    let tree_id = tree.id();
    drop(tree);
    walk.repos.push(repo);
    walk.tree(0, tree_id, "", &mut Vec::new())?;
    let Walk {
        mut entries, repos, ..
    } = walk;
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok((entries, repos))
}

struct Walk<'a> {
    repos: Vec<Repository>,
    entries: Vec<Entry>,
    exclude: &'a GlobSet,
    /// Where each repository's root sits in the bundle, for a nested
    /// submodule's name, which is relative to its parent.
    prefixes: Vec<String>,
}

impl Walk<'_> {
    fn tree(&mut self, repo: usize, tree: Oid, prefix: &str, rules: &mut Vec<Rules>) -> Result<()> {
        let read = |source| DeployError::ReadTree { source };
        let mut children = Vec::new();
        {
            let r = &self.repos[repo];
            let tree = r.find_tree(tree).map_err(read)?;
            if let Some(attrs) = tree.get_name(".gitattributes")
                && let Ok(blob) = r.find_blob(attrs.id())
            {
                rules.push(Rules::parse(
                    prefix,
                    &String::from_utf8_lossy(blob.content()),
                ));
            } else {
                rules.push(Rules::parse(prefix, ""));
            }
            for entry in tree.iter() {
                let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
                children.push((
                    format!("{prefix}{name}"),
                    entry.id(),
                    entry.filemode(),
                    entry.kind(),
                ));
            }
        }
        for (path, oid, mode, kind) in children {
            if attributes::ignored(rules, &path) || self.exclude.is_match(&path) {
                continue;
            }
            match (kind, mode) {
                (Some(ObjectType::Tree), _) => {
                    self.entries.push(Entry {
                        path: path.clone(),
                        kind: Kind::Dir,
                    });
                    self.tree(repo, oid, &format!("{path}/"), rules)?;
                }
                (Some(ObjectType::Blob), 0o120000) => {
                    let blob = self.repos[repo].find_blob(oid).map_err(read)?;
                    let target = String::from_utf8_lossy(blob.content()).into_owned();
                    self.entries.push(Entry {
                        path,
                        kind: Kind::Symlink(target),
                    });
                }
                (Some(ObjectType::Blob), _) => self.entries.push(Entry {
                    path,
                    kind: Kind::File {
                        repo,
                        oid,
                        executable: mode == 0o100755,
                    },
                }),
                // A gitlink: the submodule's recorded commit, from its
                // checkout.
                _ => self.submodule(repo, oid, &path)?,
            }
        }
        rules.pop();
        Ok(())
    }

    fn submodule(&mut self, repo: usize, commit: Oid, path: &str) -> Result<()> {
        let relative = path
            .strip_prefix(self.prefixes[repo].as_str())
            .unwrap_or(path)
            .to_owned();
        let opened = self.repos[repo]
            .find_submodule(&relative)
            .and_then(|s| s.open())
            .ok()
            .and_then(|sub| {
                let tree = sub.find_commit(commit).and_then(|c| c.tree()).ok()?.id();
                Some((sub, tree))
            });
        let Some((sub, tree)) = opened else {
            return Err(DeployError::SubmoduleMissing {
                path: path.to_owned(),
                commit: commit.to_string(),
            });
        };
        self.entries.push(Entry {
            path: path.to_owned(),
            kind: Kind::Dir,
        });
        self.repos.push(sub);
        let index = self.repos.len() - 1;
        self.prefixes.push(format!("{path}/"));
        // Attributes do not cross into a submodule.
        self.tree(index, tree, &format!("{path}/"), &mut Vec::new())
    }
}
