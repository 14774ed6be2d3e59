//! Bad bundles under `slipway-agent local`: every escaping archive entry,
//! special files, bombs past the limits and unknown bundle types end in a
//! failed DownloadBundle naming the entry, with nothing written outside the
//! deployment's own directory.

mod common;

use std::io::Write;

use common::{Host, raw_end, raw_entry};
use tar::EntryType;

const APPSPEC: &str = "version: 0.0\nos: linux\n";

/// A tar holding an appspec and then `entries` (name, type, link, data).
fn evil_tar(host: &Host, entries: &[(&str, EntryType, &str, &[u8])]) -> String {
    let mut out = Vec::new();
    raw_entry(
        &mut out,
        "appspec.yml",
        EntryType::Regular,
        "",
        APPSPEC.as_bytes(),
    );
    for (name, kind, link, data) in entries {
        raw_entry(&mut out, name, *kind, link, data);
    }
    raw_end(&mut out);
    let path = host.path().join("evil.tar");
    std::fs::write(&path, out).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs the bundle and checks the refusal names `entry` and that nothing
/// appeared outside the root (nor any unpacked archive inside it).
#[track_caller]
fn refused(host: &Host, bundle: &str, entry: &str, why: &str, extra: &[&str]) {
    let before = host.outside_root();
    let mut args = vec!["--bundle", bundle];
    args.extend_from_slice(extra);
    let run = host.local(&args);
    run.assert_failed();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("DownloadBundle"))
        .unwrap_or_default();
    assert!(line.contains("Failed"), "{}", run.stdout);
    let message = run.diagnostics()["message"].as_str().unwrap().to_owned();
    assert!(message.contains(entry), "{message} should name {entry}");
    assert!(message.contains(why), "{message} should say {why}");
    assert_eq!(
        host.outside_root(),
        before,
        "something was written outside the root"
    );
    assert!(
        !run.deployment_dir().join("deployment-archive").exists(),
        "the half-unpacked archive is removed"
    );
    assert!(!host.path().parent().unwrap().join("evil").exists());
}

#[test]
fn a_parent_directory_entry_is_refused() {
    let host = Host::new();
    let bundle = evil_tar(&host, &[("../../../evil", EntryType::Regular, "", b"x")]);
    refused(&host, &bundle, "../../../evil", "`..`", &[]);
}

#[test]
fn an_absolute_entry_is_refused() {
    let host = Host::new();
    let target = host.path().join("abs-evil");
    let name = target.to_str().unwrap().to_owned();
    let bundle = evil_tar(&host, &[(&name, EntryType::Regular, "", b"x")]);
    refused(&host, &bundle, &name, "absolute", &[]);
}

#[test]
fn a_symlink_escaping_the_archive_is_refused() {
    let host = Host::new();
    let bundle = evil_tar(&host, &[("out", EntryType::Symlink, "../../..", b"")]);
    refused(&host, &bundle, "out", "outside the archive", &[]);
    let host = Host::new();
    let bundle = evil_tar(&host, &[("abs", EntryType::Symlink, "/etc", b"")]);
    refused(&host, &bundle, "abs", "absolute", &[]);
}

#[test]
fn an_entry_written_through_an_earlier_symlink_is_refused() {
    let host = Host::new();
    let bundle = evil_tar(
        &host,
        &[
            ("dir/", EntryType::Directory, "", b""),
            ("link", EntryType::Symlink, "dir", b""),
            ("link/file", EntryType::Regular, "", b"x"),
        ],
    );
    refused(&host, &bundle, "link/file", "through the symlink link", &[]);
}

#[test]
fn a_hardlink_to_outside_is_refused() {
    let host = Host::new();
    let bundle = evil_tar(&host, &[("h", EntryType::Link, "../../../etc/passwd", b"")]);
    refused(&host, &bundle, "h", "hard link", &[]);
    let host = Host::new();
    let bundle = evil_tar(&host, &[("h", EntryType::Link, "/etc/passwd", b"")]);
    refused(&host, &bundle, "h", "absolute", &[]);
}

#[test]
fn device_and_fifo_entries_are_refused() {
    let host = Host::new();
    let bundle = evil_tar(&host, &[("dev", EntryType::Char, "", b"")]);
    refused(&host, &bundle, "dev", "character device", &[]);
    let host = Host::new();
    let bundle = evil_tar(&host, &[("pipe", EntryType::Fifo, "", b"")]);
    refused(&host, &bundle, "pipe", "fifo", &[]);
}

#[test]
fn a_zip_entry_with_a_parent_directory_is_refused() {
    let host = Host::new();
    let path = host.path().join("evil.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("appspec.yml", opts).unwrap();
    z.write_all(APPSPEC.as_bytes()).unwrap();
    z.start_file("../../zip-evil", opts).unwrap();
    z.write_all(b"x").unwrap();
    z.finish().unwrap();
    refused(&host, path.to_str().unwrap(), "../../zip-evil", "`..`", &[]);
}

fn config(host: &Host, text: &str) -> String {
    let path = host.path().join("agent.yml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn too_many_entries_fail_at_the_limit() {
    let host = Host::new();
    let files: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, EntryType, &str, &[u8])> = files
        .iter()
        .map(|f| (f.as_str(), EntryType::Regular, "", &b"x"[..]))
        .collect();
    let bundle = evil_tar(&host, &entries);
    let cfg = config(&host, "bundle_max_entries: 10\n");
    refused(&host, &bundle, "\"f9\"", "entry count", &["--config", &cfg]);
}

#[test]
fn an_entry_past_the_size_limit_fails_before_it_is_written() {
    let host = Host::new();
    let big = vec![b'a'; 5000];
    let bundle = evil_tar(&host, &[("big", EntryType::Regular, "", &big)]);
    let cfg = config(&host, "bundle_max_expanded_bytes: 1000\n");
    refused(
        &host,
        &bundle,
        "\"big\"",
        "expanded size",
        &["--config", &cfg],
    );
}

#[test]
fn a_gzip_bomb_fails_on_its_expansion_ratio() {
    let host = Host::new();
    // 200 MiB of zeros as 200 concatenated gzip members of 1 MiB each:
    // a few hundred KiB on disk, cheap to build.
    let gzip = |data: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    };
    let mut head = Vec::new();
    raw_entry(
        &mut head,
        "appspec.yml",
        EntryType::Regular,
        "",
        APPSPEC.as_bytes(),
    );
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(200 * 1024 * 1024);
    h.set_mode(0o644);
    h.set_cksum();
    head.extend_from_slice(h.as_bytes());
    let mut bomb = gzip(&head);
    let mib = gzip(&vec![0; 1024 * 1024]);
    for _ in 0..201 {
        bomb.extend_from_slice(&mib);
    }
    let path = host.path().join("bomb.tgz");
    std::fs::write(&path, bomb).unwrap();
    refused(
        &host,
        path.to_str().unwrap(),
        "\"zeros\"",
        "expansion ratio",
        &[],
    );
}

#[test]
fn a_bundle_that_is_not_what_its_name_says_fails_naming_the_file() {
    let host = Host::new();
    let path = host.path().join("app.tgz");
    std::fs::write(&path, "this is not gzip").unwrap();
    let run = host.local(&["--bundle", path.to_str().unwrap()]);
    run.assert_failed();
    let message = run.diagnostics()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("bundle.tar") && message.contains("gzip"),
        "{message}"
    );
}

#[test]
fn an_unknown_bundle_type_is_refused_naming_the_file() {
    let host = Host::new();
    let path = host.path().join("app.rar");
    std::fs::write(&path, "rar").unwrap();
    let run = host.local(&["--bundle", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("unknown bundle type for") && run.stderr.contains("app.rar"),
        "{}",
        run.stderr
    );
}
