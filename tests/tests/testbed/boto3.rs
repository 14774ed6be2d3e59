use std::process::Command;

use serde_json::Value;
use slipway_tests::{Claims, Sandbox, venv};

#[tokio::test]
async fn boto3_assumes_the_role_and_sees_sts_errors() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();
    let token = oidc.mint("sts.amazonaws.com");
    let wrong_audience = oidc.mint("sigstore");
    oidc.expire_next_tokens(1);
    let expired = oidc.mint("sts.amazonaws.com");
    oidc.set_claims(Claims {
        git_ref: "refs/heads/feature".into(),
        ..Claims::default()
    });
    let wrong_branch = oidc.mint("sts.amazonaws.com");

    let python = venv::bin("python").unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testbed/boto3_sts.py");
    let static_credentials = sandbox.static_credentials();
    let sts_endpoint = sandbox.sts_endpoint();
    let role = sandbox.deploy_role_arn();
    // boto3 blocks; run it off the runtime that serves the sandbox.
    let output = tokio::task::spawn_blocking({
        let (key_id, secret) = (
            static_credentials.access_key_id.clone(),
            static_credentials.secret_access_key.clone(),
        );
        move || {
            Command::new(python)
                .arg(script)
                .env_clear()
                .env("SANDBOX_STS", sts_endpoint)
                .env("SANDBOX_ROLE", role)
                .env("SANDBOX_KEY_ID", key_id)
                .env("SANDBOX_SECRET", secret)
                .env("SANDBOX_TOKEN", token)
                .env("SANDBOX_WRONG_AUDIENCE_TOKEN", wrong_audience)
                .env("SANDBOX_WRONG_BRANCH_TOKEN", wrong_branch)
                .env("SANDBOX_EXPIRED_TOKEN", expired)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "boto3 script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(seen["access_key_id"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(seen["subject"], "repo:acme/shop:ref:refs/heads/main");
    assert_eq!(seen["audience"], "sts.amazonaws.com");
    assert_eq!(
        seen["assumed_arn"],
        "arn:aws:sts::123456789012:assumed-role/slipway-deploy/boto3"
    );
    assert_eq!(seen["caller_arn"], seen["assumed_arn"]);
    assert_eq!(seen["caller_account"], "123456789012");
    assert!(seen["expiration"].as_str().unwrap().ends_with("+00:00"));

    assert_eq!(seen["wrong_audience"]["code"], "InvalidIdentityToken");
    assert_eq!(
        seen["wrong_audience"]["message"],
        "Incorrect token audience"
    );
    assert_eq!(seen["wrong_audience"]["status"], 400);
    assert_eq!(seen["wrong_branch"]["code"], "AccessDenied");
    assert_eq!(seen["wrong_branch"]["status"], 403);
    assert_eq!(
        seen["wrong_branch"]["message"],
        "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    );
    assert_eq!(seen["expired"]["code"], "ExpiredTokenException");
    assert!(
        seen["expired"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}
