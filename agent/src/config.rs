//! The official agent's `codedeployagent.yml`: the keys this agent uses,
//! with the official defaults. Ruby symbolizes the keys, so `:root_dir:` and
//! `root_dir:` mean the same; keys this agent does not use are ignored, as
//! the official agent ignores keys it does not know (this agent warns of
//! them, see [`Config::unknown_keys`]).

use std::path::{Path, PathBuf};

use slipway_shared::yaml::{self, Node, Value};

use crate::bundle::Limits;
use crate::{Error, Result};

/// Where the official package installs its configuration.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/codedeploy-agent/conf/codedeployagent.yml";
/// The shipped configuration's deployment root.
pub const DEFAULT_ROOT_DIR: &str = "/opt/codedeploy-agent/deployment-root";
/// The official default log directory.
pub const DEFAULT_LOG_DIR: &str = "/var/log/aws/codedeploy-agent/";
/// The official default number of revisions kept per deployment group.
pub const DEFAULT_MAX_REVISIONS: u32 = 5;
/// Where the official package installs the on-premises identity.
pub const DEFAULT_ON_PREMISES_CONFIG: &str = "/etc/codedeploy-agent/conf/codedeploy.onpremises.yml";

/// Official keys this agent reads nowhere but accepts without a warning.
const KNOWN_UNUSED: &[&str] = &[
    "pid_dir",
    "children",
    "codedeploy_test_profile",
    "use_mock_command_service",
    "enable_auth_policy_for_s3",
];

/// The agent's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `root_dir`: the deployment root.
    pub root_dir: PathBuf,
    /// `log_dir`: the agent's own logs.
    pub log_dir: PathBuf,
    /// `program_name`: names the agent's log file, `<log_dir>/<program_name>.log`.
    pub program_name: String,
    /// `max_revisions`: revisions kept per deployment group (≥ 1).
    pub max_revisions: u32,
    /// `s3_endpoint_override`: where S3 requests go instead of AWS.
    pub s3_endpoint_override: Option<String>,
    /// `enable_deployments_log`: whether `deployment-logs/` is written.
    pub enable_deployments_log: bool,
    /// Slipway's own keys `bundle_max_expanded_bytes`, `bundle_max_entries`
    /// and `bundle_max_ratio`: what an archive may expand to.
    pub limits: Limits,
    /// `wait_between_runs`: seconds slept after each poll (official default 1).
    pub wait_between_runs: f64,
    /// `http_read_timeout`: seconds a long poll may take to answer (80).
    pub http_read_timeout: u64,
    /// `wait_after_throttle_error`: seconds slept after throttling (60).
    pub wait_after_throttle_error: u64,
    /// `kill_agent_max_wait_time_seconds`: how long a stopping agent lets a
    /// running hook go on before it ends the hook's process group (7200).
    pub kill_agent_max_wait_time_seconds: u64,
    /// `deploy_control_endpoint`: the command endpoint, overriding the
    /// `codedeploy-commands…` name.
    pub deploy_control_endpoint: Option<String>,
    /// `enable_auth_policy`: speak `codedeploy-commands-secure`.
    pub enable_auth_policy: bool,
    /// `use_fips_mode`: the `-fips` endpoint.
    pub use_fips_mode: bool,
    /// `disable_imds_v1`: no IMDSv1 fallback.
    pub disable_imds_v1: bool,
    /// `proxy_uri`: the HTTP proxy for the command endpoint and S3 (checked
    /// to be an `http://` or `https://` URL with a host).
    pub proxy_uri: Option<String>,
    /// Slipway's `no_proxy`: hosts reached without the proxy, in curl's
    /// `NO_PROXY` syntax; unset, the `NO_PROXY`/`no_proxy` environment.
    pub no_proxy: Option<String>,
    /// Slipway's `tls_ca_bundle`: PEM certificates trusted for TLS beside
    /// the system roots, for the command endpoint and S3.
    pub tls_ca_bundle: Option<PathBuf>,
    /// `on_premises_config_file`: the on-premises identity.
    pub on_premises_config_file: PathBuf,
    /// `ongoing_deployment_tracking`: the tracking directory under `root_dir`.
    pub ongoing_deployment_tracking: String,
    /// `verbose`: debug logging.
    pub verbose: bool,
    /// `log_aws_wire`: accepted; this agent logs calls at debug level instead.
    pub log_aws_wire: bool,
    /// Slipway's `development_endpoint`: accept `TEXT/JSON` specs.
    pub development_endpoint: bool,
    /// Slipway's `envelope_ca_bundle`: strict signer check against this CA bundle.
    pub envelope_ca_bundle: Option<PathBuf>,
    /// Slipway's `envelope_signer_cn`: with the CA bundle, the signer's CN.
    pub envelope_signer_cn: Option<String>,
    /// Slipway's `command_update_interval`: seconds between the
    /// PostHostCommandUpdate calls sent while a command runs (300).
    pub command_update_interval: u64,
    /// Slipway's `status_address`: serve the status API on 127.0.0.1:PORT.
    pub status_address: Option<String>,
    /// Slipway's `status_socket`: the status API's unix socket.
    pub status_socket: PathBuf,
    /// Slipway's `status_socket_group`: the group (name or id) that may
    /// use the status socket; unset, the agent's own.
    pub status_socket_group: Option<String>,
    /// The file this configuration was read from, to name it in errors.
    pub path: PathBuf,
    /// Keys neither this agent nor the official one knows, with their lines.
    pub unknown_keys: Vec<(String, u64)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            root_dir: PathBuf::from(DEFAULT_ROOT_DIR),
            log_dir: PathBuf::from(DEFAULT_LOG_DIR),
            program_name: "codedeploy-agent".to_owned(),
            max_revisions: DEFAULT_MAX_REVISIONS,
            s3_endpoint_override: None,
            enable_deployments_log: true,
            limits: Limits::default(),
            wait_between_runs: 1.0,
            http_read_timeout: 80,
            wait_after_throttle_error: 60,
            kill_agent_max_wait_time_seconds: 7200,
            deploy_control_endpoint: None,
            enable_auth_policy: false,
            use_fips_mode: false,
            disable_imds_v1: false,
            proxy_uri: None,
            no_proxy: None,
            tls_ca_bundle: None,
            on_premises_config_file: PathBuf::from(DEFAULT_ON_PREMISES_CONFIG),
            ongoing_deployment_tracking: "ongoing-deployment".to_owned(),
            verbose: false,
            log_aws_wire: false,
            development_endpoint: false,
            envelope_ca_bundle: None,
            envelope_signer_cn: None,
            command_update_interval: 300,
            status_address: None,
            status_socket: PathBuf::from("/run/slipway-agent/status.sock"),
            status_socket_group: None,
            path: PathBuf::from(DEFAULT_CONFIG_PATH),
            unknown_keys: Vec::new(),
        }
    }
}

impl Config {
    /// The agent's log file, where the official agent writes its own:
    /// `<log_dir>/<program_name>.log`.
    pub fn log_file(&self) -> PathBuf {
        self.log_dir.join(format!("{}.log", self.program_name))
    }

    /// Reads `path`. A missing file at the default path gives the defaults,
    /// as a host without the official package has none; a missing file the
    /// operator named is an error.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (path, named) = match path {
            Some(p) => (p.to_owned(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&path, &text),
            Err(e) if !named && e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(Error::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Reads the text of a configuration file (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let bad = |line: u64, reason: String| Error::Config {
            path: path.to_owned(),
            reason: if line > 0 {
                format!("line {line}: {reason}")
            } else {
                reason
            },
        };
        let mut config = Config {
            path: path.to_owned(),
            ..Config::default()
        };
        if text.trim().is_empty() {
            return Ok(config);
        }
        let root = yaml::parse(text).map_err(|e| bad(0, e.to_string()))?;
        let Value::Map(entries) = root.value else {
            return Err(bad(root.pos.line, "expected a mapping of keys".into()));
        };
        for (key, value) in &entries {
            let Value::Str(name) = &key.value else {
                continue;
            };
            let line = key.pos.line;
            match name.trim_start_matches(':') {
                "root_dir" => {
                    config.root_dir = PathBuf::from(string(value).map_err(|r| bad(line, r))?)
                }
                "log_dir" => {
                    config.log_dir = PathBuf::from(string(value).map_err(|r| bad(line, r))?)
                }
                "program_name" => config.program_name = string(value).map_err(|r| bad(line, r))?,
                "command_update_interval" => {
                    config.command_update_interval = positive(value).map_err(|r| bad(line, r))?
                }
                "max_revisions" => {
                    let n = integer(value).map_err(|r| bad(line, r))?;
                    config.max_revisions =
                        u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                            bad(
                                line,
                                format!("max_revisions must be an integer of at least 1, not {n}"),
                            )
                        })?;
                }
                "s3_endpoint_override" => {
                    config.s3_endpoint_override = match &value.value {
                        Value::Null => None,
                        _ => Some(string(value).map_err(|r| bad(line, r))?),
                    }
                }
                "enable_deployments_log" => {
                    config.enable_deployments_log = boolean(value).map_err(|r| bad(line, r))?
                }
                "enable_auth_policy" => {
                    config.enable_auth_policy = boolean(value).map_err(|r| bad(line, r))?
                }
                "use_fips_mode" => {
                    config.use_fips_mode = boolean(value).map_err(|r| bad(line, r))?
                }
                "disable_imds_v1" => {
                    config.disable_imds_v1 = boolean(value).map_err(|r| bad(line, r))?
                }
                "verbose" => config.verbose = boolean(value).map_err(|r| bad(line, r))?,
                "log_aws_wire" => config.log_aws_wire = boolean(value).map_err(|r| bad(line, r))?,
                "development_endpoint" => {
                    config.development_endpoint = boolean(value).map_err(|r| bad(line, r))?
                }
                "wait_between_runs" => {
                    config.wait_between_runs = match &value.value {
                        Value::Int(n) if *n >= 0 => *n as f64,
                        Value::Float(f) if *f >= 0.0 => *f,
                        other => {
                            return Err(bad(
                                line,
                                format!(
                                    "wait_between_runs must be a number of seconds, not {}",
                                    other.kind()
                                ),
                            ));
                        }
                    }
                }
                "http_read_timeout" => {
                    config.http_read_timeout = positive(value).map_err(|r| bad(line, r))?
                }
                "wait_after_throttle_error" => {
                    config.wait_after_throttle_error = positive(value).map_err(|r| bad(line, r))?
                }
                "kill_agent_max_wait_time_seconds" => {
                    config.kill_agent_max_wait_time_seconds =
                        positive(value).map_err(|r| bad(line, r))?
                }
                "deploy_control_endpoint" => {
                    config.deploy_control_endpoint = optional(value).map_err(|r| bad(line, r))?
                }
                "proxy_uri" => {
                    config.proxy_uri = optional(value)
                        .and_then(|uri| uri.map(proxy_url).transpose())
                        .map_err(|r| bad(line, r))?
                }
                "no_proxy" => config.no_proxy = optional(value).map_err(|r| bad(line, r))?,
                "tls_ca_bundle" => {
                    config.tls_ca_bundle = optional(value)
                        .map_err(|r| bad(line, r))?
                        .map(PathBuf::from)
                }
                "status_socket_group" => {
                    config.status_socket_group = match &value.value {
                        Value::Int(n) => Some(n.to_string()),
                        _ => optional(value).map_err(|r| bad(line, r))?,
                    }
                }
                "on_premises_config_file" => {
                    config.on_premises_config_file =
                        PathBuf::from(string(value).map_err(|r| bad(line, r))?)
                }
                "ongoing_deployment_tracking" => {
                    config.ongoing_deployment_tracking = string(value).map_err(|r| bad(line, r))?
                }
                "envelope_ca_bundle" => {
                    config.envelope_ca_bundle = optional(value)
                        .map_err(|r| bad(line, r))?
                        .map(PathBuf::from)
                }
                "envelope_signer_cn" => {
                    config.envelope_signer_cn = optional(value).map_err(|r| bad(line, r))?
                }
                "status_address" => {
                    config.status_address = optional(value).map_err(|r| bad(line, r))?
                }
                "status_socket" => {
                    config.status_socket = PathBuf::from(string(value).map_err(|r| bad(line, r))?)
                }
                "bundle_max_expanded_bytes" => {
                    config.limits.max_expanded_bytes = positive(value).map_err(|r| bad(line, r))?
                }
                "bundle_max_entries" => {
                    config.limits.max_entries = positive(value).map_err(|r| bad(line, r))?
                }
                "bundle_max_ratio" => {
                    config.limits.max_ratio = positive(value).map_err(|r| bad(line, r))?
                }
                known if KNOWN_UNUSED.contains(&known) => {}
                unknown => config.unknown_keys.push((unknown.to_owned(), line)),
            }
        }
        Ok(config)
    }
}

/// `proxy_uri` as the official agent reads it (Ruby's `URI()`): a URL
/// whose scheme is http or https and that names a host.
fn proxy_url(uri: String) -> Result<String, String> {
    // The URL may carry the proxy's password: errors show what follows it.
    let shown = match uri.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => uri.clone(),
    };
    let parsed =
        url::Url::parse(&uri).map_err(|e| format!("proxy_uri {shown:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "proxy_uri {shown:?} is not an http:// or https:// URL with a host"
        ));
    }
    Ok(uri)
}

fn string(node: &Node) -> Result<String, String> {
    match &node.value {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!("expected a string, found {}", other.kind())),
    }
}

fn optional(node: &Node) -> Result<Option<String>, String> {
    match &node.value {
        Value::Null => Ok(None),
        _ => string(node).map(Some),
    }
}

fn boolean(node: &Node) -> Result<bool, String> {
    match node.value {
        Value::Bool(b) => Ok(b),
        ref other => Err(format!("expected true or false, found {}", other.kind())),
    }
}

fn integer(node: &Node) -> Result<i128, String> {
    match &node.value {
        Value::Int(n) => Ok(*n),
        other => Err(format!("expected an integer, found {}", other.kind())),
    }
}

fn positive(node: &Node) -> Result<u64, String> {
    let n = integer(node)?;
    u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a positive integer, found {n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolized_and_plain_keys_are_read() {
        let config = Config::parse(
            Path::new("c.yml"),
            "---\n:log_aws_wire: false\n:root_dir: '/srv/root'\nmax_revisions: 2\n:program_name: codedeploy-agent\n",
        )
        .unwrap();
        assert_eq!(config.root_dir, PathBuf::from("/srv/root"));
        assert_eq!(config.max_revisions, 2);
        assert_eq!(config.log_dir, PathBuf::from(DEFAULT_LOG_DIR));
        assert_eq!(
            config.log_file(),
            PathBuf::from("/var/log/aws/codedeploy-agent/codedeploy-agent.log")
        );
    }

    #[test]
    fn max_revisions_below_one_is_refused_with_its_line() {
        let err =
            Config::parse(Path::new("c.yml"), ":root_dir: /x\n:max_revisions: 0\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn reads_the_daemon_keys_and_lists_unknown_ones() {
        let config = Config::parse(
            Path::new("c.yml"),
            ":wait_between_runs: 0\n:enable_auth_policy: true\n:deploy_control_endpoint: http://127.0.0.1:9\n:proxy_uri:\n:colour: blue\n:pid_dir: /x\n",
        )
        .unwrap();
        assert_eq!(config.wait_between_runs, 0.0);
        assert!(config.enable_auth_policy);
        assert_eq!(
            config.deploy_control_endpoint.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(config.proxy_uri, None);
        assert_eq!(config.unknown_keys, [("colour".to_owned(), 5)]);
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line() {
        let err = Config::parse(
            Path::new("c.yml"),
            ":verbose: false\n:enable_auth_policy: 3\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("c.yml"), "{err}");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn the_network_keys_are_read_and_a_proxy_uri_that_is_not_a_url_is_refused() {
        let config = Config::parse(
            Path::new("c.yml"),
            ":proxy_uri: http://user:pw@proxy.internal:3128\n:no_proxy: 169.254.169.254,.internal\n:tls_ca_bundle: /etc/ca.pem\n:status_socket_group: 4\n",
        )
        .unwrap();
        assert_eq!(
            config.proxy_uri.as_deref(),
            Some("http://user:pw@proxy.internal:3128")
        );
        assert_eq!(
            config.no_proxy.as_deref(),
            Some("169.254.169.254,.internal")
        );
        assert_eq!(config.tls_ca_bundle, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(config.status_socket_group.as_deref(), Some("4"));
        assert_eq!(config.path, PathBuf::from("c.yml"));
        for bad in [
            "proxy.internal:3128",
            "socks5://proxy:1080",
            "http://",
            "socks5://user:s3cret@proxy:1080",
        ] {
            let err = Config::parse(
                Path::new("/etc/c.yml"),
                &format!(":verbose: false\n:proxy_uri: {bad}\n"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("/etc/c.yml"), "{err}");
            assert!(err.contains("line 2"), "{err}");
            assert!(err.contains("proxy_uri"), "{err}");
            assert!(!err.contains("s3cret"), "the password is not shown: {err}");
        }
    }

    #[test]
    fn a_missing_default_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let named = Config::load(Some(&dir.path().join("nope.yml")));
        assert!(named.is_err());
        assert_eq!(Config::default().max_revisions, 5);
    }
}
