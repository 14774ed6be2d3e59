//! `slipway-agent run` on an EC2 instance of the sandbox: with no
//! on-premises file, the agent learns its region and instance from the
//! sandbox's IMDS (v2), signs with the instance profile's credentials, and
//! polls as the instance ARN.

mod common;
mod daemon;

use std::process::{Command, Stdio};

use aws_sdk_codedeploy::types::{Ec2TagFilter, Ec2TagFilterType};
use common::{Host, appspec};
use daemon::Agent;
use slipway_tests::Sandbox;

#[tokio::test(flavor = "multi_thread")]
async fn an_ec2_instance_deploys_with_its_imds_identity_and_instance_profile() {
    let sandbox = Sandbox::builder()
        .codedeploy_poll_wait(std::time::Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let sim = sandbox.codedeploy();
    let imds = sandbox.imds();
    let instance_arn = sim.register_ec2_instance(imds.instance_id(), &[("fleet", "web")]);
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
    let dest = dir.path().join("dest");
    let config = dir.path().join("codedeployagent.yml");
    std::fs::write(
        &config,
        format!(
            "---\n:log_dir: '{log}'\n:root_dir: '{root}'\n:wait_between_runs: 0\n:deploy_control_endpoint: {endpoint}\n:s3_endpoint_override: {s3}\n:on_premises_config_file: {onprem}\n:status_socket: {socket}\n",
            log = dir.path().join("log").display(),
            root = dir.path().join("root").display(),
            endpoint = sandbox.codedeploy_endpoint(),
            s3 = sandbox.s3_endpoint(),
            onprem = dir.path().join("no-onpremises.yml").display(),
            socket = dir.path().join("status.sock").display(),
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    // No region, keys or host identifier in the environment: all from IMDS.
    let child = Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", sandbox.imds_endpoint())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut agent = Agent { child, log };

    let host = Host::new();
    let rev = host.revision("v1");
    rev.appspec(&appspec(
        &[("index.html", dest.to_str().unwrap())],
        "  AfterInstall:\n    - location: hook.sh\n      timeout: 30\n",
    ))
    .file("index.html", "ec2\n");
    rev.script("hook.sh", "true");
    let id = daemon::services::deploy(&codedeploy, &s3, &rev, "v1.tgz", "tgz").await;
    assert_eq!(
        daemon::services::wait_for_end(sim, &id, String::new).await,
        "Succeeded",
        "{}",
        agent.log()
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("index.html")).unwrap(),
        "ec2\n"
    );
    assert!(agent.terminate().success(), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains(&format!("host_identifier={instance_arn}")),
        "the agent polled as the instance ARN:\n{log}"
    );
    assert!(imds.tokens_issued() > 0, "IMDSv2 tokens were used");
}
