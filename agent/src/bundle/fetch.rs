//! Putting a revision's bundle at the deployment's `bundle.tar`, whatever its
//! type (the official name for all of them): S3 objects are downloaded with
//! their VersionId and ETag checked, a local archive is linked, and a
//! directory is read in place by [`super::extract`].

use std::path::{Path, PathBuf};

use slipway_shared::bundle::BundleType;
use tokio::io::AsyncWriteExt;

use crate::spec::Revision;
use crate::{Error, Result};

/// What to unpack, once fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The archive, or the revision's directory.
    pub path: PathBuf,
    /// Its type; `None` for a directory.
    pub bundle_type: Option<BundleType>,
}

/// Fetches `revision` to `bundle` (the deployment's `bundle.tar`).
pub async fn fetch(
    revision: &Revision,
    bundle: &Path,
    s3: Option<&aws_sdk_s3::Client>,
) -> Result<Fetched> {
    match revision {
        Revision::LocalDirectory { path } => {
            if !path.is_dir() {
                return Err(Error::BundleType {
                    path: path.clone(),
                    reason: "not a directory".into(),
                });
            }
            Ok(Fetched {
                path: path.clone(),
                bundle_type: None,
            })
        }
        Revision::LocalFile { path, bundle_type } => {
            let absolute = std::path::absolute(path).map_err(Error::io("resolve", path))?;
            std::fs::metadata(&absolute).map_err(Error::io("read", &absolute))?;
            let _ = std::fs::remove_file(bundle);
            std::os::unix::fs::symlink(&absolute, bundle).map_err(Error::io("link", bundle))?;
            Ok(Fetched {
                path: bundle.to_owned(),
                bundle_type: Some(*bundle_type),
            })
        }
        Revision::S3 {
            bucket,
            key,
            bundle_type,
            version,
            etag,
        } => {
            let Some(s3) = s3 else {
                return Err(Error::Deployment(
                    "an S3 revision needs an S3 client".into(),
                ));
            };
            download(s3, bucket, key, version.as_deref(), etag.as_deref(), bundle).await?;
            Ok(Fetched {
                path: bundle.to_owned(),
                bundle_type: Some(*bundle_type),
            })
        }
    }
}

async fn download(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    etag: Option<&str>,
    to: &Path,
) -> Result<()> {
    let failed = |reason: String| Error::Download {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let response = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .map_err(|e| failed(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    if let (Some(wanted), Some(got)) = (version, response.version_id())
        && wanted != got
    {
        return Err(failed(format!("S3 returned version {got}, not {wanted}")));
    }
    if let Some(wanted) = etag {
        let got = response.e_tag().unwrap_or_default().trim_matches('"');
        if got != wanted.trim_matches('"') {
            return Err(failed(format!(
                "its ETag is {got}, not the expected {}",
                wanted.trim_matches('"')
            )));
        }
    }
    let _ = std::fs::remove_file(to);
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(Error::io("create", to))?;
    let mut body = response.body;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| failed(format!("the download broke off: {e}")))?
    {
        file.write_all(&chunk)
            .await
            .map_err(Error::io("write", to))?;
    }
    file.flush().await.map_err(Error::io("write", to))?;
    Ok(())
}
