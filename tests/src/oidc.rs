//! A GitHub Actions OIDC issuer: discovery, JWKS, and the runner's token
//! endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};

use crate::Error;
use crate::claims::{Claims, TOKEN_LIFETIME};
use crate::server::{Bound, HttpServer};
use crate::signing_key::SigningKey;
use crate::sync::{lock, take_one};
use crate::timestamp::unix_now;

/// The path of the token endpoint, shaped like the Actions service's.
const TOKEN_PATH: &str = "/_apis/distributedtask/hubs/Actions/plans/7f1c2a4e-0000-4000-8000-000000000001/jobs/7f1c2a4e-0000-4000-8000-000000000002/idtoken";

/// How far in the past an early-expired token's `exp` lies.
const EXPIRED_AGO: u64 = 60;

/// A cheap, clonable handle on the running issuer.
#[derive(Debug, Clone)]
pub struct OidcIssuer {
    state: Arc<IssuerState>,
}

struct IssuerState {
    issuer_url: String,
    request_token: String,
    key: SigningKey,
    claims: Mutex<Claims>,
    expire_next: AtomicUsize,
    refuse_status: Mutex<Option<u16>>,
    issued: AtomicUsize,
}

impl std::fmt::Debug for IssuerState {
    // The request token is a secret the runner masks; it stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerState")
            .field("issuer_url", &self.issuer_url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl OidcIssuer {
    /// Starts the issuer on a free port, minting tokens for `claims`.
    pub(crate) async fn start(claims: Claims) -> Result<(Self, HttpServer), Error> {
        let bound = Bound::new("oidc issuer").await?;
        let state = Arc::new(IssuerState {
            issuer_url: bound.url(),
            request_token: Alphanumeric.sample_string(&mut rand::rng(), 48),
            key: SigningKey::generate()?,
            claims: Mutex::new(claims),
            expire_next: AtomicUsize::new(0),
            refuse_status: Mutex::new(None),
            issued: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks", get(jwks))
            .route(TOKEN_PATH, get(token).fallback(method_not_allowed))
            .fallback(not_found)
            .with_state(state.clone());
        Ok((Self { state }, bound.serve(router)))
    }

    /// The `iss` of every token, `http://127.0.0.1:PORT`.
    pub fn issuer_url(&self) -> String {
        self.state.issuer_url.clone()
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL`: it already carries `?api-version=2.0`,
    /// so clients append `&audience=`.
    pub fn request_url(&self) -> String {
        format!("{}{TOKEN_PATH}?api-version=2.0", self.state.issuer_url)
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, the bearer the token endpoint requires.
    pub fn request_token(&self) -> String {
        self.state.request_token.clone()
    }

    /// The JWKS URL published in discovery.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks", self.state.issuer_url)
    }

    /// The key tokens are signed with.
    pub fn signing_key(&self) -> &SigningKey {
        &self.state.key
    }

    /// The run context later tokens describe.
    pub fn claims(&self) -> Claims {
        lock(&self.state.claims).clone()
    }

    /// Changes the run context later tokens describe.
    pub fn set_claims(&self, claims: Claims) {
        *lock(&self.state.claims) = claims;
    }

    /// The next `n` tokens (from the endpoint or [`OidcIssuer::mint`]) are
    /// minted already expired.
    pub fn expire_next_tokens(&self, n: usize) {
        self.state.expire_next.store(n, Ordering::SeqCst);
    }

    /// The token endpoint answers `status` until [`OidcIssuer::allow_requests`].
    pub fn refuse_requests(&self, status: u16) {
        *lock(&self.state.refuse_status) = Some(status);
    }

    /// Undoes [`OidcIssuer::refuse_requests`].
    pub fn allow_requests(&self) {
        *lock(&self.state.refuse_status) = None;
    }

    /// Tokens handed out so far (endpoint and [`OidcIssuer::mint`]).
    pub fn tokens_issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// A token for `audience`, exactly as the endpoint would hand it out.
    pub fn mint(&self, audience: &str) -> String {
        self.state.mint(audience)
    }

    /// The claims a token for `audience` would carry now, unsigned, so tests
    /// can alter them and sign with [`SigningKey::sign`].
    pub fn jwt_claims(&self, audience: &str) -> Value {
        self.claims()
            .to_jwt_claims(&self.state.issuer_url, audience, unix_now(), TOKEN_LIFETIME)
    }
}

impl IssuerState {
    fn mint(&self, audience: &str) -> String {
        let claims = lock(&self.claims).clone();
        let expire = take_one(&self.expire_next);
        let iat = if expire {
            unix_now() - TOKEN_LIFETIME.as_secs() - EXPIRED_AGO
        } else {
            unix_now()
        };
        let payload = claims.to_jwt_claims(&self.issuer_url, audience, iat, TOKEN_LIFETIME);
        self.issued.fetch_add(1, Ordering::SeqCst);
        self.key
            .sign(&payload)
            .expect("a freshly generated RSA key signs any JSON payload")
    }
}

async fn discovery(State(state): State<Arc<IssuerState>>) -> Json<Value> {
    let issuer = &state.issuer_url;
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks"),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": [
            "sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository",
            "repository_id", "repository_owner", "repository_owner_id", "run_id",
            "run_number", "run_attempt", "actor", "actor_id", "workflow", "workflow_ref",
            "workflow_sha", "head_ref", "base_ref", "event_name", "ref_type",
            "environment", "job_workflow_ref", "job_workflow_sha", "runner_environment"
        ],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"]
    }))
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Json<Value> {
    Json(json!({ "keys": [state.key.jwk()] }))
}

async fn token(State(state): State<Arc<IssuerState>>, uri: Uri, headers: HeaderMap) -> Response {
    // Parsed by hand: any query string, however mangled, gets an answer in
    // the service's own error shape rather than axum's plain-text one.
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    if let Some(status) = *lock(&state.refuse_status) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return actions_error(
            status,
            "The service is refusing requests (sandbox fault injection).",
        );
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    if bearer != Some(state.request_token.as_str()) {
        // The Actions service's own words for a missing or wrong bearer.
        return actions_error(
            StatusCode::UNAUTHORIZED,
            "TF400813: The user '' is not authorized to access this resource.",
        );
    }
    if query.get("api-version").map(String::as_str) != Some("2.0") {
        return actions_error(
            StatusCode::BAD_REQUEST,
            "No api-version was supplied for the request, or the api-version is not supported.",
        );
    }
    let owner_url;
    let audience = match query.get("audience") {
        Some(audience) if !audience.is_empty() => audience.as_str(),
        _ => {
            owner_url = format!("https://github.com/{}", lock(&state.claims).owner());
            owner_url.as_str()
        }
    };
    Json(json!({ "value": state.mint(audience) })).into_response()
}

/// The credentials of an `Authorization: Bearer …` header. The scheme is
/// matched without regard to case (RFC 9110 §11.1); GitHub's own examples
/// write it `bearer`.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

async fn not_found() -> Response {
    actions_error(StatusCode::NOT_FOUND, "The resource cannot be found.")
}

/// ASP.NET's words, which the Actions service answers a wrong method with.
async fn method_not_allowed(method: Method) -> Response {
    actions_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("The requested resource does not support http method '{method}'."),
    )
}

/// An error in the Azure DevOps shape the Actions token service answers with.
fn actions_error(status: StatusCode, message: &str) -> Response {
    let type_key = match status {
        StatusCode::UNAUTHORIZED => "UnauthorizedRequestException",
        StatusCode::NOT_FOUND => "ResourceNotFoundException",
        _ => "VssServiceException",
    };
    let body = json!({
        "$id": "1",
        "innerException": null,
        "message": message,
        "typeName": format!("Microsoft.TeamFoundation.Framework.Server.{type_key}, Microsoft.TeamFoundation.Framework.Server"),
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000
    });
    (status, Json(body)).into_response()
}
