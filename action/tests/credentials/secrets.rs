//! No credential reaches the log unmasked.

use crate::util::{Run, Step, sandbox};

/// Every line holding one of `secrets` must be the `::add-mask::` line for
/// it, and that line must come before any other output.
fn assert_masked(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        let mask = format!("::add-mask::{secret}");
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            for line in text.lines().filter(|l| l.contains(secret)) {
                assert_eq!(line, mask, "{stream} shows a secret unmasked");
            }
        }
        assert!(run.stdout.contains(&mask), "{secret:.8}… was never masked");
    }
    let lines: Vec<&str> = run.stdout.lines().collect();
    let first_other = lines.iter().position(|l| !l.starts_with("::add-mask::"));
    let last_mask = lines.iter().rposition(|l| l.starts_with("::add-mask::"));
    if let (Some(other), Some(mask)) = (first_other, last_mask) {
        assert!(
            mask < other,
            "masks come before anything else:\n{}",
            run.stdout
        );
    }
}

#[tokio::test]
async fn no_secret_appears_unmasked_even_with_trace_logging() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set("SLIPWAY_LOG", "trace")
        .set("INPUT_OUTPUT-CREDENTIALS", "true")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    let key_id = run.env("AWS_ACCESS_KEY_ID").unwrap();
    let secret = run.env("AWS_SECRET_ACCESS_KEY").unwrap();
    let token = run.env("AWS_SESSION_TOKEN").unwrap();
    assert_masked(&run, &[key_id, secret, token]);
    assert!(
        !run.all().contains(&sandbox.oidc().request_token()),
        "the bearer token leaked"
    );
}

#[tokio::test]
async fn the_account_id_is_masked_when_asked() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set("INPUT_MASK-AWS-ACCOUNT-ID", "true")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    assert!(
        run.stdout.contains("::add-mask::123456789012"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_failed_run_leaks_neither_jwt_nor_bearer() {
    let sandbox = sandbox().await;
    sandbox.oidc().set_claims(slipway_tests::Claims {
        git_ref: "refs/heads/feature".into(),
        ..Default::default()
    });
    let run = Step::new(&sandbox).set("SLIPWAY_LOG", "trace").run().await;
    assert!(!run.success);
    let all = run.all();
    assert!(
        !all.contains(&sandbox.oidc().request_token()),
        "the bearer token leaked"
    );
    // A JWT starts with the base64 of `{"`.
    assert!(!all.contains("eyJ"), "a JWT leaked:\n{all}");
}

#[tokio::test]
async fn a_masked_account_id_is_masked_before_a_refusal_prints_it() {
    let sandbox = sandbox().await;
    sandbox.oidc().set_claims(slipway_tests::Claims {
        git_ref: "refs/heads/feature".into(),
        ..Default::default()
    });
    let run = Step::new(&sandbox)
        .set("INPUT_MASK-AWS-ACCOUNT-ID", "true")
        .run()
        .await;
    assert!(!run.success);
    let account = sandbox.account_id();
    // The diagnosis names the role, and so the account, on stderr; the
    // runner hides it only if the mask reached stdout first.
    run.assert_stderr_has(&[&format!("role         {}", sandbox.deploy_role_arn())]);
    assert_eq!(
        run.stdout.lines().next(),
        Some(format!("::add-mask::{account}").as_str()),
        "the mask comes first:\n{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_bad_sts_endpoint_is_named_before_any_call() {
    let sandbox = sandbox().await;
    for (name, value) in [
        ("AWS_ENDPOINT_URL_STS", "localhost:4566"),
        ("INPUT_STS-ENDPOINT", "ftp://127.0.0.1/"),
    ] {
        let run = Step::new(&sandbox).set(name, value).run().await;
        assert!(!run.success);
        let named = name.trim_start_matches("INPUT_").to_lowercase();
        assert!(
            run.stderr.to_lowercase().contains(&format!("`{named}`")) && run.stderr.contains(value),
            "{name}: {}",
            run.stderr
        );
        assert!(!run.all().contains("eyJ"), "a JWT leaked:\n{}", run.all());
    }
    assert_eq!(sandbox.oidc().tokens_issued(), 0);
    assert_eq!(sandbox.sts().assume_calls(), 0);
}
