//! The instance metadata service as the official agent reads it: with an
//! IMDSv2 session token, cached and fetched again on a 401, and plain
//! token-less (IMDSv1) requests when the token cannot be had, unless
//! `disable_imds_v1`. The instance profile's credentials come through the
//! same client, so the fallback holds for them too: aws-config's IMDS client
//! and credentials provider speak v2 only, by design.
//!
//! IMDS is never reached through `proxy_uri`: it lives on the instance's link
//! and refuses tokens to proxied requests.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials};

/// Where IMDS answers unless `AWS_EC2_METADATA_SERVICE_ENDPOINT` says.
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
const TOKEN_PATH: &str = "/latest/api/token";
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Tokens live six hours, the most IMDS gives.
const TOKEN_TTL: Duration = Duration::from_secs(21_600);
/// The official agent's pauses between attempts at an unanswered request.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];
/// After a failed token request, how long IMDSv1 is used before v2 is
/// tried again: where tokens time out (a hop limit of 1 in a container),
/// each try costs the retries' seconds.
const V2_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);
/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
const ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// Why a metadata request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdsFailure(pub String);

impl std::fmt::Display for ImdsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A metadata client.
#[derive(Debug)]
pub struct Imds {
    http: reqwest::Client,
    endpoint: String,
    allow_v1: bool,
    token: Mutex<Option<(String, Instant)>>,
    /// Why the last token request failed, and until when v1 is used.
    v2_down: Mutex<Option<(String, Instant)>>,
    warned: std::sync::atomic::AtomicBool,
}

enum Answer {
    Ok(String),
    Unauthorized,
    Failed(String),
}

impl Imds {
    /// A client of the IMDS at `endpoint`; `allow_v1` is `!disable_imds_v1`.
    pub fn new(endpoint: &str, allow_v1: bool) -> Imds {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Imds {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            allow_v1,
            token: Mutex::new(None),
            v2_down: Mutex::new(None),
            warned: Default::default(),
        }
    }

    /// The client of the IMDS `AWS_EC2_METADATA_SERVICE_ENDPOINT` names, or
    /// of EC2's own.
    pub fn from_env(allow_v1: bool) -> Imds {
        let endpoint = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        Imds::new(&endpoint, allow_v1)
    }

    /// The metadata at `path`.
    pub async fn get(&self, path: &str) -> Result<String, ImdsFailure> {
        let down = self
            .v2_down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|(_, until)| *until > Instant::now());
        let token = match down {
            Some((reason, _)) => Err((reason, true)),
            None => self.token(false).await.map_err(|reason| (reason, false)),
        };
        let token = match token {
            Ok(token) => token,
            Err((reason, remembered)) if self.allow_v1 => {
                if !remembered {
                    *self.v2_down.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((reason.clone(), Instant::now() + V2_RETRY_AFTER));
                }
                if !self.warned.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    tracing::warn!(%reason, "IMDSv2 http request failed, falling back to IMDSv1.");
                }
                return match self.request(path, None).await {
                    Answer::Ok(body) => Ok(body),
                    Answer::Unauthorized => Err(ImdsFailure(format!(
                        "{path}: IMDSv1 refused (401) after the IMDSv2 token failed: {reason}"
                    ))),
                    Answer::Failed(e) => Err(ImdsFailure(format!("{path}: {e}"))),
                };
            }
            Err((reason, _)) => {
                return Err(ImdsFailure(format!(
                    "cannot get an IMDSv2 token ({reason}) and disable_imds_v1 forbids IMDSv1"
                )));
            }
        };
        match self.request(path, Some(&token)).await {
            Answer::Ok(body) => Ok(body),
            // An expired or revoked token: one fresh token, one more try.
            Answer::Unauthorized => {
                let token = self
                    .token(true)
                    .await
                    .map_err(|e| ImdsFailure(format!("{path}: {e}")))?;
                match self.request(path, Some(&token)).await {
                    Answer::Ok(body) => Ok(body),
                    Answer::Unauthorized => Err(ImdsFailure(format!(
                        "{path}: 401 with a fresh IMDSv2 token"
                    ))),
                    Answer::Failed(e) => Err(ImdsFailure(format!("{path}: {e}"))),
                }
            }
            Answer::Failed(e) => Err(ImdsFailure(format!("{path}: {e}"))),
        }
    }

    async fn token(&self, renew: bool) -> Result<String, String> {
        if !renew
            && let Some((token, until)) =
                self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
            && until > Instant::now()
        {
            return Ok(token);
        }
        let url = format!("{}{TOKEN_PATH}", self.endpoint);
        let mut pauses = RETRY_PAUSES.iter();
        let token = loop {
            let sent = self
                .http
                .put(&url)
                .header(TTL_HEADER, TOKEN_TTL.as_secs().to_string())
                .send()
                .await;
            let failure = match sent {
                Ok(r) if r.status().is_success() => match r.text().await {
                    Ok(token) => break token,
                    Err(e) => crate::executor::chain(&e),
                },
                // A refusal is an answer: v2 is off or blocked here.
                Ok(r) if !r.status().is_server_error() => {
                    return Err(format!("{url} answered {}", r.status()));
                }
                Ok(r) => format!("{url} answered {}", r.status()),
                Err(e) => crate::executor::chain(&e),
            };
            match pauses.next() {
                Some(pause) => tokio::time::sleep(*pause).await,
                None => return Err(failure),
            }
        };
        // Renewed a minute early, so no request carries a dying token.
        let until = Instant::now() + TOKEN_TTL - Duration::from_secs(60);
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some((token.clone(), until));
        Ok(token)
    }

    async fn request(&self, path: &str, token: Option<&str>) -> Answer {
        let url = format!("{}{path}", self.endpoint);
        let mut pauses = RETRY_PAUSES.iter();
        loop {
            let mut request = self.http.get(&url);
            if let Some(token) = token {
                request = request.header(TOKEN_HEADER, token);
            }
            let failure = match request.send().await {
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    return Answer::Unauthorized;
                }
                Ok(r) if r.status().is_success() => {
                    return match r.text().await {
                        Ok(body) => Answer::Ok(body),
                        Err(e) => Answer::Failed(crate::executor::chain(&e)),
                    };
                }
                Ok(r) if !r.status().is_server_error() => {
                    return Answer::Failed(format!("answered {}", r.status()));
                }
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => crate::executor::chain(&e),
            };
            match pauses.next() {
                Some(pause) => tokio::time::sleep(*pause).await,
                None => return Answer::Failed(failure),
            }
        }
    }
}

/// The instance profile's credentials, read through [`Imds`] and kept
/// until five minutes before they expire (EC2 rotates them earlier).
#[derive(Debug)]
pub struct InstanceProfileCredentials {
    imds: std::sync::Arc<Imds>,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl InstanceProfileCredentials {
    /// Credentials read through `imds`.
    pub fn new(imds: std::sync::Arc<Imds>) -> InstanceProfileCredentials {
        InstanceProfileCredentials {
            imds,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn load(&self) -> provider::Result {
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = cached.as_ref()
            && credentials
                .expiry()
                .is_some_and(|at| at > SystemTime::now() + REFRESH_BEFORE)
        {
            return Ok(credentials.clone());
        }
        let fail = |reason: String| provider::error::CredentialsError::provider_error(reason);
        let roles = self.imds.get(ROLE_PATH).await.map_err(|e| fail(e.0))?;
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| fail("no instance profile is attached to this instance".into()))?;
        let document = self
            .imds
            .get(&format!("{ROLE_PATH}{role}"))
            .await
            .map_err(|e| fail(e.0))?;
        let credentials = parse_credentials(&document).map_err(fail)?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

impl ProvideCredentials for InstanceProfileCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.load())
    }
}

/// The credentials document IMDS serves for a role.
fn parse_credentials(document: &str) -> Result<Credentials, String> {
    let value: serde_json::Value = serde_json::from_str(document)
        .map_err(|e| format!("the instance profile's credentials are not JSON: {e}"))?;
    if value["Code"].as_str().is_some_and(|c| c != "Success") {
        return Err(format!(
            "IMDS could not issue the instance profile's credentials: {}",
            value["Code"]
        ));
    }
    let field = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the instance profile's credentials have no {name}"))
    };
    let (key, secret, token) = (
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        field("Token")?,
    );
    let expiration = time::OffsetDateTime::parse(
        &field("Expiration")?,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|e| format!("the instance profile's Expiration is not a time: {e}"))?;
    Ok(Credentials::new(
        key,
        secret,
        Some(token),
        Some(SystemTime::from(expiration)),
        "instance-profile",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credentials_document_is_read_with_its_expiry() {
        let credentials = parse_credentials(
            r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(credentials.access_key_id(), "ASIA1");
        assert_eq!(credentials.session_token(), Some("t"));
        assert!(credentials.expiry().is_some());
        let err = parse_credentials(r#"{"Code":"Success","AccessKeyId":"A"}"#).unwrap_err();
        assert!(err.contains("SecretAccessKey"), "{err}");
    }

    #[tokio::test]
    async fn a_revoked_token_is_replaced_and_v1_is_not_used_while_v2_works() {
        let sandbox = slipway_tests::Sandbox::builder()
            .without_moto()
            .allow_imds_v1()
            .start()
            .await
            .unwrap();
        let service = sandbox.imds();
        let imds = std::sync::Arc::new(Imds::new(&sandbox.imds_endpoint(), true));
        let instance_id = "/latest/meta-data/instance-id";
        assert_eq!(imds.get(instance_id).await.unwrap(), service.instance_id());
        imds.get(instance_id).await.unwrap();
        assert_eq!(service.tokens_issued(), 1, "the token is cached");
        service.revoke_tokens();
        assert_eq!(imds.get(instance_id).await.unwrap(), service.instance_id());
        assert_eq!(service.tokens_issued(), 2, "a 401 fetched a new token");
        let credentials = InstanceProfileCredentials::new(imds)
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(
            credentials.access_key_id(),
            service.credential().access_key_id
        );
        assert_eq!(service.v1_requests(), 0);
    }

    #[tokio::test]
    async fn nothing_listening_fails_with_the_reason_and_without_v1_says_so() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let err = Imds::new(&endpoint, false)
            .get("/latest/meta-data/instance-id")
            .await
            .unwrap_err();
        assert!(err.0.contains("disable_imds_v1"), "{err}");
    }
}
