//! Shared by the daemon's tests: the CodeDeploy simulator with one
//! on-premises host registered, moto's S3 holding the bundles, and
//! `slipway-agent run` started as a real process from official-format
//! `codedeployagent.yml` and `codedeploy.onpremises.yml` files.
//! [`fleet`] is the bed of several hosts; [`services`] what both beds share.

#![allow(dead_code)]

pub mod fleet;
pub mod services;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_codedeploy::types::LifecycleEvent;
use slipway_tests::codedeploy::SimulatorHandle;
use slipway_tests::credentials::CredentialStore;

pub const DEADLINE: Duration = Duration::from_secs(90);
pub const HOST_ARN: &str = "arn:aws:iam::123456789012:user/host-1";

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Bed {
    pub async fn start() -> Bed {
        Bed::configured(|_| {}).await
    }

    /// [`Bed::start`], the simulator's configuration changed by `configure`.
    pub async fn configured(
        configure: impl FnOnce(&mut slipway_tests::codedeploy::SimulatorConfig),
    ) -> Bed {
        let store = CredentialStore::default();
        store.insert(services::credential("AKIAHOST000000000001", HOST_ARN));
        let (sim, codedeploy) = services::simulator_configured(store, configure).await;
        sim.register_on_premises_instance("host-1", HOST_ARN, &[services::TAG]);
        services::create_group(
            &codedeploy,
            services::Group {
                config: "CodeDeployDefault.OneAtATime",
                rollback_on_failure: false,
            },
        )
        .await;
        let moto = slipway_tests::Moto::start().await.unwrap();
        let moto_url = moto.url().to_owned();
        let s3 = services::s3(&moto_url).await;
        let bed = Bed {
            sim,
            codedeploy,
            s3,
            _moto: moto,
            moto_url,
            dir: tempfile::tempdir().unwrap(),
            status_port: free_port(),
        };
        bed.write_configs();
        bed
    }

    /// moto's URL, where the bundles are.
    pub fn moto_url(&self) -> &str {
        &self.moto_url
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

    /// Adds `key: value` lines to the agent's `codedeployagent.yml`.
    pub fn configure_agent(&self, lines: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.config_path())
            .unwrap();
        file.write_all(lines.as_bytes()).unwrap();
    }

    /// Sets `:key: value` in the agent's `codedeployagent.yml`, in place of
    /// the key's line if it has one (a key twice is refused).
    pub fn set_agent_key(&self, key: &str, value: &str) {
        let text = std::fs::read_to_string(self.config_path()).unwrap();
        let prefix = format!(":{key}:");
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        lines.push(format!("{prefix} {value}"));
        std::fs::write(self.config_path(), lines.join("\n") + "\n").unwrap();
    }

    /// Makes deployment group `name` of application shop over the bed's hosts.
    pub async fn create_group(&self, name: &str) {
        services::create_named_group(&self.codedeploy, name).await;
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
        Agent::start_with(&self.config_path(), log, &[], global_args)
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
        services::deploy_to_group(&self.codedeploy, &self.s3, group, revision, key, "tgz").await
    }

    /// Waits for the deployment's final status.
    pub async fn wait_for_end(&self, deployment_id: &str) -> String {
        services::wait_for_end(&self.sim, deployment_id, String::new).await
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

/// A running agent process, stopped (SIGKILL) when dropped.
pub struct Agent {
    pub child: Child,
    pub log: PathBuf,
}

impl Agent {
    /// Starts `slipway-agent run --config CONFIG`, its stderr to `log`,
    /// with `env` added to its environment (and so to its hooks').
    pub fn start(config: &Path, log: PathBuf, env: &[(&str, &std::ffi::OsStr)]) -> Agent {
        Agent::start_with(config, log, env, &[])
    }

    /// [`Agent::start`] with `global_args` before `run`.
    pub fn start_with(
        config: &Path,
        log: PathBuf,
        env: &[(&str, &std::ffi::OsStr)],
        global_args: &[&str],
    ) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
            .args(global_args)
            .arg("run")
            .arg("--config")
            .arg(config)
            .env_remove("AWS_HOST_IDENTIFIER")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Agent { child, log }
    }

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
