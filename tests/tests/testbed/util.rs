//! Official clients pointed at a sandbox.

use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_types::retry::RetryConfig;
use slipway_tests::{IssuedCredential, Sandbox};

/// An STS client with no credentials (AssumeRoleWithWebIdentity is unsigned)
/// and no retries, so every call reaches the sandbox exactly once.
pub fn sts(sandbox: &Sandbox) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(sts_config(sandbox).build())
}

/// AssumeRoleWithWebIdentity for `role_arn` with `token`, session
/// `gha-run-1`, ready for more parameters or `send()`.
pub fn assume(
    sandbox: &Sandbox,
    role_arn: &str,
    token: &str,
) -> aws_sdk_sts::operation::assume_role_with_web_identity::builders::AssumeRoleWithWebIdentityFluentBuilder{
    sts(sandbox)
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name("gha-run-1")
        .web_identity_token(token)
}

/// An STS client signing with `credential`.
pub fn sts_as(sandbox: &Sandbox, credential: &IssuedCredential) -> aws_sdk_sts::Client {
    let config = sts_config(sandbox)
        .credentials_provider(credentials(credential))
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

fn sts_config(sandbox: &Sandbox) -> aws_sdk_sts::config::Builder {
    aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(sandbox.region().to_owned()))
        .endpoint_url(sandbox.sts_endpoint())
        .retry_config(RetryConfig::disabled())
}

/// The SDK's view of a sandbox credential.
pub fn credentials(credential: &IssuedCredential) -> Credentials {
    Credentials::new(
        credential.access_key_id.clone(),
        credential.secret_access_key.clone(),
        credential.session_token.clone(),
        credential.expiration,
        "slipway-sandbox",
    )
}

/// Fetches a token the way the Actions toolkit does: GET the request URL
/// with `&audience=` and the bearer token, read `value`.
pub async fn request_token(sandbox: &Sandbox, audience: &str) -> String {
    let oidc = sandbox.oidc();
    let url = format!("{}&audience={audience}", oidc.request_url());
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(oidc.request_token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["value"].as_str().unwrap().to_owned()
}
