//! Running `slipway` as an Actions step would, against a sandbox.

use std::path::PathBuf;

use slipway_tests::Sandbox;
use tempfile::TempDir;

/// A sandbox with only OIDC and STS, the trust policy's default claims.
pub async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .without_moto()
        .start()
        .await
        .expect("sandbox starts")
}

/// One `slipway credentials` run and what it left behind.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub github_env: Vec<(String, String)>,
    pub github_output: Vec<(String, String)>,
    /// The job summary's Markdown.
    pub summary: String,
}

impl Run {
    pub fn env(&self, name: &str) -> Option<&str> {
        lookup(&self.github_env, name)
    }

    pub fn output(&self, name: &str) -> Option<&str> {
        lookup(&self.github_output, name)
    }

    /// Fails the test, showing stderr, unless it holds every one of `needed`.
    pub fn assert_stderr_has(&self, needed: &[&str]) {
        for text in needed {
            assert!(
                self.stderr.contains(text),
                "{text:?} missing from stderr:\n{}",
                self.stderr
            );
        }
    }

    /// Both streams, for messages that may go to either.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn lookup<'a>(entries: &'a [(String, String)], name: &str) -> Option<&'a str> {
    entries
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A step's environment: what the runner sets for a job with
/// `id-token: write` in `acme/shop`, the sandbox's endpoints, and inputs
/// for the sandbox's deploy role. Nothing from the test's own environment.
pub struct Step {
    vars: Vec<(String, String)>,
    args: Vec<String>,
    dir: TempDir,
}

impl Step {
    pub fn new(sandbox: &Sandbox) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let step = Self {
            vars: Vec::new(),
            args: Vec::new(),
            dir,
        };
        let env_file = step.path("github_env");
        let output_file = step.path("github_output");
        let summary_file = step.path("step_summary");
        step.set("GITHUB_ACTIONS", "true")
            .set("GITHUB_ENV", env_file.to_str().unwrap())
            .set("GITHUB_OUTPUT", output_file.to_str().unwrap())
            .set("GITHUB_STEP_SUMMARY", summary_file.to_str().unwrap())
            .set("GITHUB_REPOSITORY", "acme/shop")
            .set("GITHUB_RUN_ID", "12345678901")
            .set("GITHUB_RUN_ATTEMPT", "1")
            .set(
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                &sandbox.oidc().request_url(),
            )
            .set(
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                &sandbox.oidc().request_token(),
            )
            .set("AWS_ENDPOINT_URL_STS", &sandbox.sts_endpoint())
            .set("INPUT_AWS-REGION", sandbox.region())
            .set("INPUT_ROLE-TO-ASSUME", &sandbox.deploy_role_arn())
    }

    /// Outside Actions: no runner variables but the token endpoint's.
    pub fn outside_actions(mut self) -> Self {
        self.vars
            .retain(|(k, _)| !k.starts_with("GITHUB_") && !k.starts_with("INPUT_"));
        self
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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `slipway credentials` to completion.
    pub async fn run(self) -> Run {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
            .arg("credentials")
            .args(&self.args)
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true)
            .output()
            .await
            .expect("slipway runs");
        // Read from wherever the step was told to write, which a test may
        // share between steps.
        let var = |name: &str| {
            self.vars
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| PathBuf::from(v))
        };
        let read = |name: &str| {
            let text = var(name)
                .and_then(|path| std::fs::read_to_string(path).ok())
                .unwrap_or_default();
            runner_file_command(&text).expect("the file command file reads as the runner reads it")
        };
        Run {
            success: output.status.success(),
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
            github_env: read("GITHUB_ENV"),
            github_output: read("GITHUB_OUTPUT"),
            summary: std::fs::read_to_string(self.path("step_summary")).unwrap_or_default(),
        }
    }
}

pub use crate::runner_files::runner_file_command;

/// The JSON trust statement a diagnosis printed, parsed.
pub fn printed_statement(stderr: &str) -> serde_json::Value {
    let start = stderr.find("\n{").expect("a JSON statement") + 1;
    let end = stderr.rfind('}').expect("the statement's end") + 1;
    serde_json::from_str(&stderr[start..end]).expect("the statement is JSON")
}

/// The environment a later step of the job sees: each GITHUB_ENV entry in
/// order, a later one replacing an earlier one of the same name.
pub fn later_step_env(
    github_env: &[(String, String)],
) -> std::collections::BTreeMap<String, String> {
    github_env.iter().cloned().collect()
}
