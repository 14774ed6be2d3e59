//! Transient failures are retried; an expired token is replaced.

use crate::util::{Step, sandbox};

#[tokio::test]
async fn an_expired_jwt_is_reminted_and_the_role_assumed() {
    let sandbox = sandbox().await;
    sandbox.oidc().expire_next_tokens(1);
    let run = Step::new(&sandbox).run().await;
    assert!(run.success, "{}", run.all());
    assert_eq!(
        sandbox.oidc().tokens_issued(),
        2,
        "a fresh JWT after ExpiredTokenException"
    );
    assert_eq!(sandbox.sts().assume_calls(), 2);
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let sandbox = sandbox().await;
    sandbox.sts().throttle_next(2);
    let run = Step::new(&sandbox).run().await;
    assert!(run.success, "{}", run.all());
    assert_eq!(sandbox.sts().assume_calls(), 3);
    assert_eq!(
        sandbox.oidc().tokens_issued(),
        1,
        "the token is reused across retries"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let sandbox = sandbox().await;
    sandbox.sts().fail_next_with(1, 503);
    let run = Step::new(&sandbox).run().await;
    assert!(run.success, "{}", run.all());
    assert_eq!(sandbox.sts().assume_calls(), 2);
}

#[tokio::test]
async fn an_unreachable_identity_provider_is_retried_then_succeeds() {
    let sandbox = sandbox().await;
    sandbox.sts().idp_unreachable_next(2);
    let run = Step::new(&sandbox).run().await;
    assert!(run.success, "{}", run.all());
    assert_eq!(sandbox.sts().assume_calls(), 3);
}

#[tokio::test]
async fn retries_stop_at_retry_max_attempts() {
    let sandbox = sandbox().await;
    sandbox.sts().throttle_next(100);
    let run = Step::new(&sandbox)
        .set("INPUT_RETRY-MAX-ATTEMPTS", "3")
        .run()
        .await;
    assert!(!run.success);
    assert_eq!(sandbox.sts().assume_calls(), 3);
    assert!(
        run.all().contains("Throttling: Rate exceeded"),
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn a_refused_token_request_is_not_retried() {
    let sandbox = sandbox().await;
    sandbox.oidc().refuse_requests(403);
    let run = Step::new(&sandbox).run().await;
    assert!(!run.success);
    run.assert_stderr_has(&["answered 403"]);
    assert_eq!(sandbox.sts().assume_calls(), 0);
}

#[tokio::test]
async fn a_validation_error_fails_on_the_first_call() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set("INPUT_ROLE-DURATION-SECONDS", "43200")
        .run()
        .await;
    assert!(!run.success);
    assert_eq!(sandbox.sts().assume_calls(), 1);
    run.assert_stderr_has(&["ValidationError", "(after 1 attempt)"]);
}

#[tokio::test]
async fn an_unreachable_sts_is_retried_then_reported() {
    let sandbox = sandbox().await;
    // A port that was free a moment ago and has nothing listening now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = Step::new(&sandbox)
        .set("AWS_ENDPOINT_URL_STS", &format!("http://{closed}"))
        .set("INPUT_RETRY-MAX-ATTEMPTS", "2")
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&["(after 2 attempts): cannot reach STS"]);
}

#[tokio::test]
async fn a_throttled_caller_identity_is_retried_then_succeeds() {
    let sandbox = sandbox().await;
    sandbox.sts().throttle_caller_identity_next(2);
    let run = Step::new(&sandbox).run().await;
    assert!(run.success, "{}", run.all());
    assert_eq!(sandbox.sts().caller_identity_calls(), 3);
    assert_eq!(
        sandbox.sts().assume_calls(),
        1,
        "the role is not assumed again"
    );
    assert_eq!(run.output("aws-account-id"), Some(sandbox.account_id()));
}
