//! The official agent's `codedeployagent.yml`: the keys this agent uses,
//! with the official defaults. Ruby symbolizes the keys, so `:root_dir:` and
//! `root_dir:` mean the same; keys this agent does not use are ignored, as
//! the official agent ignores keys it does not know.

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

/// The agent's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `root_dir`: the deployment root.
    pub root_dir: PathBuf,
    /// `log_dir`: the agent's own logs.
    pub log_dir: PathBuf,
    /// `max_revisions`: revisions kept per deployment group (≥ 1).
    pub max_revisions: u32,
    /// `s3_endpoint_override`: where S3 requests go instead of AWS.
    pub s3_endpoint_override: Option<String>,
    /// `enable_deployments_log`: whether `deployment-logs/` is written.
    pub enable_deployments_log: bool,
    /// Slipway's own keys `bundle_max_expanded_bytes`, `bundle_max_entries`
    /// and `bundle_max_ratio`: what an archive may expand to.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            root_dir: PathBuf::from(DEFAULT_ROOT_DIR),
            log_dir: PathBuf::from(DEFAULT_LOG_DIR),
            max_revisions: DEFAULT_MAX_REVISIONS,
            s3_endpoint_override: None,
            enable_deployments_log: true,
            limits: Limits::default(),
        }
    }
}

impl Config {
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
        let mut config = Config::default();
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
                    config.enable_deployments_log = match value.value {
                        Value::Bool(b) => b,
                        _ => {
                            return Err(bad(
                                line,
                                "enable_deployments_log must be true or false".into(),
                            ));
                        }
                    }
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
                _ => {}
            }
        }
        Ok(config)
    }
}

fn string(node: &Node) -> Result<String, String> {
    match &node.value {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!("expected a string, found {}", other.kind())),
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
    }

    #[test]
    fn max_revisions_below_one_is_refused_with_its_line() {
        let err =
            Config::parse(Path::new("c.yml"), ":root_dir: /x\n:max_revisions: 0\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn a_missing_default_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let named = Config::load(Some(&dir.path().join("nope.yml")));
        assert!(named.is_err());
        assert_eq!(Config::default().max_revisions, 5);
    }
}
