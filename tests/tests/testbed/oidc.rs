use serde_json::Value;
use slipway_tests::{Claims, Sandbox};

use crate::util::request_token;

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn discovery_points_at_a_jwks_with_the_signing_key() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();
    let (status, discovery) = get_json(&format!(
        "{}/.well-known/openid-configuration",
        oidc.issuer_url()
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], oidc.issuer_url());
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"][0],
        "RS256"
    );
    let (_, jwks) = get_json(discovery["jwks_uri"].as_str().unwrap()).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["kid"], oidc.signing_key().kid());
}

#[tokio::test]
async fn token_endpoint_mints_github_claims_for_the_requested_audience() {
    let sandbox = Sandbox::builder()
        .without_moto()
        .claims(Claims {
            environment: Some("production".into()),
            ..Claims::default()
        })
        .start()
        .await
        .unwrap();
    let oidc = sandbox.oidc();
    assert!(oidc.request_url().ends_with("?api-version=2.0"));
    let token = request_token(&sandbox, "sts.amazonaws.com").await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(oidc.signing_key().kid()));
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(&token)
        .unwrap()
        .claims;
    assert_eq!(claims["aud"], "sts.amazonaws.com");
    assert_eq!(claims["iss"], oidc.issuer_url());
    assert_eq!(claims["sub"], "repo:acme/shop:environment:production");
    assert_eq!(claims["environment"], "production");
    assert_eq!(claims["repository"], "acme/shop");
    assert_eq!(claims["ref"], "refs/heads/main");
    assert_eq!(claims["event_name"], "push");
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 300);
    assert_eq!(oidc.tokens_issued(), 1);

    oidc.set_claims(Claims {
        immutable_sub: true,
        ..Claims::default()
    });
    let token = request_token(&sandbox, "sts.amazonaws.com").await;
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(&token)
        .unwrap()
        .claims;
    assert_eq!(
        claims["sub"],
        "repo:acme@90010020/shop@700100200:ref:refs/heads/main"
    );
}

#[tokio::test]
async fn token_without_audience_is_for_the_owner_url() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();
    let response = reqwest::Client::new()
        .get(oidc.request_url())
        .bearer_auth(oidc.request_token())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let token = body["value"].as_str().unwrap();
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(token)
        .unwrap()
        .claims;
    assert_eq!(claims["aud"], "https://github.com/acme");
}

#[tokio::test]
async fn refused_requests_answer_the_chosen_status_until_allowed() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();
    let client = reqwest::Client::new();
    let fetch = || {
        client
            .get(format!("{}&audience=sts.amazonaws.com", oidc.request_url()))
            .bearer_auth(oidc.request_token())
            .send()
    };
    oidc.refuse_requests(503);
    let refused = fetch().await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert!(body["message"].is_string());
    oidc.allow_requests();
    assert_eq!(fetch().await.unwrap().status(), 200);
    assert_eq!(oidc.tokens_issued(), 1);
}

#[tokio::test]
async fn token_endpoint_carries_the_configured_actor_event_run_and_sha() {
    let sandbox = Sandbox::builder()
        .without_moto()
        .claims(Claims {
            repository: "globex/billing".into(),
            git_ref: "refs/tags/v2.0.1".into(),
            actor: "release-bot".into(),
            event_name: "workflow_dispatch".into(),
            run_id: 98_765,
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            ..Claims::default()
        })
        .start()
        .await
        .unwrap();
    let token = request_token(&sandbox, "sts.amazonaws.com").await;
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(&token)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "repo:globex/billing:ref:refs/tags/v2.0.1");
    assert_eq!(claims["repository"], "globex/billing");
    assert_eq!(claims["repository_owner"], "globex");
    assert_eq!(claims["ref"], "refs/tags/v2.0.1");
    assert_eq!(claims["ref_type"], "tag");
    assert_eq!(claims["actor"], "release-bot");
    assert_eq!(claims["event_name"], "workflow_dispatch");
    assert_eq!(claims["run_id"], "98765");
    assert_eq!(claims["sha"], "0123456789abcdef0123456789abcdef01234567");
    assert!(claims.get("environment").is_none());
}

#[tokio::test]
async fn debug_output_of_the_issuer_leaves_out_the_request_token() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let shown = format!("{:?}", sandbox.oidc());
    assert!(shown.contains(&sandbox.oidc().issuer_url()), "{shown}");
    assert!(!shown.contains(&sandbox.oidc().request_token()), "{shown}");
}

#[tokio::test]
async fn the_bearer_scheme_is_accepted_in_any_case_and_a_wrong_token_is_not() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();
    let client = reqwest::Client::new();
    let token = oidc.request_token();
    for (authorization, status) in [
        (format!("bearer {token}"), 200),
        (format!("BEARER {token}"), 200),
        (format!("Bearer {token}"), 200),
        (format!("Basic {token}"), 401),
        ("bearer wrong".to_owned(), 401),
        (format!("bearer{token}"), 401),
    ] {
        let response = client
            .get(oidc.request_url())
            .header("authorization", &authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{authorization}");
    }
}
