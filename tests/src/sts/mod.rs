//! STS in the AWS Query protocol: `AssumeRoleWithWebIdentity`, checked
//! against real JWTs and IAM-like trust policies, `AssumeRole` (role
//! chaining, across accounts), checked against the calling principal, and
//! `GetCallerIdentity`. Every assume call is recorded with what it carried.
//!
//! # Layout
//! - [`trust`]: roles and their trust policies.
//! - `trust_document`: the same as IAM's JSON documents, read and written.
//! - `web_identity`: AssumeRoleWithWebIdentity (parameters, JWT, trust).
//! - `assume_role`: AssumeRole from signed credentials.
//! - `record`: what each assume call carried.
//! - `caller`: GetCallerIdentity and who signed the request.
//! - `jwks`: fetching and caching each provider's signing keys.
//! - `error`: STS's XML error shape.

mod assume_role;
mod caller;
mod error;
mod jwks;
mod record;
pub mod trust;
mod trust_document;
mod web_identity;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::Error;
use crate::credentials::CredentialStore;
use crate::ids;
use crate::server::{Bound, HttpServer};
use crate::sync::{lock, take_one};
pub use record::AssumeRecord;
pub use trust::{AwsTrust, Condition, Federated, Operator, Role, TrustPolicy};

use error::StsError;

/// The API version every Query request names.
const API_VERSION: &str = "2011-06-15";

/// Larger bodies are refused before parsing (a token is at most 20 000
/// characters, so this leaves room for policies and everything else).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a new `Sts` serves.
#[derive(Debug, Clone)]
pub(crate) struct StsConfig {
    pub(crate) account_id: String,
    pub(crate) region: String,
    /// The sandbox's own issuer, registered as an OIDC provider whose
    /// client id is `sts.amazonaws.com`.
    pub(crate) sandbox_issuer: String,
    pub(crate) roles: Vec<Role>,
    pub(crate) credentials: CredentialStore,
}

/// A cheap, clonable handle on the running STS.
#[derive(Debug, Clone)]
pub struct Sts {
    state: Arc<StsState>,
}

#[derive(Debug)]
struct StsState {
    account_id: String,
    region: String,
    sandbox_issuer: String,
    credentials: CredentialStore,
    /// IAM's OIDC providers, keyed as IAM names them (issuer without its
    /// scheme, see [`trust::provider_host`]) → client ids (allowed `aud`s).
    providers: Mutex<HashMap<String, Vec<String>>>,
    /// Roles by ARN.
    roles: Mutex<HashMap<String, Role>>,
    jwks: jwks::JwksCache,
    throttle_next: AtomicUsize,
    idp_unreachable_next: AtomicUsize,
    throttle_caller_next: AtomicUsize,
    fail_next: Mutex<(usize, u16)>,
    assume_calls: AtomicUsize,
    caller_calls: AtomicUsize,
    lifetime_override: Mutex<Option<Duration>>,
    /// Every assume call's parameters, in order.
    records: Mutex<Vec<AssumeRecord>>,
    /// Secrets issued next that hold `+` and `/`, as real STS's often do.
    special_secrets_next: AtomicUsize,
}

impl Sts {
    pub(crate) async fn start(config: StsConfig) -> Result<(Self, HttpServer), Error> {
        let bound = Bound::new("sts").await?;
        let providers = HashMap::from([(
            trust::provider_host(&config.sandbox_issuer).to_owned(),
            vec!["sts.amazonaws.com".to_owned()],
        )]);
        let state = Arc::new(StsState {
            account_id: config.account_id,
            region: config.region,
            sandbox_issuer: config.sandbox_issuer,
            credentials: config.credentials,
            providers: Mutex::new(providers),
            roles: Mutex::new(HashMap::new()),
            jwks: jwks::JwksCache::new()?,
            throttle_next: AtomicUsize::new(0),
            idp_unreachable_next: AtomicUsize::new(0),
            throttle_caller_next: AtomicUsize::new(0),
            fail_next: Mutex::new((0, 500)),
            assume_calls: AtomicUsize::new(0),
            caller_calls: AtomicUsize::new(0),
            lifetime_override: Mutex::new(None),
            records: Mutex::new(Vec::new()),
            special_secrets_next: AtomicUsize::new(0),
        });
        let sts = Self { state };
        for role in config.roles {
            sts.add_role(role);
        }
        tracing::debug!(url = %bound.url(), "sts listening");
        let router = Router::new().fallback(handle).with_state(sts.state.clone());
        Ok((sts, bound.serve(router)))
    }

    /// The next `n` calls (any action) answer `Throttling` "Rate exceeded".
    pub fn throttle_next(&self, n: usize) {
        self.state.throttle_next.store(n, Ordering::SeqCst);
    }

    /// The next `n` AssumeRoleWithWebIdentity calls answer
    /// `IDPCommunicationError`, as when STS cannot reach the issuer.
    pub fn idp_unreachable_next(&self, n: usize) {
        self.state.idp_unreachable_next.store(n, Ordering::SeqCst);
    }

    /// The next `n` GetCallerIdentity calls answer `Throttling` "Rate
    /// exceeded", while AssumeRoleWithWebIdentity goes through.
    pub fn throttle_caller_identity_next(&self, n: usize) {
        self.state.throttle_caller_next.store(n, Ordering::SeqCst);
    }

    /// The next `n` calls (any action) fail with HTTP `status`
    /// (`ServiceUnavailable` for 503, `InternalFailure` otherwise).
    pub fn fail_next_with(&self, n: usize, status: u16) {
        *lock(&self.state.fail_next) = (n, status);
    }

    /// AssumeRoleWithWebIdentity requests received, failed ones included.
    pub fn assume_calls(&self) -> usize {
        self.state.assume_calls.load(Ordering::SeqCst)
    }

    /// GetCallerIdentity requests received, failed ones included.
    pub fn caller_identity_calls(&self) -> usize {
        self.state.caller_calls.load(Ordering::SeqCst)
    }

    /// Credentials issued from now on live `lifetime`, whatever
    /// `DurationSeconds` asked (for refresh tests).
    pub fn set_credential_lifetime(&self, lifetime: Duration) {
        *lock(&self.state.lifetime_override) = Some(lifetime);
    }

    /// Creates (or replaces) a role.
    pub fn add_role(&self, role: Role) {
        self.add_role_in(&self.state.account_id.clone(), role);
    }

    /// Creates (or replaces) a role in another account, for role chaining
    /// across accounts.
    pub fn add_role_in(&self, account_id: &str, role: Role) {
        let arn = role.arn(account_id);
        lock(&self.state.roles).insert(arn, role);
    }

    /// What every AssumeRoleWithWebIdentity and AssumeRole call carried, in
    /// the order they arrived, refused ones included.
    pub fn assume_records(&self) -> Vec<AssumeRecord> {
        lock(&self.state.records).clone()
    }

    /// The next `n` secret access keys issued hold `+` and `/`.
    pub fn special_secrets_next(&self, n: usize) {
        self.state.special_secrets_next.store(n, Ordering::SeqCst);
    }

    /// The trust policy of role `name` as an IAM JSON document, if it exists.
    pub fn trust_document(&self, name: &str) -> Option<serde_json::Value> {
        let roles = lock(&self.state.roles);
        let role = roles.get(&self.role_arn(name))?;
        Some(role.trust_document(&self.state.account_id, &self.state.sandbox_issuer))
    }

    /// The ARN `name` has in the sandbox's account.
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.state.account_id)
    }

    /// Registers an OIDC provider for `issuer_url` accepting `client_ids`
    /// as audiences (replacing any earlier registration).
    pub fn add_provider(&self, issuer_url: &str, client_ids: &[&str]) {
        lock(&self.state.providers).insert(
            trust::provider_host(issuer_url).to_owned(),
            client_ids.iter().map(|c| (*c).to_owned()).collect(),
        );
    }

    /// Deletes the OIDC provider for `issuer_url`: its tokens then fail with
    /// "No OpenIDConnect provider found in your account for …".
    pub fn remove_provider(&self, issuer_url: &str) {
        lock(&self.state.providers).remove(trust::provider_host(issuer_url));
    }
}

async fn handle(
    State(state): State<Arc<StsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = ids::request_id();
    match dispatch(&state, &request_id, &method, &uri, &headers, body).await {
        Ok(xml) => xml_response(StatusCode::OK, &request_id, xml),
        Err(error) => {
            tracing::debug!(code = error.code(), "sts refused a request");
            error.into_response_with_id(&request_id)
        }
    }
}

async fn dispatch(
    state: &StsState,
    request_id: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, StsError> {
    let body = read_body(headers, body).await?;
    if *method != Method::GET && *method != Method::POST {
        return Err(StsError::malformed_query());
    }
    let params = Params::parse(uri.query().unwrap_or(""), &body);
    let action = params.get("Action").ok_or_else(StsError::missing_action)?;
    let version = params.get("Version").unwrap_or(API_VERSION);
    let assume = action == "AssumeRoleWithWebIdentity" || action == "AssumeRole";
    if assume {
        lock(&state.records).push(AssumeRecord::from_params(action, &params));
    }
    let caller = action == "GetCallerIdentity";
    if assume {
        state.assume_calls.fetch_add(1, Ordering::SeqCst);
    }
    if caller {
        state.caller_calls.fetch_add(1, Ordering::SeqCst);
    }
    state.injected_fault()?;
    if assume && take_one(&state.idp_unreachable_next) {
        return Err(StsError::idp_communication());
    }
    if caller && take_one(&state.throttle_caller_next) {
        return Err(StsError::throttling());
    }
    match (action, version) {
        ("AssumeRoleWithWebIdentity", API_VERSION) => {
            web_identity::assume(state, request_id, &params).await
        }
        ("AssumeRole", API_VERSION) => {
            let signed = caller::Signed {
                method,
                uri,
                headers,
                body: &body,
            };
            assume_role::assume(state, request_id, &params, &signed)
        }
        ("GetCallerIdentity", API_VERSION) => {
            let signed = caller::Signed {
                method,
                uri,
                headers,
                body: &body,
            };
            caller::identity(state, request_id, &signed)
        }
        _ => Err(StsError::invalid_action(action, version)),
    }
}

impl StsState {
    /// A new secret access key; with `special_secrets_next`, one with `+`
    /// and `/` in it.
    pub(crate) fn secret_access_key(&self) -> String {
        let secret = ids::secret_access_key();
        if take_one(&self.special_secrets_next) {
            format!("{}+/{}", &secret[..19], &secret[21..])
        } else {
            secret
        }
    }

    fn injected_fault(&self) -> Result<(), StsError> {
        if take_one(&self.throttle_next) {
            return Err(StsError::throttling());
        }
        let mut fail = lock(&self.fail_next);
        if fail.0 > 0 {
            fail.0 -= 1;
            return Err(StsError::injected(fail.1));
        }
        Ok(())
    }
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, StsError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(StsError::too_large(MAX_BODY_BYTES));
    }
    // A chunked body has no length up front; the limit still applies.
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| StsError::too_large(MAX_BODY_BYTES))
}

/// A Query request's parameters: the query string, then the form body
/// (a later value for the same name wins).
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    fn parse(query: &str, body: &[u8]) -> Self {
        let pairs = url::form_urlencoded::parse(query.as_bytes())
            .chain(url::form_urlencoded::parse(body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()));
        Self(pairs.collect())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A Query list, `NAME.member.1…`, in order (with `.SUFFIX` appended to
    /// each member name, as in `PolicyArns.member.1.arn`).
    pub(crate) fn list(&self, name: &str, suffix: &str) -> Vec<String> {
        (1..)
            .map_while(|i| self.get(&format!("{name}.member.{i}{suffix}")))
            .map(str::to_owned)
            .collect()
    }
}

pub(crate) fn xml_response(status: StatusCode, request_id: &str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// Wraps an action's `<…Result>` in its response element and metadata.
fn result_document(action: &str, result: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/{API_VERSION}/\">\n  <{action}Result>\n{result}  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
    )
}
