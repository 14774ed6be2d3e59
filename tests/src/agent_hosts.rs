//! On-premises hosts for real agents: each registered with its own IAM
//! user, tagged, and given the official agent's two configuration files,
//! so that `slipway-agent run --config DIR/host-<i>/codedeployagent.yml`
//! (or the official agent, given the same file) serves it unchanged.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::credentials::IssuedCredential;
use crate::ids;
use crate::sandbox::Sandbox;

/// An on-premises instance registered with the sandbox's CodeDeploy.
#[derive(Debug, Clone)]
pub struct RegisteredHost {
    /// The instance name, `host-<i>`.
    pub name: String,
    /// The IAM user it is registered with (its host identifier).
    pub iam_arn: String,
    /// That user's access keys, accepted by the sandbox's signed services.
    pub credential: IssuedCredential,
}

/// A registered host's configuration directory.
#[derive(Debug, Clone)]
pub struct AgentHost {
    /// The registration.
    pub host: RegisteredHost,
    /// `DIR/host-<i>`: the configuration, deployment root and logs.
    pub dir: PathBuf,
}

impl AgentHost {
    /// The official `codedeployagent.yml`, the file `--config` takes.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("codedeployagent.yml")
    }

    /// The official `codedeploy.onpremises.yml` the config names.
    pub fn on_premises_path(&self) -> PathBuf {
        self.dir.join("codedeploy.onpremises.yml")
    }

    /// The deployment root (`root_dir`).
    pub fn root_dir(&self) -> PathBuf {
        self.dir.join("deployment-root")
    }

    /// The agent's own log directory (`log_dir`).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The status API's unix socket (Slipway's `status_socket`), one per
    /// host so that agents sharing a machine do not take each other's.
    pub fn status_socket(&self) -> PathBuf {
        self.dir.join("status.sock")
    }

    /// Creates the host's directories and writes its two files, pointing
    /// at the command plane `endpoint` and S3 at `s3`.
    pub fn write(&self, endpoint: &str, s3: Option<&str>, region: &str) -> Result<(), Error> {
        for dir in [self.root_dir(), self.log_dir(), self.dir.join("state/.pid")] {
            std::fs::create_dir_all(&dir).map_err(|source| Error::WriteAgentConfig {
                path: dir.clone(),
                source,
            })?;
        }
        write(
            &self.on_premises_path(),
            &on_premises_yml(&self.host, region),
            0o600,
        )?;
        write(&self.config_path(), &agent_yml(self, endpoint, s3), 0o644)
    }
}

/// Registers `count` on-premises instances, `host-1` and on, tagged with
/// `tag`, each with its own IAM user and fresh access keys that the
/// sandbox's STS, CodeDeploy and host command plane accept.
pub fn register_hosts(sandbox: &Sandbox, count: usize, tag: (&str, &str)) -> Vec<RegisteredHost> {
    (1..=count)
        .map(|i| {
            let name = format!("host-{i}");
            let iam_arn = format!("arn:aws:iam::{}:user/{name}", sandbox.account_id());
            let credential = IssuedCredential {
                access_key_id: ids::access_key_id("AKIA"),
                secret_access_key: ids::secret_access_key(),
                session_token: None,
                expiration: None,
                principal_arn: iam_arn.clone(),
            };
            sandbox.credential_store().insert(credential.clone());
            sandbox
                .codedeploy()
                .register_on_premises_instance(&name, &iam_arn, &[tag]);
            RegisteredHost {
                name,
                iam_arn,
                credential,
            }
        })
        .collect()
}

/// Registers `count` hosts as [`register_hosts`] does and writes each one's
/// configuration under `dir/host-<i>/`, pointing at the sandbox's command
/// plane and S3 (moto), with its own deployment root, logs and status socket.
pub fn write_agent_hosts(
    sandbox: &Sandbox,
    count: usize,
    tag: (&str, &str),
    dir: &Path,
) -> Result<Vec<AgentHost>, Error> {
    let s3 = sandbox.moto_endpoint();
    register_hosts(sandbox, count, tag)
        .into_iter()
        .map(|host| {
            let agent = AgentHost {
                dir: dir.join(&host.name),
                host,
            };
            agent.write(
                &sandbox.codedeploy_endpoint(),
                s3.as_deref(),
                sandbox.region(),
            )?;
            Ok(agent)
        })
        .collect()
}

/// The official `codedeployagent.yml`, in the `:key:` form the package
/// ships. Paths and URLs are single-quoted YAML scalars.
fn agent_yml(agent: &AgentHost, endpoint: &str, s3: Option<&str>) -> String {
    let dir = |p: PathBuf| quote(&format!("{}/", p.display()));
    let mut yml = format!(
        "# {name} of the Slipway sandbox, in the official agent's format.\n\
         ---\n\
         :log_aws_wire: false\n\
         :log_dir: {log_dir}\n\
         :pid_dir: {pid_dir}\n\
         :program_name: codedeploy-agent\n\
         :root_dir: {root_dir}\n\
         :verbose: false\n\
         # The shipped 1 s pause after each poll only slows deployments down:\n\
         # the command plane long-polls.\n\
         :wait_between_runs: 0\n\
         :max_revisions: 5\n\
         # A stopping agent lets a running hook finish for this long, not 2 h.\n\
         :kill_agent_max_wait_time_seconds: 10\n\
         :on_premises_config_file: {on_premises}\n\
         :deploy_control_endpoint: {endpoint}\n\
         # The sandbox speaks plain http; the official agent's default profile\n\
         # (prod) checks the endpoint with an HTTPS GET at start, beta does not.\n\
         :codedeploy_test_profile: beta\n",
        name = agent.host.name,
        log_dir = dir(agent.log_dir()),
        pid_dir = dir(agent.dir.join("state/.pid")),
        root_dir = quote(&agent.root_dir().display().to_string()),
        on_premises = quote(&agent.on_premises_path().display().to_string()),
        endpoint = quote(endpoint),
    );
    if let Some(s3) = s3 {
        yml.push_str(&format!(":s3_endpoint_override: {}\n", quote(s3)));
    }
    yml.push_str(&format!(
        "# Slipway's own key (the official agent ignores it): one status socket per host.\n\
         :status_socket: {}\n",
        quote(&agent.status_socket().display().to_string())
    ));
    yml
}

/// The official `codedeploy.onpremises.yml` for an IAM user's static keys.
fn on_premises_yml(host: &RegisteredHost, region: &str) -> String {
    format!(
        "---\n\
         aws_access_key_id: {}\n\
         aws_secret_access_key: {}\n\
         iam_user_arn: {}\n\
         region: {}\n",
        quote(&host.credential.access_key_id),
        quote(&host.credential.secret_access_key),
        quote(&host.iam_arn),
        quote(region),
    )
}

/// A YAML single-quoted scalar.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Writes `text` beside `path` with `mode`, then renames it into place, so
/// an agent started early never reads half a file and the keys are never
/// readable by others, even for a moment.
fn write(path: &Path, text: &str, mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| Error::WriteAgentConfig {
        path: path.to_owned(),
        source,
    };
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&partial)
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    drop(file);
    std::fs::rename(&partial, path).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(dir: &str) -> AgentHost {
        AgentHost {
            host: RegisteredHost {
                name: "host-2".into(),
                iam_arn: "arn:aws:iam::123456789012:user/host-2".into(),
                credential: IssuedCredential {
                    access_key_id: "AKIAEXAMPLE".into(),
                    secret_access_key: "se'cret".into(),
                    session_token: None,
                    expiration: None,
                    principal_arn: "arn:aws:iam::123456789012:user/host-2".into(),
                },
            },
            dir: PathBuf::from(dir),
        }
    }

    #[test]
    fn the_agent_config_is_the_official_format_and_slipway_reads_it() {
        let agent = agent("/tmp/it's/host-2");
        let text = agent_yml(&agent, "http://127.0.0.1:1", Some("http://127.0.0.1:2"));
        let config = slipway_agent::config::Config::parse(&agent.config_path(), &text).unwrap();
        assert_eq!(config.root_dir, agent.root_dir());
        assert_eq!(config.log_dir, PathBuf::from("/tmp/it's/host-2/log/"));
        assert_eq!(config.on_premises_config_file, agent.on_premises_path());
        assert_eq!(
            config.deploy_control_endpoint.as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            config.s3_endpoint_override.as_deref(),
            Some("http://127.0.0.1:2")
        );
        assert_eq!(config.status_socket, agent.status_socket());
        assert_eq!(config.wait_between_runs, 0.0);
        assert!(config.unknown_keys.is_empty(), "{:?}", config.unknown_keys);
        assert!(
            text.lines()
                .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l.starts_with(':'))
        );
    }

    #[test]
    fn the_on_premises_file_quotes_its_values() {
        let text = on_premises_yml(&agent("/h").host, "us-east-1");
        assert!(
            text.contains("aws_secret_access_key: 'se''cret'\n"),
            "{text}"
        );
        assert!(text.contains("iam_user_arn: 'arn:aws:iam::123456789012:user/host-2'\n"));
    }
}
