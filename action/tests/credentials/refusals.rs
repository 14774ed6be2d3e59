//! Refusals fail at once and say what to change.

use slipway_tests::{Claims, Role, TrustPolicy};

use crate::util::{Step, sandbox};

/// The JSON statement the diagnosis printed, parsed.
fn printed_statement(stderr: &str) -> serde_json::Value {
    let start = stderr.find("\n{").expect("a JSON statement") + 1;
    let end = stderr.rfind('}').expect("the statement's end") + 1;
    serde_json::from_str(&stderr[start..end]).expect("the statement is JSON")
}

#[tokio::test]
async fn a_wrong_sub_names_the_cause_and_the_condition_that_fixes_it() {
    let sandbox = sandbox().await;
    sandbox.oidc().set_claims(Claims {
        environment: Some("production".into()),
        ..Claims::default()
    });
    let run = Step::new(&sandbox).run().await;
    assert!(!run.success);
    assert_eq!(
        sandbox.sts().assume_calls(),
        1,
        "AccessDenied is not retried"
    );
    run.assert_stderr_has(&[
        "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
        "sub          repo:acme/shop:environment:production",
        "environment  production",
        "ref          refs/heads/main",
        "event_name   push",
        &format!("role         {}", sandbox.deploy_role_arn()),
        "Most likely cause: the job runs in the environment `production`",
    ]);
    assert!(
        run.stdout
            .contains("::error title=Most likely cause::the job runs in the environment"),
        "{}",
        run.stdout
    );

    assert!(
        run.summary.contains("| environment | `production` |") && run.summary.contains("```json"),
        "{}",
        run.summary
    );

    // The printed statement really admits the token: a role trusting exactly
    // its condition gives credentials.
    let statement = printed_statement(&run.stderr);
    let host = sandbox.oidc().issuer_url().replace("http://", "");
    let condition = &statement["Condition"]["StringEquals"];
    assert_eq!(condition[format!("{host}:aud")], "sts.amazonaws.com");
    let sub = condition[format!("{host}:sub")].as_str().unwrap();
    assert_eq!(sub, "repo:acme/shop:environment:production");
    assert_eq!(
        statement["Principal"]["Federated"],
        format!("arn:aws:iam::123456789012:oidc-provider/{host}")
    );
    sandbox
        .sts()
        .add_role(Role::new("production-deploy", TrustPolicy::github(&[sub])));
    let run = Step::new(&sandbox)
        .set(
            "INPUT_ROLE-TO-ASSUME",
            &sandbox.sts().role_arn("production-deploy"),
        )
        .run()
        .await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn the_immutable_sub_form_is_named() {
    let sandbox = sandbox().await;
    sandbox.oidc().set_claims(Claims {
        immutable_sub: true,
        ..Claims::default()
    });
    let run = Step::new(&sandbox).run().await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "sub          repo:acme@90010020/shop@700100200:ref:refs/heads/main",
        "has the immutable `OWNER@ID/REPO@ID` form",
    ]);
}

#[tokio::test]
async fn access_denied_makes_exactly_one_sts_call() {
    let sandbox = sandbox().await;
    sandbox.oidc().set_claims(Claims {
        git_ref: "refs/heads/feature".into(),
        ..Claims::default()
    });
    let run = Step::new(&sandbox).run().await;
    assert!(!run.success);
    assert_eq!(sandbox.sts().assume_calls(), 1);
    assert_eq!(sandbox.oidc().tokens_issued(), 1);
    run.assert_stderr_has(&[
        "does not admit `repo:acme/shop:ref:refs/heads/feature`",
        "typo in the role ARN",
    ]);
    assert!(run.all().contains("(after 1 attempt)"), "{}", run.all());
}

#[tokio::test]
async fn a_wrong_audience_is_named() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set("INPUT_AUDIENCE", "sigstore")
        .run()
        .await;
    assert!(!run.success);
    assert_eq!(sandbox.sts().assume_calls(), 1);
    run.assert_stderr_has(&[
        "InvalidIdentityToken: Incorrect token audience",
        "aud          sigstore",
        "does not list the token's audience `sigstore` as a client ID",
    ]);
}

#[tokio::test]
async fn a_missing_provider_is_named() {
    let sandbox = sandbox().await;
    sandbox.sts().remove_provider(&sandbox.oidc().issuer_url());
    let run = Step::new(&sandbox).run().await;
    assert!(!run.success);
    run.assert_stderr_has(&["has no IAM OIDC provider for the issuer"]);
}

#[tokio::test]
async fn a_missing_id_token_permission_is_explained() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .unset("ACTIONS_ID_TOKEN_REQUEST_URL")
        .unset("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "permissions: id-token: write",
        "forks",
        "Dependabot",
    ]);
    assert!(
        run.stdout.starts_with("::error::no GitHub OIDC token"),
        "{}",
        run.stdout
    );
    assert_eq!(sandbox.sts().assume_calls(), 0);
}
