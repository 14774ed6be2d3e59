//! The sandbox set up for deploys: moto's S3, the CodeDeploy simulator with
//! application `shop`, group `web` and scripted on-premises hosts, and a
//! `slipway` step run as the Actions runner would run it.

#![allow(dead_code)] // each test takes what it needs

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_codedeploy::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_codedeploy::types::{
    AutoRollbackConfiguration, AutoRollbackEvent, TagFilter, TagFilterType,
};
use slipway_tests::Sandbox;
use slipway_tests::scripted_host::{Outcome, RunningHost, Script};
use tempfile::TempDir;

use crate::repo::Repo;

pub const APPLICATION: &str = "shop";
pub const GROUP: &str = "web";
pub const BUCKET: &str = "shop-releases";
const TAG: (&str, &str) = ("slipway-test", "web");
/// Long enough to watch, short enough for a test.
pub const HOOK_TIME: Duration = Duration::from_millis(50);

/// What the group looks like.
pub struct Setup {
    pub hosts: usize,
    pub config: &'static str,
    pub auto_rollback: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            hosts: 3,
            config: "CodeDeployDefault.OneAtATime",
            auto_rollback: false,
        }
    }
}

pub struct Bed {
    pub sandbox: Sandbox,
    pub hosts: Vec<RunningHost>,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub s3: aws_sdk_s3::Client,
    pub repo: Repo,
}

fn static_credentials(sandbox: &Sandbox) -> Credentials {
    let c = sandbox.static_credentials();
    Credentials::new(&c.access_key_id, &c.secret_access_key, None, None, "test")
}

impl Bed {
    /// The sandbox, the group per `setup`, every host succeeding, the bucket.
    pub async fn start(setup: Setup) -> Self {
        Self::start_with(setup, |_| Script::all(Outcome::Succeed(HOOK_TIME))).await
    }

    pub async fn start_with(setup: Setup, script: impl Fn(usize) -> Script) -> Self {
        let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
        let codedeploy = aws_sdk_codedeploy::Client::from_conf(
            aws_sdk_codedeploy::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(sandbox.region().to_owned()))
                .endpoint_url(sandbox.codedeploy_endpoint())
                .credentials_provider(static_credentials(&sandbox))
                .build(),
        );
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new(sandbox.region().to_owned()))
                .endpoint_url(sandbox.s3_endpoint())
                .force_path_style(true)
                .credentials_provider(static_credentials(&sandbox))
                .build(),
        );
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("bucket");
        codedeploy
            .create_application()
            .application_name(APPLICATION)
            .send()
            .await
            .expect("application");
        let mut group = codedeploy
            .create_deployment_group()
            .application_name(APPLICATION)
            .deployment_group_name(GROUP)
            .deployment_config_name(setup.config)
            .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
            .on_premises_instance_tag_filters(
                TagFilter::builder()
                    .key(TAG.0)
                    .value(TAG.1)
                    .r#type(TagFilterType::KeyAndValue)
                    .build(),
            );
        if setup.auto_rollback {
            group = group.auto_rollback_configuration(
                AutoRollbackConfiguration::builder()
                    .enabled(true)
                    .events(AutoRollbackEvent::DeploymentFailure)
                    .events(AutoRollbackEvent::DeploymentStopOnRequest)
                    .build(),
            );
        }
        group.send().await.expect("deployment group");
        let hosts = slipway_tests::demo::spawn_scripted_hosts(&sandbox, setup.hosts, TAG, script);
        Self {
            sandbox,
            hosts,
            codedeploy,
            s3,
            repo: Repo::shop(),
        }
    }

    /// A `slipway COMMAND` step in `acme/shop` with the deploy role's inputs.
    pub fn step(&self, command: &str) -> Step {
        Step::new(&self.sandbox, command, self.repo.path().to_owned())
    }

    /// The deployment's status in the simulator.
    pub fn status(&self, id: &str) -> String {
        self.sandbox
            .codedeploy()
            .deployment_status(id)
            .unwrap_or_default()
    }

    /// The deployment as GetDeployment describes it.
    pub async fn deployment(&self, id: &str) -> aws_sdk_codedeploy::types::DeploymentInfo {
        self.codedeploy
            .get_deployment()
            .deployment_id(id)
            .send()
            .await
            .expect("GetDeployment")
            .deployment_info()
            .cloned()
            .expect("deploymentInfo")
    }

    /// How many deployments the group has had.
    pub async fn deployment_count(&self) -> usize {
        self.codedeploy
            .list_deployments()
            .application_name(APPLICATION)
            .deployment_group_name(GROUP)
            .send()
            .await
            .expect("ListDeployments")
            .deployments()
            .len()
    }

    /// Objects in the bucket.
    pub async fn objects(&self) -> Vec<String> {
        self.s3
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .expect("list")
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

/// One `slipway` run and what it left behind.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub outputs: Vec<(String, String)>,
    pub summary: String,
}

impl Run {
    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no output {name}: {:?}\n{}", self.outputs, self.all()))
    }

    pub fn all(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{}", self.all());
        self
    }
}

pub struct Step {
    command: String,
    vars: Vec<(String, String)>,
    args: Vec<String>,
    dir: TempDir,
    cwd: PathBuf,
}

impl Step {
    fn new(sandbox: &Sandbox, command: &str, cwd: PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut step = Self {
            command: command.to_owned(),
            vars: sandbox.env(),
            args: Vec::new(),
            dir,
            cwd,
        };
        // The deploy role, not the sandbox's static keys.
        step.vars
            .retain(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"));
        let file = |n: &str| step.dir.path().join(n).to_string_lossy().into_owned();
        let (output, summary, env) = (file("output"), file("summary"), file("env"));
        step.set("GITHUB_ACTIONS", "true")
            .set("GITHUB_OUTPUT", &output)
            .set("GITHUB_STEP_SUMMARY", &summary)
            .set("GITHUB_ENV", &env)
            .set("GITHUB_REPOSITORY", "acme/shop")
            .set("GITHUB_RUN_ID", "12345678901")
            .set("GITHUB_RUN_ATTEMPT", "1")
            .set("GITHUB_ACTOR", "octocat")
            .set("GITHUB_SERVER_URL", "https://github.com")
            .set("INPUT_ROLE-TO-ASSUME", &sandbox.deploy_role_arn())
            .set("INPUT_AWS-REGION", sandbox.region())
            .set("INPUT_APPLICATION", APPLICATION)
            .set("INPUT_DEPLOYMENT-GROUP", GROUP)
            .set("INPUT_S3-BUCKET", BUCKET)
            .set("INPUT_POLL-INTERVAL", "0.2")
    }

    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn unset(mut self, name: &str) -> Self {
        self.vars.retain(|(k, _)| k != name);
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub async fn run(self) -> Run {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
            .arg(&self.command)
            .args(&self.args)
            .current_dir(&self.cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true)
            .output()
            .await
            .expect("slipway runs");
        let text = std::fs::read_to_string(self.dir.path().join("output")).unwrap_or_default();
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            outputs: crate::runner_files::runner_file_command(&text)
                .expect("GITHUB_OUTPUT parses")
                .into_iter()
                .collect(),
            summary: std::fs::read_to_string(self.dir.path().join("summary")).unwrap_or_default(),
        }
    }
}
