//! The two STS calls: AssumeRoleWithWebIdentity (unsigned: the JWT is the
//! proof) and GetCallerIdentity (signed with the new credentials), and what
//! their failures mean for a retry.
//!
//! The SDK's own retries are turned off, so the retry count is ours and an
//! AccessDenied costs exactly one call.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::types::PolicyDescriptorType;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::retry::{self, Backoff, Verdict};
use crate::env::Env;

/// The provider name the new credentials carry.
pub const PROVIDER_NAME: &str = "slipway-web-identity";

/// The STS endpoint to call instead of the regional default, if any: the
/// explicit one, else `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, as the
/// AWS SDKs resolve them (and not at all under
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`).
pub fn endpoint_override(env: &Env, explicit: Option<&str>) -> Option<String> {
    explicit
        .map(str::to_owned)
        .or_else(|| env.endpoint_url("STS"))
}

/// Checks an endpoint URL before the SDK is given it: an http(s) URL with a
/// host. The SDK would only fail at the first request, retried as a
/// network error, with a message that quotes the request.
pub fn check_endpoint(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        Ok(_) => Err(format!(
            "`{url}` is not an http or https URL like https://sts.eu-west-1.amazonaws.com"
        )),
        Err(e) => Err(format!(
            "`{url}` is not a URL like https://sts.eu-west-1.amazonaws.com ({e})"
        )),
    }
}

/// An STS client configuration with no credentials and no SDK retries.
pub fn config(region: &str, endpoint: Option<&str>) -> aws_sdk_sts::Config {
    let mut builder = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        );
    if let Some(url) = endpoint {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// What AssumeRoleWithWebIdentity gave.
#[derive(Debug, Clone)]
pub struct Assumed {
    /// The temporary keys; their `Debug` hides the secret.
    pub credentials: Credentials,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub assumed_role_arn: String,
    /// When the keys stop working.
    pub expiration: SystemTime,
}

/// The parameters of one AssumeRoleWithWebIdentity call.
#[derive(Debug, Clone)]
pub struct AssumeParams<'a> {
    /// The role's ARN.
    pub role_arn: &'a str,
    /// The session name.
    pub session_name: &'a str,
    /// The session's lifetime.
    pub duration: Duration,
    /// An inline session policy.
    pub policy: Option<&'a str>,
    /// Managed session policy ARNs.
    pub policy_arns: &'a [String],
}

/// Calls AssumeRoleWithWebIdentity once.
pub async fn assume(
    client: &aws_sdk_sts::Client,
    params: &AssumeParams<'_>,
    token: &str,
) -> Result<Assumed, StsError> {
    let output = client
        .assume_role_with_web_identity()
        .role_arn(params.role_arn)
        .role_session_name(params.session_name)
        .duration_seconds(params.duration.as_secs().try_into().unwrap_or(i32::MAX))
        .web_identity_token(token)
        .set_policy(params.policy.map(str::to_owned))
        .set_policy_arns(policy_descriptors(params))
        .send()
        .await
        .map_err(|e| StsError::from_sdk(e).redact(token))?;
    assumed(
        "AssumeRoleWithWebIdentity",
        output.credentials(),
        output.assumed_role_user(),
    )
}

/// What role chaining adds to AssumeRole: who calls, and with what.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The credentials already in the environment, which sign AssumeRole.
    pub source: Credentials,
    /// The external id the role's trust policy may require.
    pub external_id: Option<String>,
    /// Session tags (empty with `role-skip-session-tagging`).
    pub tags: Vec<(String, String)>,
    /// Tags that pass on to a further chained role.
    pub transitive_tag_keys: Vec<String>,
}

/// Calls AssumeRole once, signed with the chain's source credentials.
pub async fn assume_role(
    client: &aws_sdk_sts::Client,
    params: &AssumeParams<'_>,
    chain: &Chain,
) -> Result<Assumed, StsError> {
    use aws_sdk_sts::types::Tag;
    let config = client
        .config()
        .to_builder()
        .credentials_provider(chain.source.clone())
        .build();
    let tags = chain
        .tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| StsError::incomplete("AssumeRole"))?;
    let output = aws_sdk_sts::Client::from_conf(config)
        .assume_role()
        .role_arn(params.role_arn)
        .role_session_name(params.session_name)
        .duration_seconds(params.duration.as_secs().try_into().unwrap_or(i32::MAX))
        .set_external_id(chain.external_id.clone())
        .set_tags((!tags.is_empty()).then_some(tags))
        .set_transitive_tag_keys(
            (!chain.transitive_tag_keys.is_empty()).then(|| chain.transitive_tag_keys.clone()),
        )
        .set_policy(params.policy.map(str::to_owned))
        .set_policy_arns(policy_descriptors(params))
        .send()
        .await
        .map_err(StsError::from_sdk)?;
    assumed(
        "AssumeRole",
        output.credentials(),
        output.assumed_role_user(),
    )
}

/// The session policies' ARNs as STS takes them; none when empty.
fn policy_descriptors(params: &AssumeParams<'_>) -> Option<Vec<PolicyDescriptorType>> {
    (!params.policy_arns.is_empty()).then(|| {
        params
            .policy_arns
            .iter()
            .map(|arn| PolicyDescriptorType::builder().arn(arn).build())
            .collect()
    })
}

/// The session an assume call answered with; `operation` names a reply
/// that lacks its credentials or user.
fn assumed(
    operation: &'static str,
    creds: Option<&aws_sdk_sts::types::Credentials>,
    user: Option<&aws_sdk_sts::types::AssumedRoleUser>,
) -> Result<Assumed, StsError> {
    let (Some(creds), Some(user)) = (creds, user) else {
        return Err(StsError::incomplete(operation));
    };
    let expiration =
        SystemTime::try_from(*creds.expiration()).map_err(|_| StsError::incomplete(operation))?;
    Ok(Assumed {
        credentials: Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            Some(expiration),
            PROVIDER_NAME,
        ),
        assumed_role_arn: user.arn().to_owned(),
        expiration,
    })
}

/// An HTTP client for the SDK that goes through `proxy`, except to the
/// hosts in `no_proxy`.
pub fn proxied_http_client(
    proxy: &str,
    no_proxy: Option<&str>,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, String> {
    use aws_smithy_http_client::{Builder, Connector, proxy::ProxyConfig, tls};
    let mut config = ProxyConfig::all(proxy).map_err(|e| format!("`{proxy}`: {e}"))?;
    if let Some(rules) = no_proxy {
        config = config.no_proxy(rules);
    }
    Ok(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut connector = Connector::builder().proxy_config(config.clone());
            if let Some(settings) = settings {
                connector = connector.connector_settings(settings.clone());
            }
            if let Some(sleep) = components.and_then(|c| c.sleep_impl()) {
                connector = connector.sleep_impl(sleep);
            }
            connector
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .build()
        }),
    )
}

/// Who the credentials speak for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The 12-digit account.
    pub account: String,
    /// The caller's ARN.
    pub arn: String,
}

/// Calls GetCallerIdentity signed with `credentials`.
pub async fn caller_identity(
    config: &aws_sdk_sts::Config,
    credentials: &Credentials,
) -> Result<Identity, StsError> {
    let config = config
        .to_builder()
        .credentials_provider(credentials.clone())
        .build();
    let output = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(StsError::from_sdk)?;
    match (output.account(), output.arn()) {
        (Some(account), Some(arn)) => Ok(Identity {
            account: account.to_owned(),
            arn: arn.to_owned(),
        }),
        _ => Err(StsError::incomplete("GetCallerIdentity")),
    }
}

/// GetCallerIdentity with the retry rules of AssumeRoleWithWebIdentity:
/// the matrix jobs that throttle one throttle the other. A refused or
/// expired key will not change on a retry, so it fails at once.
pub async fn caller_identity_retried(
    config: &aws_sdk_sts::Config,
    credentials: &Credentials,
    backoff: &Backoff,
) -> Result<Identity, StsError> {
    retry::run(
        backoff,
        |_| caller_identity(config, credentials),
        |error| match error.verdict() {
            Verdict::Retry => Verdict::Retry,
            Verdict::FreshToken | Verdict::Fail => Verdict::Fail,
        },
    )
    .await
    .map_err(|failed| failed.error)
}

/// How an STS call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// STS answered with an error.
    Service,
    /// No answer in time.
    Timeout,
    /// The connection failed.
    Network,
    /// The answer was not a valid STS response.
    BadResponse,
    /// The request could not be built or sent at all (a bad endpoint URL).
    Request,
}

/// The endpoint called and, for network errors, what failed on the way.
#[derive(Debug, Default)]
struct Reach {
    /// The STS endpoint, once known (see [`StsError::at`]).
    endpoint: Option<String>,
    /// `DNS lookup failed for sts.invalid`, `connection refused`.
    network: Option<String>,
}

/// An STS failure, with the parts that decide retries and diagnosis.
#[derive(Debug)]
pub struct StsError {
    /// What kind of failure.
    pub kind: FailureKind,
    /// STS's error code (`AccessDenied`, `Throttling`, …).
    pub code: Option<String>,
    /// STS's message.
    pub message: Option<String>,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// Where the call went and what failed on the way; boxed, as it is
    /// rare and the error travels by value.
    reach: Option<Box<Reach>>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StsError {
    /// An error with exactly these parts, for classification and tests.
    pub fn new(
        kind: FailureKind,
        code: Option<&str>,
        message: Option<&str>,
        status: Option<u16>,
    ) -> Self {
        Self {
            kind,
            code: code.map(str::to_owned),
            message: message.map(str::to_owned),
            status,
            reach: None,
            source: None,
        }
    }

    /// The STS endpoint called, once [`StsError::at`] named it.
    pub fn endpoint(&self) -> Option<&str> {
        self.reach.as_ref().and_then(|r| r.endpoint.as_deref())
    }

    /// Names the endpoint the call went to, for the message.
    pub fn at(mut self, endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        let reach = self.reach.get_or_insert_with(Box::default);
        if reach.network.as_deref() == Some("DNS lookup failed")
            && let Some(host) = url::Url::parse(&endpoint)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        {
            reach.network = Some(format!("DNS lookup failed for {host}"));
        }
        reach.endpoint = Some(endpoint);
        self
    }

    /// The endpoint the SDK calls for `region` when none is configured.
    pub fn default_endpoint(region: &str) -> String {
        if region.starts_with("cn-") {
            format!("https://sts.{region}.amazonaws.com.cn")
        } else {
            format!("https://sts.{region}.amazonaws.com")
        }
    }

    fn incomplete(operation: &str) -> Self {
        Self::new(
            FailureKind::BadResponse,
            None,
            Some(&format!(
                "the {operation} response lacks the credentials or the identity"
            )),
            Some(200),
        )
    }

    /// Reads the parts out of an SDK error.
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let kind = match &err {
            SdkError::ServiceError(_) => FailureKind::Service,
            SdkError::TimeoutError(_) => FailureKind::Timeout,
            SdkError::DispatchFailure(d) if d.is_timeout() => FailureKind::Timeout,
            SdkError::DispatchFailure(d) if d.is_user() => FailureKind::Request,
            SdkError::DispatchFailure(_) => FailureKind::Network,
            SdkError::ResponseError(_) => FailureKind::BadResponse,
            _ => FailureKind::Request,
        };
        let (code, message) = match err.as_service_error() {
            Some(e) => (e.code().map(str::to_owned), e.message().map(str::to_owned)),
            None => (None, None),
        };
        let network = (kind == FailureKind::Network).then(|| network_failure(&err));
        Self {
            kind,
            code,
            message,
            status,
            reach: network.map(|network| {
                Box::new(Reach {
                    endpoint: None,
                    network: Some(network),
                })
            }),
            source: Some(Box::new(err)),
        }
    }

    /// Cuts `secret` out of the error's source text. The SDK's error for a
    /// request it could not send (a bad endpoint) quotes the request, body
    /// and all, and the body of AssumeRoleWithWebIdentity holds the token.
    pub fn redact(mut self, secret: &str) -> Self {
        let Some(source) = self.source.take() else {
            return self;
        };
        let text = chain(&*source);
        self.source = if secret.is_empty() || !text.contains(secret) {
            Some(source)
        } else {
            Some(Box::new(Redacted(text.replace(secret, "***"))))
        };
        self
    }

    /// Whether STS answered with this error code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// What the retry loop should do: retry throttling, IdP outages, server
    /// errors and network trouble; mint a new token for an expired one; fail
    /// at once on everything else, which no retry will fix.
    pub fn verdict(&self) -> Verdict {
        match self.kind {
            FailureKind::Timeout | FailureKind::Network => return Verdict::Retry,
            FailureKind::Request => return Verdict::Fail,
            FailureKind::Service | FailureKind::BadResponse => {}
        }
        match self.code.as_deref() {
            Some("ExpiredTokenException" | "ExpiredToken") => Verdict::FreshToken,
            Some(
                "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "IDPCommunicationError"
                | "ServiceUnavailable"
                | "InternalFailure",
            ) => Verdict::Retry,
            _ if self.status.is_some_and(|s| s >= 500) => Verdict::Retry,
            _ => Verdict::Fail,
        }
    }
}

impl fmt::Display for StsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, &self.code, &self.message) {
            (FailureKind::Service, Some(code), Some(message)) => write!(f, "{code}: {message}"),
            (FailureKind::Service, Some(code), None) => write!(f, "{code}"),
            (FailureKind::Timeout, ..) => match self.endpoint() {
                Some(endpoint) => write!(f, "STS at {endpoint} did not answer in time"),
                None => write!(f, "STS did not answer in time"),
            },
            (FailureKind::Network, ..) => {
                write!(f, "cannot reach STS")?;
                if let Some(endpoint) = self.endpoint() {
                    write!(f, " at {endpoint}")?;
                }
                match self.reach.as_ref().and_then(|r| r.network.as_deref()) {
                    Some(what) => write!(f, ": {what}"),
                    None => Ok(()),
                }
            }
            (FailureKind::Request, ..) => write!(f, "cannot send the request to STS"),
            (_, _, Some(message)) => write!(f, "{message}"),
            _ => match self.status {
                Some(status) => write!(f, "STS answered HTTP {status} with no error code"),
                None => write!(f, "STS failed"),
            },
        }
    }
}

/// What failed under a dispatch failure, in a few words: the DNS lookup
/// (naming the host), the connection, or TLS.
fn network_failure(error: &(dyn std::error::Error + 'static)) -> String {
    let text = chain(error);
    let lower = text.to_lowercase();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".to_owned(),
                _ => {}
            }
        }
        next = cause.source();
    }
    if lower.contains("dns error") || lower.contains("lookup address") {
        "DNS lookup failed".to_owned()
    } else if lower.contains("connection refused") {
        "connection refused".to_owned()
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "TLS handshake failed".to_owned()
    } else {
        let last = text.rsplit(": ").next().unwrap_or(&text);
        format!("connection failed ({last})")
    }
}

use slipway_shared::error_chain as chain;

/// An error chain's text with a secret cut out.
#[derive(Debug)]
struct Redacted(String);

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Redacted {}

impl std::error::Error for StsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // A service error's code and message are already in our text; its
        // SDK wrapper would only repeat them.
        // A network failure's text already says what failed; the SDK's
        // dispatch chain would bury it.
        match self.kind {
            FailureKind::Service | FailureKind::Network => None,
            _ => self.source.as_deref().map(|e| e as _),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str, status: u16) -> StsError {
        StsError::new(FailureKind::Service, Some(code), Some("m"), Some(status))
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert_eq!(service("Throttling", 400).verdict(), Verdict::Retry);
        assert_eq!(
            service("IDPCommunicationError", 400).verdict(),
            Verdict::Retry
        );
        assert_eq!(service("InternalFailure", 500).verdict(), Verdict::Retry);
        assert_eq!(service("Whatever", 503).verdict(), Verdict::Retry);
        assert_eq!(
            StsError::new(FailureKind::BadResponse, None, None, Some(502)).verdict(),
            Verdict::Retry
        );
        assert_eq!(
            StsError::new(FailureKind::Network, None, None, None).verdict(),
            Verdict::Retry
        );
        assert_eq!(
            StsError::new(FailureKind::Timeout, None, None, None).verdict(),
            Verdict::Retry
        );
    }

    #[test]
    fn configuration_errors_fail_at_once() {
        for code in [
            "AccessDenied",
            "InvalidIdentityToken",
            "IDPRejectedClaim",
            "ValidationError",
            "MalformedPolicyDocument",
            "PackedPolicyTooLarge",
            "RegionDisabledException",
        ] {
            assert_eq!(service(code, 400).verdict(), Verdict::Fail, "{code}");
        }
        assert_eq!(
            StsError::new(FailureKind::Request, None, None, None).verdict(),
            Verdict::Fail
        );
    }

    #[test]
    fn an_expired_token_asks_for_a_fresh_one() {
        assert_eq!(
            service("ExpiredTokenException", 400).verdict(),
            Verdict::FreshToken
        );
    }

    #[test]
    fn a_service_error_reads_as_code_and_message() {
        let e = StsError::new(
            FailureKind::Service,
            Some("AccessDenied"),
            Some("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
            Some(403),
        );
        assert_eq!(
            e.to_string(),
            "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"
        );
    }

    #[tokio::test]
    async fn a_request_the_sdk_cannot_send_never_quotes_the_token() {
        // The SDK fails this before any connection, quoting the request.
        let client = aws_sdk_sts::Client::from_conf(config("us-east-1", Some("not-a-url")));
        let params = AssumeParams {
            role_arn: "arn:aws:iam::123456789012:role/deploy",
            session_name: "s1",
            duration: Duration::from_secs(3600),
            policy: None,
            policy_arns: &[],
        };
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvIn0.c2lnbmF0dXJl";
        let error = assume(&client, &params, token).await.unwrap_err();
        let text = chain(&error);
        assert!(!text.contains(token), "{text}");
        let debug = format!("{error:?}");
        assert!(!debug.contains(token), "{debug}");
        assert!(debug.contains("WebIdentityToken=***"), "{debug}");
    }

    #[test]
    fn endpoints_must_be_http_urls_with_a_host() {
        for good in [
            "http://127.0.0.1:4566",
            "https://sts.eu-west-1.amazonaws.com/",
        ] {
            check_endpoint(good).unwrap();
        }
        for bad in ["not-a-url", "http://[::1", "ftp://x", "unix:/tmp/sock"] {
            let err = check_endpoint(bad).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn endpoints_resolve_as_the_sdks_do() {
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2"),
        ]);
        assert_eq!(
            endpoint_override(&env, None).as_deref(),
            Some("http://127.0.0.1:2")
        );
        assert_eq!(
            endpoint_override(&env, Some("http://x")).as_deref(),
            Some("http://x")
        );
        let general = Env::from_pairs([("AWS_ENDPOINT_URL", "http://127.0.0.1:1")]);
        assert_eq!(
            endpoint_override(&general, None).as_deref(),
            Some("http://127.0.0.1:1")
        );
        let ignored = Env::from_pairs([
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(endpoint_override(&ignored, None), None);
    }
}
