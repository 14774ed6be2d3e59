//! `slipway-agent local` deploys a revision from every kind of bundle: tar,
//! tgz, zip, a directory and S3 (with its VersionId and ETag checked).

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{Host, appspec};

fn app(host: &Host) -> common::Revision {
    let rev = host.revision("app");
    let dest = host.dest();
    rev.appspec(&appspec(
        &[("site", dest.to_str().unwrap())],
        "  AfterInstall:\n    - location: scripts/check.sh\n",
    ))
    .file("site/index.html", "hello\n")
    .file("site/static/app.css", "body{}\n")
    .script(
        "scripts/check.sh",
        "test -f \"$(dirname \"$0\")/../appspec.yml\" && echo checked $LIFECYCLE_EVENT",
    );
    rev
}

fn assert_deployed(host: &Host) {
    assert_eq!(
        std::fs::read_to_string(host.dest().join("index.html")).unwrap(),
        "hello\n"
    );
    assert!(host.dest().join("static/app.css").is_file());
    let dir = host.deployments().pop().unwrap();
    let log = std::fs::read_to_string(dir.join("logs/scripts.log")).unwrap();
    assert!(log.contains("[stdout]checked AfterInstall"), "{log}");
}

#[test]
fn a_tar_bundle_deploys() {
    let host = Host::new();
    let bundle = app(&host).pack("tar");
    let run = host.local(&["--bundle", &bundle]);
    run.assert_ok();
    assert!(run.stdout.contains("Succeeded: 7 events"), "{}", run.stdout);
    assert_deployed(&host);
}

#[test]
fn a_tgz_bundle_deploys_and_prints_a_line_per_event() {
    let host = Host::new();
    let bundle = app(&host).pack("tgz");
    let run = host.local(&["--bundle", &bundle]);
    run.assert_ok();
    for event in [
        "ApplicationStop",
        "DownloadBundle",
        "Install",
        "ValidateService",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(event) && l.contains(" ms") && l.ends_with("Succeeded")),
            "{}",
            run.stdout
        );
    }
    assert_deployed(&host);
}

#[test]
fn a_zip_bundle_deploys_with_modes_kept() {
    let host = Host::new();
    let bundle = app(&host).pack("zip");
    host.local(&["--bundle", &bundle]).assert_ok();
    assert_deployed(&host);
    use std::os::unix::fs::PermissionsExt;
    let archive = host.deployments().pop().unwrap().join("deployment-archive");
    let mode = std::fs::metadata(archive.join("scripts/check.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn a_directory_revision_deploys() {
    let host = Host::new();
    let rev = app(&host);
    host.local(&["--bundle", rev.path()]).assert_ok();
    assert_deployed(&host);
}

#[test]
fn a_lone_top_level_directory_is_lifted() {
    let host = Host::new();
    let outer = host.revision("outer");
    let dest = host.dest();
    outer
        .file(
            "app/appspec.yml",
            &appspec(&[("index.html", dest.to_str().unwrap())], ""),
        )
        .file("app/index.html", "lifted\n");
    let bundle = outer.pack("tgz");
    host.local(&["--bundle", &bundle]).assert_ok();
    assert_eq!(
        std::fs::read_to_string(dest.join("index.html")).unwrap(),
        "lifted\n"
    );
    let archive = host.deployments().pop().unwrap().join("deployment-archive");
    assert!(archive.join("appspec.yml").is_file());
}

struct S3 {
    _moto: slipway_tests::Moto,
    client: aws_sdk_s3::Client,
    env: Vec<(String, String)>,
}

async fn s3() -> S3 {
    let moto = slipway_tests::Moto::start().await.unwrap();
    let env: Vec<(String, String)> = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", moto.url()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let client = moto.s3_client();
    client
        .create_bucket()
        .bucket("bundles")
        .send()
        .await
        .unwrap();
    client
        .put_bucket_versioning()
        .bucket("bundles")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    S3 {
        _moto: moto,
        client,
        env,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_bundle_deploys_the_named_version_and_a_wrong_etag_is_refused() {
    let s3 = s3().await;
    let host = Host::new();
    let bundle = app(&host).pack("tgz");
    let put = s3
        .client
        .put_object()
        .bucket("bundles")
        .key("app.tgz")
        .body(ByteStream::from(std::fs::read(&bundle).unwrap()))
        .send()
        .await
        .unwrap();
    let version = put.version_id().unwrap().to_owned();
    let etag = put.e_tag().unwrap().trim_matches('"').to_owned();
    // A newer, broken object under the same key: the named version must win.
    s3.client
        .put_object()
        .bucket("bundles")
        .key("app.tgz")
        .body(ByteStream::from_static(b"not a bundle"))
        .send()
        .await
        .unwrap();

    let url = format!("s3://bundles/app.tgz?versionId={version}&etag={etag}");
    let run = tokio::task::block_in_place(|| host.local_env(&["--bundle", &url], &s3.env));
    run.assert_ok();
    assert_deployed(&host);
    let log = std::fs::read_to_string(host.deployments().pop().unwrap().join("logs/scripts.log"))
        .unwrap();
    assert!(log.contains("checked AfterInstall"));

    let wrong =
        format!("s3://bundles/app.tgz?versionId={version}&etag=0123456789abcdef0123456789abcdef");
    let run = tokio::task::block_in_place(|| {
        host.local_env(
            &["--bundle", &wrong, "--file-exists-behavior", "OVERWRITE"],
            &s3.env,
        )
    });
    run.assert_failed();
    assert!(
        run.stdout.contains("DownloadBundle") && run.stdout.contains("ETag"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_tar_entrys_owner_is_kept_through_install_as_tar_p_does_for_root() {
    let host = Host::new();
    let path = host.path().join("owned.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let spec = appspec(&[("owned.txt", host.dest().to_str().unwrap())], "");
    for (name, data, uid) in [
        ("appspec.yml", spec.as_bytes(), 0),
        ("owned.txt", &b"x"[..], 65534),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    b.finish().unwrap();
    host.local(&["--bundle", path.to_str().unwrap()])
        .assert_ok();
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(host.dest().join("owned.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
}
