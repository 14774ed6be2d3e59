//! The refreshing provider renews the session before it ends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use slipway_action::credentials::exchange::Exchange;
use slipway_action::credentials::oidc::TokenSource;
use slipway_action::credentials::provider::RefreshingCredentials;
use slipway_action::credentials::request::RoleArn;
use slipway_action::credentials::retry::Backoff;
use slipway_action::credentials::sts;
use slipway_action::env::Env;
use slipway_tests::Sandbox;

use crate::util::sandbox;

/// A clock that moves only when told.
#[derive(Debug, Clone)]
struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl TimeSource for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn exchange(sandbox: &Sandbox) -> Exchange {
    let env = Env::from_pairs([
        ("ACTIONS_ID_TOKEN_REQUEST_URL", sandbox.oidc().request_url()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            sandbox.oidc().request_token(),
        ),
    ]);
    let endpoint = sandbox.sts_endpoint();
    Exchange {
        tokens: TokenSource::new(&env, "sts.amazonaws.com", None).unwrap(),
        http: reqwest::Client::new(),
        sts: aws_sdk_sts::Client::from_conf(sts::config(sandbox.region(), Some(&endpoint))),
        role: RoleArn::parse(&sandbox.deploy_role_arn()).unwrap(),
        session_name: "long-deploy".into(),
        duration: Duration::from_secs(3600),
        policy: None,
        policy_arns: Vec::new(),
        backoff: Backoff::default(),
        chain: None,
    }
}

/// A provider on a manual clock, over a sandbox whose sessions last
/// `lifetime`.
fn provider(sandbox: &Sandbox, lifetime: Duration) -> (RefreshingCredentials, ManualClock) {
    sandbox.sts().set_credential_lifetime(lifetime);
    let clock = ManualClock(Arc::new(Mutex::new(SystemTime::now())));
    let time = SharedTimeSource::new(clock.clone());
    (RefreshingCredentials::new(exchange(sandbox), time), clock)
}

#[tokio::test]
async fn the_provider_reassumes_with_a_fresh_jwt_before_the_session_ends() {
    let sandbox = sandbox().await;
    let (provider, clock) = provider(&sandbox, Duration::from_secs(40));

    let first = provider.provide_credentials().await.unwrap();
    let again = provider.provide_credentials().await.unwrap();
    assert_eq!(
        first.access_key_id(),
        again.access_key_id(),
        "cached while fresh"
    );
    assert_eq!(sandbox.sts().assume_calls(), 1);

    // Three quarters into the 40 s session (on the manual clock; no real
    // waiting) it is renewed, with a new JWT.
    clock.advance(Duration::from_secs(29));
    let still = provider.provide_credentials().await.unwrap();
    assert_eq!(first.access_key_id(), still.access_key_id());
    clock.advance(Duration::from_secs(2));
    let renewed = provider.provide_credentials().await.unwrap();
    assert_ne!(first.access_key_id(), renewed.access_key_id());
    assert_eq!(sandbox.sts().assume_calls(), 2);
    assert_eq!(sandbox.oidc().tokens_issued(), 2);
    assert_eq!(provider.assumptions(), 2);

    // An SDK client signing through the provider gets the renewed keys.
    let config = sts::config(sandbox.region(), Some(&sandbox.sts_endpoint()))
        .to_builder()
        .credentials_provider(provider.clone())
        .build();
    let identity = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        identity.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/slipway-deploy/long-deploy")
    );
}

#[tokio::test]
async fn keys_past_their_short_lifetime_are_refused_so_renewal_matters() {
    let sandbox = sandbox().await;
    let (provider, clock) = provider(&sandbox, Duration::from_secs(1));
    let first = provider.provide_credentials().await.unwrap();
    let expiry = first.expiry().unwrap();
    // Wait (by polling the real clock) until STS must refuse the keys.
    while SystemTime::now() <= expiry + Duration::from_millis(100) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = sts::config(sandbox.region(), Some(&sandbox.sts_endpoint()));
    let stale = sts::caller_identity(&config, &first).await.unwrap_err();
    assert_eq!(stale.code.as_deref(), Some("ExpiredToken"), "{stale}");
    // The renewed keys get a lifetime no stall of this machine outlasts.
    sandbox
        .sts()
        .set_credential_lifetime(Duration::from_secs(60));
    clock.advance(Duration::from_secs(1));
    let renewed = provider.provide_credentials().await.unwrap();
    sts::caller_identity(&config, &renewed).await.unwrap();
}

#[tokio::test]
async fn a_failed_renewal_keeps_the_unexpired_session_and_is_tried_again() {
    let sandbox = sandbox().await;
    sandbox
        .sts()
        .set_credential_lifetime(Duration::from_secs(40));
    let clock = ManualClock(Arc::new(Mutex::new(SystemTime::now())));
    let mut exchange = exchange(&sandbox);
    // Retries on the real clock: keep them short.
    exchange.backoff = Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_attempts: 2,
        max_elapsed: Duration::from_secs(5),
    };
    let provider = RefreshingCredentials::new(exchange, SharedTimeSource::new(clock.clone()));
    let first = provider.provide_credentials().await.unwrap();

    // Past the renewal point, before the end: STS is down, the keys in hand
    // still work.
    clock.advance(Duration::from_secs(31));
    sandbox.sts().fail_next_with(2, 503);
    let kept = provider.provide_credentials().await.unwrap();
    assert_eq!(first.access_key_id(), kept.access_key_id());
    assert_eq!(sandbox.sts().assume_calls(), 3, "the renewal was tried");

    // STS is back: the next call renews.
    let renewed = provider.provide_credentials().await.unwrap();
    assert_ne!(first.access_key_id(), renewed.access_key_id());

    // Once the session has ended, a failed renewal is an error.
    clock.advance(Duration::from_secs(41));
    sandbox.sts().fail_next_with(2, 503);
    provider
        .provide_credentials()
        .await
        .expect_err("no credentials past the end of the session");
}

#[tokio::test]
async fn a_chained_session_is_renewed_by_assume_role_from_the_source_keys() {
    use slipway_tests::{AwsTrust, Role};
    let sandbox = sandbox().await;
    sandbox.sts().add_role_in(
        "210987654321",
        Role::assumable_by(
            "cross-deploy",
            AwsTrust::assume_role("arn:aws:iam::123456789012:role/slipway-deploy"),
        ),
    );
    // The first role's session, as an earlier step would leave it.
    let source = exchange(&sandbox).assume().await.unwrap().credentials;
    sandbox
        .sts()
        .set_credential_lifetime(Duration::from_secs(40));
    let mut chained = exchange(&sandbox);
    chained.tokens = TokenSource::Unused;
    chained.role = RoleArn::parse("arn:aws:iam::210987654321:role/cross-deploy").unwrap();
    chained.chain = Some(sts::Chain {
        source,
        external_id: None,
        tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
    });
    let clock = ManualClock(Arc::new(Mutex::new(SystemTime::now())));
    let provider = RefreshingCredentials::new(chained, SharedTimeSource::new(clock.clone()));
    let first = provider.provide_credentials().await.unwrap();
    clock.advance(Duration::from_secs(31));
    let renewed = provider.provide_credentials().await.unwrap();
    assert_ne!(first.access_key_id(), renewed.access_key_id());
    let records = sandbox.sts().assume_records();
    assert_eq!(
        records
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        ["AssumeRoleWithWebIdentity", "AssumeRole", "AssumeRole"]
    );
    assert_eq!(sandbox.oidc().tokens_issued(), 1, "no token for the chain");
    let config = sts::config(sandbox.region(), Some(&sandbox.sts_endpoint()));
    let identity = sts::caller_identity(&config, &renewed).await.unwrap();
    assert_eq!(identity.account, "210987654321");
}
