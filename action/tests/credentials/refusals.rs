//! Refusals fail at once and say what to change; where the report prints a
//! trust statement, adding it to the sandbox role makes the next run
//! succeed, and where no statement can help, none is printed.

use base64::Engine;
use serde_json::{Value, json};
use slipway_tests::{Claims, Role, Sandbox};

use crate::util::{Run, Step, printed_statement, sandbox};

const NO_STATEMENT: &str = "admits this token";

/// Adds `statement` to role `name`'s trust policy (creating the role if it
/// does not exist), as a user pasting it into IAM would.
fn apply(sandbox: &Sandbox, name: &str, statement: Value) {
    let mut document = sandbox
        .sts()
        .trust_document(name)
        .unwrap_or_else(|| json!({"Version": "2012-10-17", "Statement": []}));
    document["Statement"]
        .as_array_mut()
        .expect("a statement list")
        .push(statement);
    let role = Role::from_trust_document(name, &document.to_string()).expect("IAM reads it");
    sandbox.sts().add_role(role);
}

/// Applies the printed statement to the deploy role and runs again.
async fn apply_and_rerun(sandbox: &Sandbox, run: &Run) -> Run {
    apply(sandbox, "slipway-deploy", printed_statement(&run.stderr));
    Step::new(sandbox).run().await
}

fn host(sandbox: &Sandbox) -> String {
    sandbox.oidc().issuer_url().replace("http://", "")
}

#[tokio::test]
async fn an_environment_sub_names_the_cause_and_the_printed_statement_fixes_it() {
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
        "Also check: that the role exists: STS answers the same AccessDenied for a missing or mistyped role. \
         `aws iam get-role --role-name slipway-deploy` with account 123456789012's own credentials",
        "This trust-policy statement admits this token:",
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
    let statement = printed_statement(&run.stderr);
    let host = host(&sandbox);
    let condition = &statement["Condition"]["StringEquals"];
    assert_eq!(condition[format!("{host}:aud")], "sts.amazonaws.com");
    assert_eq!(
        condition[format!("{host}:sub")],
        "repo:acme/shop:environment:production"
    );
    assert_eq!(
        statement["Principal"]["Federated"],
        format!("arn:aws:iam::123456789012:oidc-provider/{host}")
    );
    let run = apply_and_rerun(&sandbox, &run).await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn the_immutable_sub_form_is_named_and_the_printed_statement_fixes_it() {
    let sandbox = sandbox().await;
    sandbox.oidc().set_claims(Claims {
        immutable_sub: true,
        ..Claims::default()
    });
    let run = Step::new(&sandbox).run().await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "sub          repo:acme@90010020/shop@700100200:ref:refs/heads/main",
        "Most likely cause: the token's sub `repo:acme@90010020/shop@700100200:ref:refs/heads/main` has the \
         immutable `OWNER@ID/REPO@ID` form",
    ]);
    let run = apply_and_rerun(&sandbox, &run).await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn ordinary_claims_put_a_missing_role_and_the_sub_first_together() {
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
        &format!(
            "Two equally likely causes: (1) the role {} does not exist in account 123456789012 \
             (mistyped, deleted, or in another account), or (2) its trust policy's sub condition does not \
             admit `repo:acme/shop:ref:refs/heads/feature`. STS answers both with the same AccessDenied. \
             To tell them apart, run `aws iam get-role --role-name slipway-deploy` with account \
             123456789012's own credentials: NoSuchEntity means (1), and check that 123456789012 is the \
             account the workflow expects; if the role is there, it is (2).",
            sandbox.deploy_role_arn()
        ),
        "If the role exists, this trust-policy statement admits this token:",
    ]);
    assert!(!run.stderr.contains("Most likely cause"), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("::error title=Two equally likely causes::(1) the role"),
        "{}",
        run.stdout
    );
    assert!(run.all().contains("(after 1 attempt)"), "{}", run.all());
    // The role exists here, so it was (2): the statement fixes it.
    let run = apply_and_rerun(&sandbox, &run).await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn a_mistyped_role_is_one_of_the_two_causes_and_get_role_tells() {
    let sandbox = sandbox().await;
    let typo = sandbox.sts().role_arn("slipway-deplyo");
    let run = Step::new(&sandbox)
        .set("INPUT_ROLE-TO-ASSUME", &typo)
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        &format!("Two equally likely causes: (1) the role {typo} does not exist"),
        "`aws iam get-role --role-name slipway-deplyo`",
    ]);
    // What get-role would say: there is no such role, so it was (1)...
    assert!(sandbox.sts().trust_document("slipway-deplyo").is_none());
    // ...and the statement printed for "if the role exists" is right for
    // a role of that name.
    apply(&sandbox, "slipway-deplyo", printed_statement(&run.stderr));
    let run = Step::new(&sandbox)
        .set("INPUT_ROLE-TO-ASSUME", &typo)
        .run()
        .await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn a_pull_request_statement_comes_after_a_warning() {
    let sandbox = sandbox().await;
    sandbox.oidc().set_claims(Claims {
        event_name: "pull_request".into(),
        git_ref: "refs/pull/7/merge".into(),
        ..Claims::default()
    });
    let run = Step::new(&sandbox).run().await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "Most likely cause: the run is for a pull request, so its sub is `repo:acme/shop:pull_request`",
        "Warning: trusting `repo:acme/shop:pull_request` lets every pull request of acme/shop, from any \
         branch, assume this role with all its permissions. Give pull requests a separate, read-only role, \
         or deploy from a `push` to main or from an environment instead.",
    ]);
    let warning = run.stderr.find("Warning:").unwrap();
    assert!(warning < run.stderr.find(NO_STATEMENT).unwrap());
    assert!(
        run.summary.contains("**Warning:** trusting"),
        "{}",
        run.summary
    );
    let run = apply_and_rerun(&sandbox, &run).await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn a_wrong_audience_points_at_the_provider_and_prints_no_statement() {
    let sandbox = sandbox().await;
    let wrong = || Step::new(&sandbox).set("INPUT_AUDIENCE", "sigstore");
    let run = wrong().run().await;
    assert!(!run.success);
    assert_eq!(sandbox.sts().assume_calls(), 1);
    let host = host(&sandbox);
    let provider = format!("arn:aws:iam::123456789012:oidc-provider/{host}");
    run.assert_stderr_has(&[
        "InvalidIdentityToken: Incorrect token audience",
        "aud          sigstore",
        &format!(
            "Most likely cause: the token's aud `sigstore` is not among the client IDs (audiences) of the IAM \
             OIDC provider {provider}. STS checks that list before it reads any trust policy, so no \
             trust-policy change helps: add `sigstore` to the provider's client IDs (`aws iam \
             add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {provider} --client-id \
             sigstore`), or set the `audience` input to one the provider lists (default sts.amazonaws.com)."
        ),
    ]);
    assert!(!run.stderr.contains(NO_STATEMENT), "{}", run.stderr);
    assert!(!run.summary.contains("```json"), "{}", run.summary);

    // What the old advice said, a trust statement for aud sigstore,
    // changes nothing.
    apply(
        &sandbox,
        "slipway-deploy",
        json!({
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{host}:aud"): "sigstore",
                format!("{host}:sub"): "repo:acme/shop:ref:refs/heads/main",
            }},
        }),
    );
    let run = wrong().run().await;
    run.assert_stderr_has(&["Incorrect token audience"]);

    // The advice given does: the provider lists the audience.
    sandbox.sts().add_provider(
        &sandbox.oidc().issuer_url(),
        &["sts.amazonaws.com", "sigstore"],
    );
    let run = wrong().run().await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn an_audience_the_provider_takes_but_the_policy_does_not_gets_a_statement() {
    let sandbox = sandbox().await;
    sandbox.sts().add_provider(
        &sandbox.oidc().issuer_url(),
        &["sts.amazonaws.com", "sigstore"],
    );
    let step = || Step::new(&sandbox).set("INPUT_AUDIENCE", "sigstore");
    let run = step().run().await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "AccessDenied",
        "Most likely cause: the token's aud is `sigstore`, not sts.amazonaws.com: the OIDC provider accepts \
         it, so it is the trust policy that refused",
        "Also check: that the trust policy's sub condition admits `repo:acme/shop:ref:refs/heads/main`.",
    ]);
    apply(&sandbox, "slipway-deploy", printed_statement(&run.stderr));
    let run = step().run().await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn a_missing_provider_is_named_with_no_statement() {
    let sandbox = sandbox().await;
    let issuer = sandbox.oidc().issuer_url();
    sandbox.sts().remove_provider(&issuer);
    let run = Step::new(&sandbox).run().await;
    assert!(!run.success);
    run.assert_stderr_has(&[&format!(
        "Most likely cause: account 123456789012 has no IAM OIDC provider for the issuer {issuer}: create one \
         with that exact URL and the client ID (audience) sts.amazonaws.com (`aws iam \
         create-open-id-connect-provider --url {issuer} --client-id-list sts.amazonaws.com`)"
    )]);
    assert!(!run.stderr.contains(NO_STATEMENT), "{}", run.stderr);
    sandbox.sts().add_provider(&issuer, &["sts.amazonaws.com"]);
    let run = Step::new(&sandbox).run().await;
    assert!(run.success, "{}", run.all());
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Runs with the token in a file instead of the runner's endpoint.
async fn with_token(sandbox: &Sandbox, token: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.jwt");
    std::fs::write(&path, token).unwrap();
    Step::new(sandbox)
        .set("INPUT_WEB-IDENTITY-TOKEN-FILE", path.to_str().unwrap())
        .run()
        .await
}

#[tokio::test]
async fn a_bad_signature_says_what_to_check_on_the_provider_and_prints_no_statement() {
    let sandbox = sandbox().await;
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", signature.chars().rev().collect::<String>());
    let run = with_token(&sandbox, &forged).await;
    assert!(!run.success);
    let issuer = sandbox.oidc().issuer_url();
    run.assert_stderr_has(&[
        "InvalidIdentityToken: Token signature could not be verified",
        &format!(
            "Most likely cause: STS could not validate the token (Token signature could not be verified), so \
             no trust policy can admit it; the token's signature does not verify against the keys {issuer} \
             publishes"
        ),
    ]);
    assert!(!run.stderr.contains(NO_STATEMENT), "{}", run.stderr);
}

#[tokio::test]
async fn an_unretrievable_key_says_what_to_check_on_the_provider_and_prints_no_statement() {
    let sandbox = sandbox().await;
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let (_, rest) = token.split_once('.').unwrap();
    let header = b64(br#"{"alg":"RS256","typ":"JWT","kid":"rotated-away"}"#);
    let run = with_token(&sandbox, &format!("{header}.{rest}")).await;
    assert!(!run.success);
    let issuer = sandbox.oidc().issuer_url();
    run.assert_stderr_has(&[
        "Couldn't retrieve verification key",
        &format!(
            "STS could not fetch the key that signed the token: {issuer}/.well-known/openid-configuration \
             and the jwks_uri it names must be reachable"
        ),
    ]);
    assert!(!run.stderr.contains(NO_STATEMENT), "{}", run.stderr);
}

#[tokio::test]
async fn network_errors_name_the_endpoint_and_what_failed() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set("AWS_ENDPOINT_URL_STS", "https://sts.invalid")
        .set("INPUT_RETRY-MAX-ATTEMPTS", "1")
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "cannot reach STS at https://sts.invalid: DNS lookup failed for sts.invalid",
    ]);
    assert!(!run.stderr.contains("dispatch failure"), "{}", run.stderr);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = Step::new(&sandbox)
        .set("AWS_ENDPOINT_URL_STS", &url)
        .set("INPUT_RETRY-MAX-ATTEMPTS", "1")
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&[&format!("cannot reach STS at {url}: connection refused")]);
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
