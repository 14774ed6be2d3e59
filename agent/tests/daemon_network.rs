//! `slipway-agent run` on a host that reaches AWS through a proxy or
//! behind a private CA: `proxy_uri` carries the command plane and the S3
//! download (with basic authentication, and through CONNECT for TLS),
//! `no_proxy` goes around it, `tls_ca_bundle` is trusted beside the system
//! roots for both, and the status socket gets its group. Settings that
//! cannot work stop the agent at start, naming the key and the file.

mod common;
mod daemon;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Host, appspec};
use daemon::{Agent, Bed, DEADLINE};
use slipway_tests::{ForwardProxy, TlsFront};

fn revision(host: &Host, bed: &Bed, name: &str) -> common::Revision {
    let rev = host.revision(name);
    rev.appspec(&appspec(
        &[("index.html", bed.dest().to_str().unwrap())],
        "",
    ))
    .file("index.html", &format!("{name}\n"));
    rev
}

fn authority(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned()
}

/// Starts an agent, deploys revision `name`, waits for the deployment to
/// end `expected` and stops the agent; returns the deployment id and the
/// agent's log.
async fn deploy_with_an_agent(
    bed: &Bed,
    host: &Host,
    name: &str,
    expected: &str,
) -> (String, String) {
    let mut agent = bed.agent();
    let id = bed
        .deploy(&revision(host, bed, name), &format!("{name}.tgz"))
        .await;
    let status = daemon::services::wait_for_end(&bed.sim, &id, || agent.log()).await;
    assert_eq!(status, expected, "{}", agent.log());
    assert!(agent.terminate().success(), "{}", agent.log());
    if expected == "Succeeded" {
        assert_eq!(
            std::fs::read_to_string(bed.dest().join("index.html")).unwrap(),
            format!("{name}\n")
        );
    }
    (id, agent.log())
}

/// Waits until the agent's log holds `text`.
async fn wait_for_log(agent: &Agent, text: &str) {
    let until = Instant::now() + DEADLINE;
    while !agent.log().contains(text) {
        assert!(
            Instant::now() < until,
            "the agent never logged {text:?}:\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_uri_carries_the_command_plane_and_s3_and_no_proxy_goes_around_it() {
    let bed = Bed::start().await;
    let proxy = ForwardProxy::requiring("host-1", "s3cret").await.unwrap();
    let simulator = authority(&bed.sim.endpoint());
    let moto = authority(bed.moto_url());
    let host = Host::new();
    let with_credentials = proxy.url().replace("http://", "http://host-1:s3cret@");
    bed.set_agent_key("proxy_uri", &with_credentials);
    // The key, set, wins over a NO_PROXY the test may have inherited.
    bed.set_agent_key("no_proxy", "example.invalid");

    let (_, log) = deploy_with_an_agent(&bed, &host, "v1", "Succeeded").await;
    assert!(
        !log.contains("s3cret"),
        "the proxy's password is not logged"
    );
    let relayed = proxy.relayed();
    assert!(
        proxy.relayed_to(&simulator) > 0,
        "the command plane went through the proxy: {relayed:?}"
    );
    assert!(
        relayed
            .iter()
            .any(|r| r.authority == moto && r.method == "GET"),
        "the bundle was downloaded through the proxy: {relayed:?}"
    );
    assert_eq!(
        proxy.refused(),
        0,
        "both clients sent the proxy's credentials"
    );

    // S3, now named by another host, is exempt; the command plane is not.
    let s3_by_name = bed.moto_url().replace("127.0.0.1", "localhost");
    bed.set_agent_key("s3_endpoint_override", &s3_by_name);
    bed.set_agent_key("no_proxy", "localhost");
    let (to_simulator, to_moto) = (proxy.relayed_to(&simulator), proxy.relayed_to(&moto));
    deploy_with_an_agent(&bed, &host, "v2", "Succeeded").await;
    assert!(proxy.relayed_to(&simulator) > to_simulator);
    assert_eq!(proxy.relayed_to(&moto), to_moto);
    assert_eq!(
        proxy.relayed_to(&authority(&s3_by_name)),
        0,
        "no_proxy sent S3 around the proxy: {:?}",
        proxy.relayed()
    );

    // Without the key, NO_PROXY in the agent's environment says the same.
    bed.set_agent_key("no_proxy", "");
    let to_simulator = proxy.relayed_to(&simulator);
    let log = bed.dir.path().join("agent-no-proxy-env.log");
    let mut agent = Agent::start(
        &bed.config_path(),
        log,
        &[("NO_PROXY", std::ffi::OsStr::new("localhost"))],
    );
    let id = bed.deploy(&revision(&host, &bed, "v3"), "v3.tgz").await;
    let status = daemon::services::wait_for_end(&bed.sim, &id, || agent.log()).await;
    assert_eq!(status, "Succeeded", "{}", agent.log());
    assert!(agent.terminate().success(), "{}", agent.log());
    assert!(proxy.relayed_to(&simulator) > to_simulator);
    assert_eq!(proxy.relayed_to(&authority(&s3_by_name)), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_bundle_is_trusted_beside_the_system_roots_for_the_command_plane_and_s3() {
    let bed = Bed::start().await;
    let commands = TlsFront::start(&bed.sim.endpoint(), bed.dir.path()).unwrap();
    let s3 = TlsFront::start(bed.moto_url(), bed.dir.path()).unwrap();
    let bundle = bed.dir.path().join("private-cas.pem");
    let mut pem = std::fs::read(commands.ca_bundle()).unwrap();
    pem.extend(std::fs::read(s3.ca_bundle()).unwrap());
    std::fs::write(&bundle, pem).unwrap();
    let host = Host::new();

    // Without the bundle, S3 behind the private CA is refused: the
    // download fails and the deployment with it.
    bed.set_agent_key("s3_endpoint_override", &s3.url());
    let (id, log) = deploy_with_an_agent(&bed, &host, "v1", "Failed").await;
    let download = bed.lifecycle_event(&id, "DownloadBundle").await;
    let message = download
        .diagnostics()
        .and_then(|d| d.message())
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.to_lowercase().contains("certificate"),
        "DownloadBundle failed on the certificate: {message}\n{log}"
    );

    // And so is the command endpoint.
    bed.set_agent_key("deploy_control_endpoint", &commands.url());
    let mut agent = bed.agent();
    wait_for_log(&agent, "UnknownIssuer").await;
    assert!(agent.terminate().success(), "{}", agent.log());

    // With it, both are trusted and the deployment runs.
    bed.set_agent_key("tls_ca_bundle", &bundle.display().to_string());
    deploy_with_an_agent(&bed, &host, "v2", "Succeeded").await;

    // Through a proxy, TLS goes through CONNECT tunnels, still verified
    // against the bundle.
    let proxy = ForwardProxy::start().await.unwrap();
    bed.set_agent_key("proxy_uri", &proxy.url());
    bed.set_agent_key("no_proxy", "example.invalid");
    deploy_with_an_agent(&bed, &host, "v3", "Succeeded").await;
    for front in [&commands, &s3] {
        let tunnels = proxy
            .relayed()
            .into_iter()
            .filter(|r| r.method == "CONNECT" && r.authority == authority(&front.url()))
            .count();
        assert!(
            tunnels > 0,
            "{} tunnelled: {:?}",
            front.url(),
            proxy.relayed()
        );
    }
}

/// Runs the agent on `config` and returns its exit code and stderr; it
/// must stop by itself.
fn run_to_exit(config: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .env_clear()
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("the agent did not stop on a bad setting");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn settings_that_cannot_work_stop_the_agent_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("codedeployagent.yml");
    let base = format!(
        ":root_dir: {root}\n:log_dir: {log}\n:on_premises_config_file: {dir}/none.yml\n",
        root = dir.path().join("root").display(),
        log = dir.path().join("log").display(),
        dir = dir.path().display(),
    );
    let cases = [
        (
            ":proxy_uri: proxy.internal:3128\n".to_owned(),
            "proxy_uri",
            "line 4",
        ),
        (
            format!(
                ":tls_ca_bundle: {}\n",
                dir.path().join("missing.pem").display()
            ),
            "tls_ca_bundle",
            "missing.pem",
        ),
        (
            ":status_socket_group: slipway-no-such-group\n".to_owned(),
            "status_socket_group",
            "slipway-no-such-group",
        ),
    ];
    for (line, key, detail) in cases {
        std::fs::write(&config, format!("{base}{line}")).unwrap();
        let (code, stderr) = run_to_exit(&config);
        assert_ne!(code, Some(0), "{stderr}");
        for expected in [key, detail, config.to_str().unwrap()] {
            assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_socket_is_0660_in_the_configured_group() {
    let bed = Bed::start().await;
    let socket = bed.dir.path().join("run/status.sock");
    // A group every Debian host has, other than the agent's own.
    let (group, gid) = ("daemon", 1);
    bed.set_agent_key("status_address", "");
    bed.set_agent_key("status_socket", &socket.display().to_string());
    bed.set_agent_key("status_socket_group", group);
    let mut agent = bed.agent();
    // The socket exists a moment before its group and mode are set.
    let until = Instant::now() + DEADLINE;
    let meta = loop {
        match std::fs::metadata(&socket) {
            Ok(meta) if meta.mode() & 0o777 == 0o660 => break meta,
            _ => {
                assert!(Instant::now() < until, "no socket:\n{}", agent.log());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(meta.gid(), gid);
    // SAFETY: geteuid has no memory effects.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    let status = Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
        .args(["status", "--config"])
        .arg(bed.config_path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(agent.terminate().success(), "{}", agent.log());
}
