//! `slipway-agent run` on an EC2 instance of the sandbox: with no
//! on-premises file, the agent learns its region and instance from the
//! sandbox's IMDS (v2, or v1 when tokens are refused and `disable_imds_v1`
//! is not set), signs with the instance profile's credentials, and polls as
//! the instance ARN.

mod common;
mod daemon;

use std::process::{Command, Stdio};

use aws_sdk_codedeploy::types::{Ec2TagFilter, Ec2TagFilterType};
use common::{Host, appspec};
use daemon::Agent;
use slipway_tests::Sandbox;

/// A sandbox EC2 instance tagged into group `web` of application `shop`,
/// and the agent's configuration for it (plus `extra` lines).
struct Ec2 {
    sandbox: Sandbox,
    instance_arn: String,
    codedeploy: aws_sdk_codedeploy::Client,
    s3: aws_sdk_s3::Client,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Ec2 {
    async fn start(imds_v1: bool, extra: &str) -> Ec2 {
        let mut builder =
            Sandbox::builder().codedeploy_poll_wait(std::time::Duration::from_secs(2));
        if imds_v1 {
            builder = builder.allow_imds_v1();
        }
        let sandbox = builder.start().await.unwrap();
        let sim = sandbox.codedeploy();
        let instance_arn =
            sim.register_ec2_instance(sandbox.imds().instance_id(), &[("fleet", "web")]);
        let codedeploy = daemon::services::codedeploy_client(
            &sandbox.codedeploy_endpoint(),
            sandbox.static_credentials(),
        );
        codedeploy
            .create_application()
            .application_name("shop")
            .send()
            .await
            .unwrap();
        codedeploy
            .create_deployment_group()
            .application_name("shop")
            .deployment_group_name("web")
            .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
            .ec2_tag_filters(
                Ec2TagFilter::builder()
                    .key("fleet")
                    .value("web")
                    .r#type(Ec2TagFilterType::KeyAndValue)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let s3 = daemon::services::s3(&sandbox.s3_endpoint()).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("codedeployagent.yml");
        std::fs::write(
            &config,
            format!(
                "---\n:log_dir: '{log}'\n:root_dir: '{root}'\n:wait_between_runs: 0\n:deploy_control_endpoint: {endpoint}\n:s3_endpoint_override: {s3}\n:on_premises_config_file: {onprem}\n:status_socket: {socket}\n{extra}",
                log = dir.path().join("log").display(),
                root = dir.path().join("root").display(),
                endpoint = sandbox.codedeploy_endpoint(),
                s3 = sandbox.s3_endpoint(),
                onprem = dir.path().join("no-onpremises.yml").display(),
                socket = dir.path().join("status.sock").display(),
            ),
        )
        .unwrap();
        Ec2 {
            sandbox,
            instance_arn,
            codedeploy,
            s3,
            dir,
            config,
        }
    }

    /// `slipway-agent run`, with no region, keys or host identifier in its
    /// environment: all from IMDS.
    fn agent(&self) -> Agent {
        let log = self.dir.path().join("agent.log");
        let child = Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                self.sandbox.imds_endpoint(),
            )
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Agent { child, log }
    }

    /// Deploys a revision writing `body` and waits for the end.
    async fn deploy(&self, agent: &Agent, body: &str) -> String {
        let dest = self.dir.path().join("dest");
        let host = Host::new();
        let rev = host.revision("v1");
        rev.appspec(&appspec(
            &[("index.html", dest.to_str().unwrap())],
            "  AfterInstall:\n    - location: hook.sh\n      timeout: 30\n",
        ))
        .file("index.html", body);
        rev.script("hook.sh", "true");
        let id = daemon::services::deploy(&self.codedeploy, &self.s3, &rev, "v1.tgz", "tgz").await;
        let status =
            daemon::services::wait_for_end(self.sandbox.codedeploy(), &id, || agent.log()).await;
        assert_eq!(
            std::fs::read_to_string(dest.join("index.html")).unwrap_or_default(),
            if status == "Succeeded" { body } else { "" }
        );
        status
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ec2_instance_deploys_with_its_imds_identity_and_instance_profile() {
    let ec2 = Ec2::start(false, "").await;
    let mut agent = ec2.agent();
    assert_eq!(
        ec2.deploy(&agent, "ec2\n").await,
        "Succeeded",
        "{}",
        agent.log()
    );
    assert!(agent.terminate().success(), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains(&format!("host_identifier={}", ec2.instance_arn)),
        "the agent polled as the instance ARN:\n{log}"
    );
    assert!(
        ec2.sandbox.imds().tokens_issued() > 0,
        "IMDSv2 tokens were used"
    );
    assert_eq!(ec2.sandbox.imds().v1_requests(), 0, "and only they");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_imds_tokens_the_agent_falls_back_to_v1_unless_disable_imds_v1() {
    let ec2 = Ec2::start(true, "").await;
    let imds = ec2.sandbox.imds();
    imds.set_tokens_refused(true);
    let mut agent = ec2.agent();
    assert_eq!(
        ec2.deploy(&agent, "v1\n").await,
        "Succeeded",
        "{}",
        agent.log()
    );
    assert!(agent.terminate().success(), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains("falling back to IMDSv1"),
        "the official warning:\n{log}"
    );
    assert!(
        log.contains(&format!("host_identifier={}", ec2.instance_arn)),
        "{log}"
    );
    assert_eq!(imds.tokens_issued(), 0);
    assert!(
        imds.v1_requests() >= 3,
        "identity and credentials came from IMDSv1: {}",
        imds.v1_requests()
    );

    std::fs::write(
        &ec2.config,
        std::fs::read_to_string(&ec2.config).unwrap() + ":disable_imds_v1: true\n",
    )
    .unwrap();
    let before = imds.v1_requests();
    let mut agent = ec2.agent();
    let until = std::time::Instant::now() + daemon::DEADLINE;
    let status = loop {
        if let Some(status) = agent.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < until, "{}", agent.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!status.success());
    let log = agent.log();
    assert!(log.contains("disable_imds_v1"), "{log}");
    assert!(log.contains("403"), "the refusal is named: {log}");
    assert_eq!(imds.v1_requests(), before, "no IMDSv1 request was made");
}

#[test]
fn with_imds_disabled_and_no_onpremises_file_the_agent_stops_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("codedeployagent.yml");
    std::fs::write(
        &config,
        format!(
            ":root_dir: {dir}/root\n:log_dir: {dir}/log\n:on_premises_config_file: {dir}/none.yml\n",
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("AWS_EC2_METADATA_DISABLED"), "{stderr}");
    assert!(stderr.contains("none.yml"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_is_never_reached_through_proxy_uri() {
    let proxy = slipway_tests::ForwardProxy::start().await.unwrap();
    let ec2 = Ec2::start(false, &format!(":proxy_uri: {}\n", proxy.url())).await;
    let mut agent = ec2.agent();
    assert_eq!(
        ec2.deploy(&agent, "proxied\n").await,
        "Succeeded",
        "{}",
        agent.log()
    );
    assert!(agent.terminate().success(), "{}", agent.log());
    let imds = ec2
        .sandbox
        .imds_endpoint()
        .trim_start_matches("http://")
        .to_owned();
    let codedeploy = ec2
        .sandbox
        .codedeploy_endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    assert!(proxy.relayed_to(&codedeploy) > 0, "{:?}", proxy.relayed());
    assert_eq!(proxy.relayed_to(&imds), 0, "{:?}", proxy.relayed());
    assert!(ec2.sandbox.imds().tokens_issued() > 0);
}
