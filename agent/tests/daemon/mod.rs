//! Shared by the daemon's tests: the CodeDeploy simulator with one
//! on-premises host registered, moto's S3 holding the bundles, and
//! `slipway-agent run` started as a real process from official-format
//! `codedeployagent.yml` and `codedeploy.onpremises.yml` files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_codedeploy::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_codedeploy::types::{
    BundleType, LifecycleEvent, RevisionLocation, RevisionLocationType, S3Location, TagFilter,
    TagFilterType,
};
use aws_sdk_s3::primitives::ByteStream;
use slipway_tests::codedeploy::{Simulator, SimulatorConfig, SimulatorHandle};
use slipway_tests::credentials::{CredentialStore, IssuedCredential};

pub const DEADLINE: Duration = Duration::from_secs(90);
pub const HOST_ARN: &str = "arn:aws:iam::123456789012:user/host-1";
pub const BUCKET: &str = "releases";

/// The simulator, S3 and one host's files.
pub struct Bed {
    pub sim: SimulatorHandle,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub s3: aws_sdk_s3::Client,
    _moto: slipway_tests::Moto,
    moto_url: String,
    pub dir: tempfile::TempDir,
    pub status_port: u16,
}

fn credential(access_key_id: &str, principal_arn: &str) -> IssuedCredential {
    IssuedCredential {
        access_key_id: access_key_id.to_owned(),
        secret_access_key: format!("{access_key_id}/secret/0123456789abcdef"),
        session_token: None,
        expiration: None,
        principal_arn: principal_arn.to_owned(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Bed {
    pub async fn start() -> Bed {
        let store = CredentialStore::default();
        let operator = credential(
            "AKIAOPERATOR00000001",
            "arn:aws:iam::123456789012:user/release-manager",
        );
        store.insert(operator.clone());
        store.insert(credential("AKIAHOST000000000001", HOST_ARN));
        let mut config = SimulatorConfig::new(store);
        config.poll_wait = Duration::from_secs(2);
        let sim = Simulator::start(config).await.unwrap();
        sim.register_on_premises_instance("host-1", HOST_ARN, &[("fleet", "web")]);
        let codedeploy = codedeploy_client(&sim.endpoint(), &operator);
        codedeploy
            .create_application()
            .application_name("shop")
            .send()
            .await
            .unwrap();

        let moto = slipway_tests::Moto::start().await.unwrap();
        let moto_url = moto.url().to_owned();
        let s3 = s3_client(&moto_url);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let bed = Bed {
            sim,
            codedeploy,
            s3,
            _moto: moto,
            moto_url,
            dir: tempfile::tempdir().unwrap(),
            status_port: free_port(),
        };
        bed.create_group("web").await;
        bed.write_configs();
        bed
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn dest(&self) -> PathBuf {
        self.dir.path().join("dest")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("codedeployagent.yml")
    }

    fn write_configs(&self) {
        let onprem = self.dir.path().join("codedeploy.onpremises.yml");
        std::fs::write(
            &onprem,
            format!(
                "---\niam_user_arn: {HOST_ARN}\naws_access_key_id: AKIAHOST000000000001\naws_secret_access_key: AKIAHOST000000000001/secret/0123456789abcdef\nregion: us-east-1\n"
            ),
        )
        .unwrap();
        std::fs::write(
            self.config_path(),
            format!(
                "---\n:log_aws_wire: false\n:log_dir: '{log}'\n:pid_dir: '{log}'\n:program_name: codedeploy-agent\n:root_dir: '{root}'\n:verbose: false\n:wait_between_runs: 0\n:max_revisions: 5\n:deploy_control_endpoint: {endpoint}\n:s3_endpoint_override: {s3}\n:on_premises_config_file: {onprem}\n:kill_agent_max_wait_time_seconds: 5\n:status_address: 127.0.0.1:{port}\n",
                log = self.dir.path().join("log").display(),
                root = self.root().display(),
                endpoint = self.sim.endpoint(),
                s3 = self.moto_url,
                onprem = onprem.display(),
                port = self.status_port,
            ),
        )
        .unwrap();
    }

    /// Adds `lines` (official or Slipway keys) to the agent's configuration.
    pub fn configure(&self, lines: &str) {
        let mut text = std::fs::read_to_string(self.config_path()).unwrap();
        text.push_str(lines);
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// Makes deployment group `name` of application shop, over host-1.
    pub async fn create_group(&self, name: &str) {
        self.codedeploy
            .create_deployment_group()
            .application_name("shop")
            .deployment_group_name(name)
            .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
            .on_premises_instance_tag_filters(
                TagFilter::builder()
                    .key("fleet")
                    .value("web")
                    .r#type(TagFilterType::KeyAndValue)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// Starts `slipway-agent run` on this host.
    pub fn agent(&self) -> Agent {
        self.agent_with(&[])
    }

    /// Starts `slipway-agent [global_args] run` on this host.
    pub fn agent_with(&self, global_args: &[&str]) -> Agent {
        let log = self.dir.path().join(format!(
            "agent-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
            .args(global_args)
            .arg("run")
            .arg("--config")
            .arg(self.config_path())
            .env_remove("AWS_HOST_IDENTIFIER")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Agent { child, log }
    }

    /// Packs `revision` as tgz, uploads it and deploys it; returns the deployment id.
    pub async fn deploy(&self, revision: &crate::common::Revision, key: &str) -> String {
        self.deploy_to("web", revision, key).await
    }

    /// [`Bed::deploy`] to deployment group `group`.
    pub async fn deploy_to(
        &self,
        group: &str,
        revision: &crate::common::Revision,
        key: &str,
    ) -> String {
        deploy(&self.codedeploy, &self.s3, group, revision, key).await
    }

    /// Waits for the deployment's final status.
    pub async fn wait_for_end(&self, deployment_id: &str) -> String {
        wait_for_end(&self.sim, deployment_id).await
    }

    /// The host's lifecycle events in `deployment_id`.
    /// Event `name` of host-1 in the deployment; panics if it has none.
    pub async fn lifecycle_event(&self, deployment_id: &str, name: &str) -> LifecycleEvent {
        self.lifecycle_events(deployment_id)
            .await
            .into_iter()
            .find(|e| e.lifecycle_event_name() == Some(name))
            .unwrap_or_else(|| panic!("{deployment_id} has no {name} on host-1"))
    }

    pub async fn lifecycle_events(&self, deployment_id: &str) -> Vec<LifecycleEvent> {
        self.codedeploy
            .batch_get_deployment_targets()
            .deployment_id(deployment_id)
            .target_ids("host-1")
            .send()
            .await
            .unwrap()
            .deployment_targets
            .and_then(|mut t| t.pop())
            .and_then(|t| t.instance_target)
            .and_then(|t| t.lifecycle_events)
            .unwrap_or_default()
    }

    /// GETs `path` from the agent's status API (waiting for it to listen).
    pub async fn status_api(&self, path: &str) -> String {
        let url = format!("http://127.0.0.1:{}{path}", self.status_port);
        let until = Instant::now() + DEADLINE;
        loop {
            match reqwest::get(&url).await {
                Ok(r) if r.status().is_success() => return r.text().await.unwrap(),
                _ if Instant::now() >= until => panic!("{url} never answered"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// Packs `revision` as tgz, uploads it to the bucket `releases` and
/// deploys it to group `group` of application shop; returns the deployment id.
pub async fn deploy(
    codedeploy: &aws_sdk_codedeploy::Client,
    s3: &aws_sdk_s3::Client,
    group: &str,
    revision: &crate::common::Revision,
    key: &str,
) -> String {
    let bundle = revision.pack("tgz");
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(std::fs::read(&bundle).unwrap()))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().trim_matches('"').to_owned();
    let location = RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(
            S3Location::builder()
                .bucket(BUCKET)
                .key(key)
                .bundle_type(BundleType::TarGZip)
                .e_tag(etag)
                .build(),
        )
        .build();
    codedeploy
        .create_deployment()
        .application_name("shop")
        .deployment_group_name(group)
        .revision(location)
        .send()
        .await
        .unwrap()
        .deployment_id
        .unwrap()
}

/// An S3 client of moto at `url`.
pub fn s3_client(url: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .endpoint_url(url)
            .force_path_style(true)
            .build(),
    )
}

/// A CodeDeploy client of `endpoint` signing as `operator`, without retries.
pub fn codedeploy_client(
    endpoint: &str,
    operator: &IssuedCredential,
) -> aws_sdk_codedeploy::Client {
    aws_sdk_codedeploy::Client::from_conf(
        aws_sdk_codedeploy::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new(
                &operator.access_key_id,
                &operator.secret_access_key,
                operator.session_token.clone(),
                None,
                "test",
            ))
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

/// Waits for the deployment's final status.
pub async fn wait_for_end(sim: &SimulatorHandle, deployment_id: &str) -> String {
    let until = Instant::now() + DEADLINE;
    loop {
        match sim.deployment_status(deployment_id).as_deref() {
            Some(s @ ("Succeeded" | "Failed" | "Stopped")) => return s.to_owned(),
            _ if Instant::now() >= until => {
                panic!("{deployment_id} did not end within {DEADLINE:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A running agent process, stopped (SIGKILL) when dropped.
pub struct Agent {
    pub child: Child,
    pub log: PathBuf,
}

impl Agent {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit (SIGKILL after the deadline).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.child.id(), libc::SIGTERM);
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= until {
                self.kill();
                panic!("the agent ignored SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

/// Waits until `path` exists.
pub async fn wait_for_file(path: &Path) {
    let until = Instant::now() + DEADLINE;
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
