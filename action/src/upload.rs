//! The bundle to S3: a content-addressed key, nothing sent when the object
//! is already there, SSE-KMS (or SSE-S3), a SHA-256 checksum S3 verifies,
//! and multipart with parallel parts for large bundles.

use std::io::Write;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::bundle::Bundle;
use crate::deploy::error::{DeployError, Result, code, describe};
use crate::follow::render::Style;

/// Bundles at least this large go up in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// The size of each part (S3's minimum is 5 MiB).
pub const PART_SIZE: u64 = 16 * 1024 * 1024;
/// Parts in flight at once.
pub const PARALLEL_PARTS: usize = 4;
/// The metadata key holding the bundle's SHA-256, hex: a multipart object's
/// own checksum is a checksum of checksums, so this is what is compared.
pub const SHA256_METADATA: &str = "sha256";

/// How the object is encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// SSE-KMS, with this key or the bucket's default KMS key.
    Kms(Option<String>),
    /// SSE-S3 (AES256).
    S3,
}

/// Where and how to upload.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without slashes at its ends (may be empty).
    pub prefix: String,
    /// The CodeDeploy application, a level of the key.
    pub application: String,
    /// Encryption at rest.
    pub encryption: Encryption,
    /// Object metadata: commit, run URL, actor.
    pub metadata: Vec<(String, String)>,
}

/// The object that holds the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The ETag, without quotes.
    pub etag: String,
    /// The version, when the bucket is versioned.
    pub version_id: Option<String>,
    /// Whether the object was already there and nothing was sent.
    pub reused: bool,
}

impl Uploaded {
    fn at(
        destination: &Destination,
        key: &str,
        etag: Option<&str>,
        version_id: Option<&str>,
        reused: bool,
    ) -> Self {
        Self {
            bucket: destination.bucket.clone(),
            key: key.to_owned(),
            etag: unquote(etag),
            version_id: version_id.map(str::to_owned),
            reused,
        }
    }

    /// `s3://bucket/key`.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// `<prefix>/<application>/<commit>-<sha256[..12]>.<ext>`.
pub fn key(destination: &Destination, bundle: &Bundle) -> String {
    let name = format!(
        "{}/{}-{}.{}",
        destination.application,
        bundle.commit,
        &bundle.sha256_hex()[..12],
        bundle.format.extension()
    );
    if destination.prefix.is_empty() {
        name
    } else {
        format!("{}/{name}", destination.prefix)
    }
}

fn s3_error<E, R>(
    operation: &'static str,
    destination: &Destination,
    key: &str,
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> DeployError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = describe(err);
    let kms = code(err).is_some_and(|c| c.starts_with("KMS") || c == "KMSKeyNotAccessible")
        || (message.contains("KMS") && code(err) == Some("AccessDenied"));
    if kms {
        return DeployError::KmsRefused {
            key: match &destination.encryption {
                Encryption::Kms(Some(key)) => key.clone(),
                _ => "the bucket's default key".into(),
            },
            bucket: destination.bucket.clone(),
            object: key.to_owned(),
            message,
        };
    }
    DeployError::S3 {
        operation,
        bucket: destination.bucket.clone(),
        key: key.to_owned(),
        message,
    }
}

/// Checks the bucket exists, is visible and is in `region`.
pub async fn check_bucket(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) -> Result<()> {
    let bucket_error = |reason: String| DeployError::Bucket {
        bucket: bucket.to_owned(),
        reason,
    };
    let elsewhere = |other: &str| {
        bucket_error(format!(
            "it is in {other}, not {region}: set aws-region to {other} or use a bucket in {region}"
        ))
    };
    let err = match s3.head_bucket().bucket(bucket).send().await {
        // S3 names the bucket's region on success too; an endpoint that
        // answers for a bucket elsewhere (S3-compatible stores, a global
        // endpoint) must not let the upload go to the wrong region.
        Ok(found) => {
            return match found.bucket_region() {
                Some(other) if other != region => Err(elsewhere(other)),
                _ => Ok(()),
            };
        }
        Err(err) => err,
    };
    let raw = err.raw_response();
    let status = raw.map(|r| r.status().as_u16());
    let other_region = raw
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .filter(|r| *r != region)
        .map(str::to_owned);
    Err(match (status, other_region) {
        (_, Some(other)) => elsewhere(&other),
        (Some(404), _) => bucket_error("does not exist: create it, or fix s3-bucket".into()),
        (Some(403), _) => bucket_error(
            "access denied: the role needs s3:ListBucket on it (and it must be in this account or shared with it)".into(),
        ),
        _ => bucket_error(describe(&err)),
    })
}

/// Uploads `bundle` unless an object with its checksum is already at its
/// key. Progress goes to `log`: a bar redrawn in place on a terminal
/// ([`Style::Table`]), a line every few seconds otherwise.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bundle: &Bundle,
    destination: &Destination,
    style: Style,
    log: &mut dyn Write,
) -> Result<Uploaded> {
    let key = key(destination, bundle);
    let sha_hex = bundle.sha256_hex();
    let head = s3
        .head_object()
        .bucket(&destination.bucket)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await;
    match head {
        Ok(found) => {
            let same = found
                .metadata()
                .and_then(|m| m.get(SHA256_METADATA))
                .is_some_and(|s| *s == sha_hex);
            if same {
                return Ok(Uploaded::at(
                    destination,
                    &key,
                    found.e_tag(),
                    found.version_id(),
                    true,
                ));
            }
        }
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404) => {}
        Err(err) => return Err(s3_error("HeadObject", destination, &key, &err)),
    }
    let mut metadata = destination.metadata.clone();
    metadata.push((SHA256_METADATA.into(), sha_hex));
    if bundle.size < MULTIPART_THRESHOLD {
        put(s3, bundle, destination, &key, metadata).await
    } else {
        multipart(s3, bundle, destination, &key, metadata, style, log).await
    }
}

fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

fn b64(digest: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bundle: &Bundle,
    destination: &Destination,
    key: &str,
    metadata: Vec<(String, String)>,
) -> Result<Uploaded> {
    let body = ByteStream::from_path(&bundle.path)
        .await
        .map_err(|e| DeployError::WriteBundle {
            source: std::io::Error::other(e),
        })?;
    let mut request = s3
        .put_object()
        .bucket(&destination.bucket)
        .key(key)
        .body(body)
        .content_length(bundle.size as i64)
        .checksum_sha256(b64(&bundle.sha256));
    request = match &destination.encryption {
        Encryption::Kms(id) => request
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .set_ssekms_key_id(id.clone()),
        Encryption::S3 => request.server_side_encryption(ServerSideEncryption::Aes256),
    };
    for (k, v) in metadata {
        request = request.metadata(k, v);
    }
    let out = request
        .send()
        .await
        .map_err(|e| s3_error("PutObject", destination, key, &e))?;
    Ok(Uploaded::at(
        destination,
        key,
        out.e_tag(),
        out.version_id(),
        false,
    ))
}

async fn multipart(
    s3: &aws_sdk_s3::Client,
    bundle: &Bundle,
    destination: &Destination,
    key: &str,
    metadata: Vec<(String, String)>,
    style: Style,
    log: &mut dyn Write,
) -> Result<Uploaded> {
    let mut request = s3
        .create_multipart_upload()
        .bucket(&destination.bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256);
    request = match &destination.encryption {
        Encryption::Kms(id) => request
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .set_ssekms_key_id(id.clone()),
        Encryption::S3 => request.server_side_encryption(ServerSideEncryption::Aes256),
    };
    for (k, v) in metadata {
        request = request.metadata(k, v);
    }
    let created = request
        .send()
        .await
        .map_err(|e| s3_error("CreateMultipartUpload", destination, key, &e))?;
    let upload_id = created.upload_id().unwrap_or_default().to_owned();
    let result = send_parts(s3, bundle, destination, key, &upload_id, style, log).await;
    let parts = match result {
        Ok(parts) => parts,
        Err(err) => {
            // Parts left behind are billed until a lifecycle rule removes them.
            let _ = s3
                .abort_multipart_upload()
                .bucket(&destination.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            return Err(err);
        }
    };
    let done = s3
        .complete_multipart_upload()
        .bucket(&destination.bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| s3_error("CompleteMultipartUpload", destination, key, &e))?;
    Ok(Uploaded::at(
        destination,
        key,
        done.e_tag(),
        done.version_id(),
        false,
    ))
}

async fn send_parts(
    s3: &aws_sdk_s3::Client,
    bundle: &Bundle,
    destination: &Destination,
    key: &str,
    upload_id: &str,
    style: Style,
    log: &mut dyn Write,
) -> Result<Vec<CompletedPart>> {
    let count = bundle.size.div_ceil(PART_SIZE);
    let mut parts = Vec::with_capacity(count as usize);
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0u64;
    let mut sent = 0u64;
    let mut last_line = Instant::now();
    while next < count || !running.is_empty() {
        while next < count && running.len() < PARALLEL_PARTS {
            let offset = next * PART_SIZE;
            let len = PART_SIZE.min(bundle.size - offset);
            let data = read_part(&bundle.path, offset, len).await?;
            let checksum = b64(&Sha256::digest(&data));
            let number = (next + 1) as i32;
            let call = s3
                .upload_part()
                .bucket(&destination.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(len as i64)
                .checksum_sha256(checksum.clone())
                .body(ByteStream::from(data));
            running.spawn(async move { (number, len, checksum, call.send().await) });
            next += 1;
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (number, len, checksum, out) = joined.map_err(|e| DeployError::WriteBundle {
            source: std::io::Error::other(e),
        })?;
        let out = out.map_err(|e| s3_error("UploadPart", destination, key, &e))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().unwrap_or_default())
                .checksum_sha256(checksum)
                .build(),
        );
        sent += len;
        match style {
            Style::Table => {
                write!(log, "\r\x1b[K{}", progress_bar(sent, bundle.size))
                    .and_then(|()| {
                        if sent == bundle.size {
                            writeln!(log)
                        } else {
                            Ok(())
                        }
                    })
                    .and_then(|()| log.flush())
                    .map_err(DeployError::Output)?;
            }
            Style::Lines => {
                if last_line.elapsed() >= Duration::from_secs(3) || sent == bundle.size {
                    writeln!(
                        log,
                        "uploaded {} of {} MiB",
                        sent / (1024 * 1024),
                        bundle.size.div_ceil(1024 * 1024)
                    )
                    .map_err(DeployError::Output)?;
                    last_line = Instant::now();
                }
            }
        }
    }
    parts.sort_by_key(|p| p.part_number());
    Ok(parts)
}

/// `[#####     ]  50% 10 of 20 MiB`: one terminal line.
fn progress_bar(sent: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let filled = (sent * WIDTH).checked_div(total).unwrap_or(WIDTH) as usize;
    let percent = (sent * 100).checked_div(total).unwrap_or(100);
    format!(
        "[{}{}] {percent:>3}% {} of {} MiB",
        "#".repeat(filled),
        " ".repeat(WIDTH as usize - filled),
        sent / (1024 * 1024),
        total.div_ceil(1024 * 1024)
    )
}

async fn read_part(path: &std::path::Path, offset: u64, len: u64) -> Result<bytes::Bytes> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let io = |source| DeployError::WriteBundle { source };
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(io)?;
    let mut data = vec![0u8; len as usize];
    file.read_exact(&mut data).await.map_err(io)?;
    Ok(data.into())
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::operation::put_object::PutObjectError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::{Destination, Encryption, progress_bar, s3_error};
    use crate::deploy::error::DeployError;

    /// PutObject failing as S3 answers it (moto does not check KMS keys, so
    /// these shapes come from S3's documented errors).
    fn put_failing(status: u16, code: &str, message: &str) -> DeployError {
        let destination = Destination {
            bucket: "bundles".into(),
            prefix: String::new(),
            application: "shop".into(),
            encryption: Encryption::Kms(Some("alias/deploys".into())),
            metadata: Vec::new(),
        };
        let error =
            PutObjectError::generic(ErrorMetadata::builder().code(code).message(message).build());
        let response = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        s3_error(
            "PutObject",
            &destination,
            "shop/abc.tar.gz",
            &SdkError::service_error(error, response),
        )
    }

    #[test]
    fn a_refusal_by_kms_names_the_key_the_bucket_and_the_object() {
        for (status, code, message) in [
            (
                400,
                "KMS.DisabledException",
                "arn:aws:kms:us-east-1:123456789012:key/1234 is disabled.",
            ),
            (400, "KMS.NotFoundException", "Invalid keyId alias/deploys"),
            (
                403,
                "AccessDenied",
                "User: arn:aws:sts::123456789012:assumed-role/deploy/gh is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:123456789012:key/1234 because no identity-based policy allows the kms:GenerateDataKey action (Service: AWSKMS)",
            ),
        ] {
            let error = put_failing(status, code, message);
            assert!(
                matches!(error, DeployError::KmsRefused { .. }),
                "{code}: {error:?}"
            );
            let text = error.to_string();
            assert!(
                text.starts_with(
                    "KMS key alias/deploys refused to encrypt s3://bundles/shop/abc.tar.gz"
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn an_access_denied_that_is_not_about_kms_is_not_blamed_on_kms() {
        let error = put_failing(403, "AccessDenied", "Access Denied");
        assert!(matches!(error, DeployError::S3 { .. }), "{error:?}");
    }

    #[test]
    fn the_progress_bar_fills_with_the_bytes_sent() {
        let mib = 1024 * 1024;
        assert_eq!(
            progress_bar(0, 20 * mib),
            format!("[{}]   0% 0 of 20 MiB", " ".repeat(30))
        );
        assert_eq!(
            progress_bar(10 * mib, 20 * mib),
            format!("[{}{}]  50% 10 of 20 MiB", "#".repeat(15), " ".repeat(15))
        );
        assert_eq!(
            progress_bar(20 * mib, 20 * mib),
            format!("[{}] 100% 20 of 20 MiB", "#".repeat(30))
        );
    }
}
