//! The instance metadata service (IMDSv2) of one simulated EC2 host: session
//! tokens, the identity document, `services/*`, and instance-profile
//! credentials that the sandbox's other services accept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::credentials::{CredentialStore, IssuedCredential};
use crate::ids;
use crate::server::{Bound, HttpServer};
use crate::sync::lock;
use crate::timestamp::iso8601;

const TOKEN_PATH: &str = "/latest/api/token";
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const MAX_TOKEN_TTL: u64 = 21_600;
/// EC2 hands out instance-profile credentials that live six hours.
const DEFAULT_CREDENTIAL_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// EC2 makes new credentials available this long before the old expire.
const ROTATE_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Who the simulated host is.
#[derive(Debug, Clone)]
pub(crate) struct ImdsConfig {
    pub(crate) account_id: String,
    pub(crate) region: String,
    pub(crate) credentials: CredentialStore,
    pub(crate) allow_v1: bool,
}

/// A cheap, clonable handle on the running IMDS.
#[derive(Debug, Clone)]
pub struct Imds {
    state: Arc<ImdsState>,
}

#[derive(Debug)]
struct ImdsState {
    url: String,
    account_id: String,
    region: String,
    instance_id: String,
    role_name: String,
    store: CredentialStore,
    allow_v1: AtomicBool,
    /// Whether session tokens are refused, as where IMDSv2 is blocked.
    refuse_tokens: AtomicBool,
    /// Whether an instance profile is attached at all.
    role_attached: AtomicBool,
    /// Session tokens and when each stops working.
    tokens: Mutex<HashMap<String, Instant>>,
    tokens_issued: AtomicUsize,
    v1_requests: AtomicUsize,
    credential: Mutex<Option<IssuedCredential>>,
    credential_lifetime: Mutex<Duration>,
    launched: SystemTime,
}

impl Imds {
    pub(crate) async fn start(config: ImdsConfig) -> Result<(Self, HttpServer), Error> {
        let bound = Bound::new("imds").await?;
        // EC2's ids are 17 hex digits; this host's follow from its port.
        let suffix = hex::encode(Sha256::digest(bound.url().as_bytes()));
        let state = Arc::new(ImdsState {
            url: bound.url(),
            account_id: config.account_id,
            region: config.region,
            instance_id: format!("i-0{}", &suffix[..16]),
            role_name: "slipway-host".into(),
            store: config.credentials,
            allow_v1: AtomicBool::new(config.allow_v1),
            refuse_tokens: AtomicBool::new(false),
            role_attached: AtomicBool::new(true),
            tokens: Mutex::new(HashMap::new()),
            tokens_issued: AtomicUsize::new(0),
            v1_requests: AtomicUsize::new(0),
            credential: Mutex::new(None),
            credential_lifetime: Mutex::new(DEFAULT_CREDENTIAL_LIFETIME),
            launched: SystemTime::now(),
        });
        let router = Router::new().fallback(handle).with_state(state.clone());
        Ok((Self { state }, bound.serve(router)))
    }

    /// This IMDS's base URL (what `AWS_EC2_METADATA_SERVICE_ENDPOINT` takes).
    pub fn endpoint(&self) -> &str {
        &self.state.url
    }

    /// The host's instance id (`i-0…`).
    pub fn instance_id(&self) -> &str {
        &self.state.instance_id
    }

    /// The instance profile's role name.
    pub fn role_name(&self) -> &str {
        &self.state.role_name
    }

    /// Whether token-less (IMDSv1) requests are answered.
    pub fn set_v1_allowed(&self, allowed: bool) {
        self.state.allow_v1.store(allowed, Ordering::SeqCst);
    }

    /// Refuses token requests (403), as IMDS does behind a proxy, so a
    /// client must fall back to IMDSv1 or give up.
    pub fn set_tokens_refused(&self, refused: bool) {
        self.state.refuse_tokens.store(refused, Ordering::SeqCst);
    }

    /// Forgets every session token handed out, as if each had expired: a
    /// request carrying one is answered 401.
    pub fn revoke_tokens(&self) {
        lock(&self.state.tokens).clear();
    }

    /// Metadata requests answered without a token so far.
    pub fn v1_requests(&self) -> usize {
        self.state.v1_requests.load(Ordering::SeqCst)
    }

    /// Attaches or detaches the instance profile: detached, the
    /// `iam/` paths answer 404, as on an instance launched without one.
    pub fn set_role_attached(&self, attached: bool) {
        self.state.role_attached.store(attached, Ordering::SeqCst);
    }

    /// Session tokens handed out so far.
    pub fn tokens_issued(&self) -> usize {
        self.state.tokens_issued.load(Ordering::SeqCst)
    }

    /// How long instance-profile credentials issued from now on live.
    pub fn set_credential_lifetime(&self, lifetime: Duration) {
        *lock(&self.state.credential_lifetime) = lifetime;
        // The next request sees credentials of the new lifetime.
        lock(&self.state.credential).take();
    }

    /// The instance-profile credentials IMDS hands out now (issuing them
    /// if none are current).
    pub fn credential(&self) -> IssuedCredential {
        self.state.current_credential()
    }
}

impl ImdsState {
    fn current_credential(&self) -> IssuedCredential {
        let lifetime = *lock(&self.credential_lifetime);
        let mut current = lock(&self.credential);
        let margin = ROTATE_BEFORE.min(lifetime / 2);
        let fresh = current.as_ref().is_some_and(|c| {
            c.expiration
                .is_some_and(|exp| exp > SystemTime::now() + margin)
        });
        if !fresh {
            let credential = IssuedCredential {
                access_key_id: ids::access_key_id("ASIA"),
                secret_access_key: ids::secret_access_key(),
                session_token: Some(ids::session_token()),
                expiration: Some(SystemTime::now() + lifetime),
                principal_arn: format!(
                    "arn:aws:sts::{}:assumed-role/{}/{}",
                    self.account_id, self.role_name, self.instance_id
                ),
            };
            self.store.insert(credential.clone());
            *current = Some(credential);
        }
        current.clone().expect("set just above")
    }

    fn identity_document(&self) -> String {
        let document = json!({
            "accountId": self.account_id,
            "architecture": "x86_64",
            "availabilityZone": format!("{}a", self.region),
            "billingProducts": null,
            "devpayProductCodes": null,
            "marketplaceProductCodes": null,
            "imageId": "ami-0abcdef1234567890",
            "instanceId": self.instance_id,
            "instanceType": "t3.small",
            "kernelId": null,
            "pendingTime": iso8601(self.launched),
            "privateIp": "10.0.1.23",
            "ramdiskId": null,
            "region": self.region,
            "version": "2017-09-30"
        });
        serde_json::to_string_pretty(&document).unwrap_or_default()
    }

    fn credentials_document(&self) -> String {
        let credential = self.current_credential();
        let document = json!({
            "Code": "Success",
            "LastUpdated": iso8601(SystemTime::now()),
            "Type": "AWS-HMAC",
            "AccessKeyId": credential.access_key_id,
            "SecretAccessKey": credential.secret_access_key,
            "Token": credential.session_token,
            "Expiration": credential.expiration.map(iso8601),
        });
        serde_json::to_string_pretty(&document).unwrap_or_default()
    }

    fn issue_token(&self, headers: &HeaderMap) -> Response {
        // IMDS refuses tokens to anything that came through a proxy.
        if headers.contains_key("x-forwarded-for") || self.refuse_tokens.load(Ordering::SeqCst) {
            return status_only(StatusCode::FORBIDDEN);
        }
        let ttl = headers
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ttl| (1..=MAX_TOKEN_TTL).contains(ttl));
        let Some(ttl) = ttl else {
            return status_only(StatusCode::BAD_REQUEST);
        };
        let token = format!(
            "AQAEA{}==",
            Alphanumeric.sample_string(&mut rand::rng(), 51)
        );
        lock(&self.tokens).insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
        self.tokens_issued.fetch_add(1, Ordering::SeqCst);
        let mut response = text(token);
        if let Ok(value) = HeaderValue::from_str(&ttl.to_string()) {
            response.headers_mut().insert(TTL_HEADER, value);
        }
        response
    }

    /// A request may read metadata with a live token, or without one if
    /// IMDSv1 is allowed; a presented token must always be live.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        match headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
            Some(token) => {
                let mut tokens = lock(&self.tokens);
                let now = Instant::now();
                tokens.retain(|_, expires| *expires > now);
                tokens.contains_key(token)
            }
            None => {
                let allowed = self.allow_v1.load(Ordering::SeqCst);
                if allowed {
                    self.v1_requests.fetch_add(1, Ordering::SeqCst);
                }
                allowed
            }
        }
    }

    fn metadata(&self, path: &str) -> Option<String> {
        if path.starts_with("/latest/meta-data/iam") && !self.role_attached.load(Ordering::SeqCst) {
            return None;
        }
        let role_path = format!(
            "/latest/meta-data/iam/security-credentials/{}",
            self.role_name
        );
        let value = match path {
            "/latest/meta-data/" | "/latest/meta-data" => [
                "ami-id",
                "hostname",
                "iam/",
                "instance-id",
                "instance-type",
                "local-ipv4",
                "placement/",
                "services/",
            ]
            .join("\n"),
            "/latest/meta-data/instance-id" => self.instance_id.clone(),
            "/latest/meta-data/ami-id" => "ami-0abcdef1234567890".into(),
            "/latest/meta-data/instance-type" => "t3.small".into(),
            "/latest/meta-data/local-ipv4" => "10.0.1.23".into(),
            "/latest/meta-data/hostname" => "ip-10-0-1-23.ec2.internal".into(),
            "/latest/meta-data/placement/region" => self.region.clone(),
            "/latest/meta-data/placement/availability-zone" => format!("{}a", self.region),
            "/latest/meta-data/services/partition" => "aws".into(),
            "/latest/meta-data/services/domain" => "amazonaws.com".into(),
            "/latest/meta-data/iam/info" => serde_json::to_string_pretty(&json!({
                "Code": "Success",
                "LastUpdated": iso8601(self.launched),
                "InstanceProfileArn": format!("arn:aws:iam::{}:instance-profile/{}", self.account_id, self.role_name),
                "InstanceProfileId": ids::unique_id("AIPA", &self.role_name),
            }))
            .unwrap_or_default(),
            "/latest/meta-data/iam/security-credentials/"
            | "/latest/meta-data/iam/security-credentials" => self.role_name.clone(),
            p if p == role_path => self.credentials_document(),
            "/latest/dynamic/instance-identity/document" => self.identity_document(),
            _ => return None,
        };
        Some(value)
    }
}

async fn handle(
    State(state): State<Arc<ImdsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if path == TOKEN_PATH {
        return match method {
            Method::PUT => state.issue_token(&headers),
            _ => status_only(StatusCode::METHOD_NOT_ALLOWED),
        };
    }
    if method != Method::GET && method != Method::HEAD {
        return status_only(StatusCode::METHOD_NOT_ALLOWED);
    }
    if !state.authorized(&headers) {
        return status_only(StatusCode::UNAUTHORIZED);
    }
    match state.metadata(path) {
        Some(value) => text(value),
        None => status_only(StatusCode::NOT_FOUND),
    }
}

fn text(body: String) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    response
}

/// IMDS answers errors with a small HTML page named after the status.
fn status_only(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n <head>\n  <title>{code} - {reason}</title>\n </head>\n <body>\n  <h1>{code} - {reason}</h1>\n </body>\n</html>\n"
    );
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    response
}
