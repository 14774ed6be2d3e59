//! Who this host is to CodeDeploy, what it signs with, and where it polls.
//!
//! On-premises: the official `codedeploy.onpremises.yml`, with either
//! `iam_user_arn` and static keys, or `iam_session_arn` and a credentials
//! file that is re-read when it changes (the official agent re-reads it
//! every 30 minutes). On EC2: IMDS (v2, with the v1 fallback unless
//! `disable_imds_v1`) gives the instance ARN, the region and the domain, and
//! the instance profile the credentials (see [`super::imds`]).
//! `AWS_HOST_IDENTIFIER` overrides the identifier either way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use slipway_shared::yaml::{self, Value};

use super::DaemonError;
use crate::config::Config;

/// The host as CodeDeploy knows it.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The on-premises IAM ARN or the EC2 instance ARN.
    pub host_identifier: String,
    /// The region the host polls in.
    pub region: String,
    /// The DNS domain of the region's endpoints.
    pub domain: String,
    /// What the host signs with.
    pub credentials: SharedCredentialsProvider,
    /// Variables the official agent puts in its own environment from the
    /// on-premises file, which every hook then inherits (scripts calling
    /// the AWS CLI find their region in `AWS_REGION`). Not the static keys
    /// it also exports as `AWS_ACCESS_KEY`/`AWS_SECRET_KEY`: a hook run as
    /// another user would be handed root's secret.
    pub script_env: Vec<(&'static str, String)>,
}

/// The command endpoint: `deploy_control_endpoint`, else
/// `https://codedeploy-commands[-secure][-fips].<region>.<domain>`.
pub fn endpoint(config: &Config, region: &str, domain: &str) -> String {
    if let Some(endpoint) = &config.deploy_control_endpoint {
        return endpoint.clone();
    }
    let secure = if config.enable_auth_policy {
        "-secure"
    } else {
        ""
    };
    let fips = if config.use_fips_mode { "-fips" } else { "" };
    format!("https://codedeploy-commands{secure}{fips}.{region}.{domain}")
}

/// The domain of `region` when IMDS cannot say (on-premises).
pub fn domain_for_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("eusc-") {
        "amazonaws.eu"
    } else {
        "amazonaws.com"
    }
}

/// Resolves the identity: on-premises when its file exists, else EC2.
pub async fn resolve(config: &Config) -> Result<Identity, DaemonError> {
    let imds_disabled = std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let mut identity = if config.on_premises_config_file.exists() {
        on_premises(&config.on_premises_config_file)?
    } else if imds_disabled {
        return Err(DaemonError::Imds {
            path: "/latest/dynamic/instance-identity/document",
            reason: format!(
                "there is no on-premises file {} and AWS_EC2_METADATA_DISABLED forbids IMDS",
                config.on_premises_config_file.display()
            ),
        });
    } else {
        ec2(std::sync::Arc::new(super::imds::Imds::from_env(
            !config.disable_imds_v1,
        )))
        .await?
    };
    if let Ok(id) = std::env::var("AWS_HOST_IDENTIFIER")
        && !id.is_empty()
    {
        identity.host_identifier = id;
    }
    Ok(identity)
}

/// Reads the on-premises identity file.
pub fn on_premises(path: &Path) -> Result<Identity, DaemonError> {
    let bad = |reason: String| DaemonError::OnPremises {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let root = yaml::parse(&text).map_err(|e| bad(e.to_string()))?;
    let Value::Map(entries) = root.value else {
        return Err(bad("expected a mapping of keys".into()));
    };
    let get = |name: &str| {
        entries
            .iter()
            .find_map(|(k, v)| match (&k.value, &v.value) {
                (Value::Str(key), Value::Str(value)) if key.trim_start_matches(':') == name => {
                    Some(value.clone())
                }
                _ => None,
            })
    };
    let region = get("region").ok_or_else(|| bad("region is missing".into()))?;
    let domain = domain_for_region(&region).to_owned();
    match (get("iam_user_arn"), get("iam_session_arn")) {
        (Some(_), Some(_)) => Err(bad(
            "iam_user_arn and iam_session_arn are both set; keep one".into(),
        )),
        (Some(arn), None) => {
            let key = get("aws_access_key_id")
                .ok_or_else(|| bad("aws_access_key_id is missing for iam_user_arn".into()))?;
            let secret = get("aws_secret_access_key")
                .ok_or_else(|| bad("aws_secret_access_key is missing for iam_user_arn".into()))?;
            let credentials =
                Credentials::new(key, secret, None, None, "codedeploy.onpremises.yml");
            Ok(Identity {
                script_env: vec![
                    ("AWS_REGION", region.clone()),
                    ("AWS_HOST_IDENTIFIER", arn.clone()),
                ],
                host_identifier: arn,
                region,
                domain,
                credentials: SharedCredentialsProvider::new(credentials),
            })
        }
        (None, Some(arn)) => {
            let file = get("aws_credentials_file")
                .ok_or_else(|| bad("aws_credentials_file is missing for iam_session_arn".into()))?;
            let provider = FileCredentials::new(PathBuf::from(&file));
            Ok(Identity {
                script_env: vec![
                    ("AWS_REGION", region.clone()),
                    ("AWS_HOST_IDENTIFIER", arn.clone()),
                    ("AWS_CREDENTIALS_FILE", file),
                ],
                host_identifier: arn,
                region,
                domain,
                credentials: SharedCredentialsProvider::new(provider),
            })
        }
        (None, None) => Err(bad("neither iam_user_arn nor iam_session_arn is set".into())),
    }
}

/// The EC2 identity, read through `imds`.
pub async fn ec2(imds: Arc<super::imds::Imds>) -> Result<Identity, DaemonError> {
    let get = |path: &'static str| {
        let imds = imds.clone();
        async move {
            imds.get(path)
                .await
                .map_err(|e| DaemonError::Imds { path, reason: e.0 })
        }
    };
    let document = get("/latest/dynamic/instance-identity/document").await?;
    let document: serde_json::Value =
        serde_json::from_str(&document).map_err(|e| DaemonError::Imds {
            path: "/latest/dynamic/instance-identity/document",
            reason: e.to_string(),
        })?;
    let field = |name: &str| document[name].as_str().unwrap_or_default().to_owned();
    let partition = get("/latest/meta-data/services/partition").await?;
    let domain = get("/latest/meta-data/services/domain")
        .await
        .unwrap_or_else(|_| "amazonaws.com".to_owned());
    let region = std::env::var("AWS_REGION")
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| field("region"));
    let credentials = super::imds::InstanceProfileCredentials::new(imds);
    Ok(Identity {
        host_identifier: format!(
            "arn:{}:ec2:{}:{}:instance/{}",
            partition.trim(),
            region,
            field("accountId"),
            field("instanceId")
        ),
        region,
        domain: domain.trim().to_owned(),
        credentials: SharedCredentialsProvider::new(credentials),
        script_env: Vec::new(),
    })
}

/// An AWS credentials file (`[default]`), re-read whenever it changes, as
/// the session credentials an on-premises host is given are rotated in it.
#[derive(Debug, Clone)]
pub struct FileCredentials {
    path: PathBuf,
    cached: Arc<Mutex<Option<(SystemTime, Credentials)>>>,
}

impl FileCredentials {
    /// Credentials from `path`.
    pub fn new(path: PathBuf) -> FileCredentials {
        FileCredentials {
            path,
            cached: Arc::default(),
        }
    }

    fn load(&self) -> provider::Result {
        let fail = |reason: String| {
            provider::error::CredentialsError::provider_error(format!(
                "{}: {reason}",
                self.path.display()
            ))
        };
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .map_err(|e| fail(e.to_string()))?;
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, credentials)) = cached.as_ref()
            && *at == modified
        {
            return Ok(credentials.clone());
        }
        let text = std::fs::read_to_string(&self.path).map_err(|e| fail(e.to_string()))?;
        let mut in_default = false;
        let (mut key, mut secret, mut token) = (None, None, None);
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_default = line == "[default]";
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            if !in_default {
                continue;
            }
            let value = Some(value.trim().to_owned());
            match name.trim() {
                "aws_access_key_id" => key = value,
                "aws_secret_access_key" => secret = value,
                "aws_session_token" => token = value,
                _ => {}
            }
        }
        let (Some(key), Some(secret)) = (key, secret) else {
            return Err(fail(
                "no aws_access_key_id and aws_secret_access_key under [default]".into(),
            ));
        };
        let credentials = Credentials::new(key, secret, token, None, "aws_credentials_file");
        *cached = Some((modified, credentials.clone()));
        Ok(credentials)
    }
}

impl ProvideCredentials for FileCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(self.load())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_arns_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codedeploy.onpremises.yml");
        std::fs::write(
            &path,
            "---\nregion: us-east-1\niam_user_arn: arn:aws:iam::1:user/a\niam_session_arn: arn:aws:sts::1:assumed-role/r/s\n",
        )
        .unwrap();
        let err = on_premises(&path).unwrap_err().to_string();
        assert!(err.contains("codedeploy.onpremises.yml"), "{err}");
        assert!(err.contains("both"), "{err}");
    }

    #[test]
    fn hooks_get_the_region_and_identifier_but_not_the_keys_of_an_iam_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codedeploy.onpremises.yml");
        std::fs::write(
            &path,
            "---\nregion: eu-west-1\niam_user_arn: arn:aws:iam::1:user/a\naws_access_key_id: AKIA1\naws_secret_access_key: s1\n",
        )
        .unwrap();
        let identity = on_premises(&path).unwrap();
        assert_eq!(
            identity.script_env,
            [
                ("AWS_REGION", "eu-west-1".to_owned()),
                ("AWS_HOST_IDENTIFIER", "arn:aws:iam::1:user/a".to_owned()),
            ]
        );
    }

    #[tokio::test]
    async fn a_session_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        std::fs::write(&creds, "[default]\naws_access_key_id = ASIA1\naws_secret_access_key = s1\naws_session_token = t1\n").unwrap();
        let path = dir.path().join("onprem.yml");
        std::fs::write(
            &path,
            format!(
                "region: cn-north-1\niam_session_arn: arn:aws-cn:sts::1:assumed-role/r/host\naws_credentials_file: {}\n",
                creds.display()
            ),
        )
        .unwrap();
        let identity = on_premises(&path).unwrap();
        assert_eq!(identity.domain, "amazonaws.com.cn");
        assert_eq!(
            identity.script_env,
            [
                ("AWS_REGION", "cn-north-1".to_owned()),
                (
                    "AWS_HOST_IDENTIFIER",
                    "arn:aws-cn:sts::1:assumed-role/r/host".to_owned()
                ),
                ("AWS_CREDENTIALS_FILE", creds.display().to_string()),
            ]
        );
        let first = identity.credentials.provide_credentials().await.unwrap();
        assert_eq!(first.access_key_id(), "ASIA1");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = ASIA2\naws_secret_access_key = s2\n",
        )
        .unwrap();
        let modified = SystemTime::now() + std::time::Duration::from_secs(5);
        let file = std::fs::File::options().write(true).open(&creds).unwrap();
        file.set_modified(modified).unwrap();
        let second = identity.credentials.provide_credentials().await.unwrap();
        assert_eq!(second.access_key_id(), "ASIA2");
    }

    #[test]
    fn endpoints_are_named_as_the_official_agent_names_them() {
        let mut config = Config::default();
        assert_eq!(
            endpoint(&config, "us-east-1", "amazonaws.com"),
            "https://codedeploy-commands.us-east-1.amazonaws.com"
        );
        config.enable_auth_policy = true;
        config.use_fips_mode = true;
        assert_eq!(
            endpoint(&config, "us-gov-west-1", "amazonaws.com"),
            "https://codedeploy-commands-secure-fips.us-gov-west-1.amazonaws.com"
        );
        config.deploy_control_endpoint = Some("http://127.0.0.1:1".into());
        assert_eq!(endpoint(&config, "x", "y"), "http://127.0.0.1:1");
        assert_eq!(domain_for_region("eusc-de-east-1"), "amazonaws.eu");
    }
}
