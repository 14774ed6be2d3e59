//! The workspace's Python venv (`.venv`, built by `scripts/setup`): moto,
//! boto3 and the AWS CLI the test bed runs.

use std::path::{Path, PathBuf};

use crate::Error;

/// The workspace root: the parent of this crate's directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_owned()
}

/// `<workspace>/.venv/bin/<name>`, if `scripts/setup` has put it there.
pub fn bin(name: &str) -> Result<PathBuf, Error> {
    let path = workspace_root().join(".venv/bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::VenvMissing { path })
    }
}
