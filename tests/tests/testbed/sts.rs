use std::time::{Duration, SystemTime};

use aws_sdk_sts::error::ProvideErrorMetadata;
use slipway_tests::{Claims, Condition, Role, Sandbox, TrustPolicy};

use crate::util::{assume, request_token, sts, sts_as};

/// Calls AssumeRoleWithWebIdentity and returns the error's code and message.
async fn refusal(sandbox: &Sandbox, role_arn: &str, token: &str) -> (String, String) {
    let error = assume(sandbox, role_arn, token)
        .send()
        .await
        .expect_err("STS accepted the token");
    let error = error.into_service_error();
    (
        error.code().unwrap_or_default().to_owned(),
        error.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn default_token_assumes_the_deploy_role_and_the_credentials_identify_it() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let token = request_token(&sandbox, "sts.amazonaws.com").await;
    let output = assume(&sandbox, &sandbox.deploy_role_arn(), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        output.subject_from_web_identity_token(),
        Some("repo:acme/shop:ref:refs/heads/main")
    );
    assert_eq!(output.audience(), Some("sts.amazonaws.com"));
    let user = output.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::123456789012:assumed-role/slipway-deploy/gha-run-1"
    );
    assert!(user.assumed_role_id().starts_with("AROA"));
    assert!(user.assumed_role_id().ends_with(":gha-run-1"));
    let credentials = output.credentials().unwrap();
    assert!(credentials.access_key_id().starts_with("ASIA"));
    let expires_in = SystemTime::try_from(*credentials.expiration())
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(expires_in > Duration::from_secs(3500) && expires_in <= Duration::from_secs(3600));
    assert_eq!(sandbox.sts().assume_calls(), 1);

    let issued = sandbox
        .credential_store()
        .lookup(credentials.access_key_id())
        .expect("STS records what it issues");
    assert_eq!(issued.secret_access_key, credentials.secret_access_key());
    let identity = sts_as(&sandbox, &issued)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(identity.arn(), Some(user.arn()));
    assert_eq!(identity.account(), Some("123456789012"));
    assert_eq!(identity.user_id(), Some(user.assumed_role_id()));

    let static_identity = sts_as(&sandbox, sandbox.static_credentials())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        static_identity.arn(),
        Some("arn:aws:iam::123456789012:user/sandbox")
    );
}

#[tokio::test]
async fn trust_policy_mismatches_are_access_denied() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let denied = (
        "AccessDenied".to_owned(),
        "Not authorized to perform sts:AssumeRoleWithWebIdentity".to_owned(),
    );
    let oidc = sandbox.oidc();

    oidc.set_claims(Claims {
        git_ref: "refs/heads/feature".into(),
        ..Claims::default()
    });
    let token = oidc.mint("sts.amazonaws.com");
    assert_eq!(
        refusal(&sandbox, &sandbox.deploy_role_arn(), &token).await,
        denied
    );

    // The immutable sub does not match a name-only trust policy.
    oidc.set_claims(Claims {
        immutable_sub: true,
        ..Claims::default()
    });
    let token = oidc.mint("sts.amazonaws.com");
    assert_eq!(
        refusal(&sandbox, &sandbox.deploy_role_arn(), &token).await,
        denied
    );

    // A role that does not exist reads the same.
    let token = oidc.mint("sts.amazonaws.com");
    let missing = sandbox.sts().role_arn("no-such-role");
    assert_eq!(refusal(&sandbox, &missing, &token).await, denied);
    assert_eq!(sandbox.sts().assume_calls(), 3);
}

#[tokio::test]
async fn string_like_conditions_admit_matching_subjects() {
    let sandbox = Sandbox::builder()
        .without_moto()
        .role(Role::new(
            "release",
            TrustPolicy::github_like(&["repo:acme@*/shop@*:ref:refs/tags/v*"])
                .with(Condition::string_equals("repository", &["acme/shop"])),
        ))
        .claims(Claims {
            git_ref: "refs/tags/v1.2.0".into(),
            immutable_sub: true,
            ..Claims::default()
        })
        .start()
        .await
        .unwrap();
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let output = sts(&sandbox)
        .assume_role_with_web_identity()
        .role_arn(sandbox.sts().role_arn("release"))
        .role_session_name("release-1")
        .web_identity_token(token)
        .send()
        .await
        .unwrap();
    assert!(output.credentials().is_some());
}

#[tokio::test]
async fn token_problems_get_sts_codes_and_words() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();
    let role = sandbox.deploy_role_arn();

    let token = oidc.mint("sigstore");
    let (code, message) = refusal(&sandbox, &role, &token).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("InvalidIdentityToken", "Incorrect token audience")
    );

    oidc.expire_next_tokens(1);
    let token = oidc.mint("sts.amazonaws.com");
    let (code, message) = refusal(&sandbox, &role, &token).await;
    assert_eq!(code, "ExpiredTokenException");
    assert!(
        message.starts_with("Token expired: current date/time "),
        "{message}"
    );
    assert!(
        message.contains(" must be before the expiration date/time "),
        "{message}"
    );

    sandbox.sts().remove_provider(&oidc.issuer_url());
    let token = oidc.mint("sts.amazonaws.com");
    let (code, message) = refusal(&sandbox, &role, &token).await;
    assert_eq!(code, "InvalidIdentityToken");
    assert_eq!(
        message,
        format!(
            "No OpenIDConnect provider found in your account for {}",
            oidc.issuer_url()
        )
    );
}

#[tokio::test]
async fn injected_throttling_and_failures_come_first_and_count_as_calls() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let role = sandbox.deploy_role_arn();
    sandbox.sts().throttle_next(2);
    for _ in 0..2 {
        let (code, message) = refusal(&sandbox, &role, &token).await;
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("Throttling", "Rate exceeded")
        );
    }
    sandbox.sts().idp_unreachable_next(1);
    let (code, message) = refusal(&sandbox, &role, &token).await;
    assert_eq!(code, "IDPCommunicationError");
    assert!(message.contains("could not be reached"), "{message}");
    sandbox.sts().fail_next_with(1, 503);
    let error = assume(&sandbox, &role, &token).send().await.unwrap_err();
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(
        error.into_service_error().code(),
        Some("ServiceUnavailable")
    );
    let output = assume(&sandbox, &role, &token).send().await.unwrap();
    assert!(output.credentials().is_some());
    assert_eq!(sandbox.sts().assume_calls(), 5);
}

#[tokio::test]
async fn durations_follow_the_role_and_the_lifetime_override() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let error = assume(&sandbox, &sandbox.deploy_role_arn(), &token)
        .duration_seconds(7200)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(error.code(), Some("ValidationError"));
    assert_eq!(
        error.message(),
        Some("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    );

    sandbox
        .sts()
        .set_credential_lifetime(Duration::from_secs(3));
    let output = assume(&sandbox, &sandbox.deploy_role_arn(), &token)
        .send()
        .await
        .unwrap();
    let expiration = SystemTime::try_from(*output.credentials().unwrap().expiration()).unwrap();
    assert!(expiration <= SystemTime::now() + Duration::from_secs(3));
}

#[tokio::test]
async fn a_pasted_iam_trust_document_defines_a_role() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let host = sandbox.oidc().issuer_url().replace("http://", "");
    let document = format!(
        r#"{{
          "Version": "2012-10-17",
          "Statement": [{{
            "Effect": "Allow",
            "Principal": {{"Federated": "arn:aws:iam::123456789012:oidc-provider/{host}"}},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {{
              "StringEquals": {{"{host}:aud": "sts.amazonaws.com", "{host}:environment": "production"}},
              "StringLike": {{"{host}:sub": "repo:acme/shop:*"}}
            }}
          }}]
        }}"#
    );
    sandbox
        .sts()
        .add_role(Role::from_trust_document("production", &document).unwrap());
    let role = sandbox.sts().role_arn("production");

    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let (code, _) = refusal(&sandbox, &role, &token).await;
    assert_eq!(code, "AccessDenied", "no environment claim, no entry");

    sandbox.oidc().set_claims(Claims {
        environment: Some("production".into()),
        ..Claims::default()
    });
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let output = assume(&sandbox, &role, &token).send().await.unwrap();
    assert!(output.credentials().is_some());

    // What the sandbox writes back is a document IAM would read the same way.
    let written = sandbox.sts().trust_document("production").unwrap();
    let statement = &written["Statement"][0];
    assert_eq!(
        statement["Condition"]["StringLike"][format!("{host}:sub")],
        "repo:acme/shop:*"
    );
    let deploy = sandbox.sts().trust_document("slipway-deploy").unwrap();
    assert_eq!(
        deploy["Statement"][0]["Condition"]["StringEquals"][format!("{host}:sub")],
        "repo:acme/shop:ref:refs/heads/main"
    );
}

#[tokio::test]
async fn malformed_role_arns_and_session_policies_are_refused_before_the_token() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let (code, message) = refusal(&sandbox, "slipway-deploy-without-an-arn", &token).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("ValidationError", "Request ARN is invalid")
    );

    let error = assume(&sandbox, &sandbox.deploy_role_arn(), &token)
        .policy("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(error.code(), Some("MalformedPolicyDocument"));
    assert!(error.is_malformed_policy_document_exception());

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let output = assume(&sandbox, &sandbox.deploy_role_arn(), &token)
        .policy(policy)
        .send()
        .await
        .unwrap();
    assert!(
        output
            .session_token_utilization()
            .is_some_and(|p| p > 0 && p < 100)
    );
    assert!(output.session_token_size().is_some_and(|size| size > 300));
    assert_eq!(sandbox.sts().assume_calls(), 3);
}
