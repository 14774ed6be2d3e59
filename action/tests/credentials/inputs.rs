//! The official action's inputs that change how credentials are fetched and
//! handed on, and the exit codes.

use crate::util::{Step, sandbox};

#[tokio::test]
async fn unset_current_credentials_empties_them_before_the_new_ones() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set("INPUT_UNSET-CURRENT-CREDENTIALS", "true")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    let first: Vec<(&str, &str)> = run.github_env[..5]
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        first,
        [
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_SESSION_TOKEN", ""),
            ("AWS_DEFAULT_REGION", ""),
            ("AWS_REGION", ""),
        ]
    );
    assert!(!run.env("AWS_ACCESS_KEY_ID").unwrap().is_empty());
}

#[tokio::test]
async fn disable_retry_makes_one_call() {
    let sandbox = sandbox().await;
    sandbox.sts().throttle_next(1);
    let run = Step::new(&sandbox)
        .set("INPUT_DISABLE-RETRY", "true")
        .run()
        .await;
    assert!(!run.success);
    assert_eq!(sandbox.sts().assume_calls(), 1);
    run.assert_stderr_has(&["Throttling: Rate exceeded", "(after 1 attempt)"]);
}

#[tokio::test]
async fn action_timeout_stops_a_hung_call() {
    let sandbox = sandbox().await;
    // Accepts connections (the kernel's backlog) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let run = Step::new(&sandbox)
        .set("AWS_ENDPOINT_URL_STS", &url)
        .set("INPUT_ACTION-TIMEOUT-S", "1")
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&["gave up after action-timeout-s (1 s)"]);
    drop(silent);
}

#[tokio::test]
async fn the_special_characters_workaround_assumes_until_the_secret_is_plain() {
    let sandbox = sandbox().await;
    sandbox.sts().special_secrets_next(3);
    let run = Step::new(&sandbox)
        .set("INPUT_SPECIAL-CHARACTERS-WORKAROUND", "true")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    assert_eq!(sandbox.sts().assume_calls(), 4);
    let secret = run.env("AWS_SECRET_ACCESS_KEY").unwrap();
    assert!(
        secret.chars().all(|c| c.is_ascii_alphanumeric()),
        "{secret}"
    );

    sandbox.sts().special_secrets_next(1);
    let run = Step::new(&sandbox).run().await;
    assert!(run.success, "{}", run.all());
    assert!(run.env("AWS_SECRET_ACCESS_KEY").unwrap().contains("+/"));
}

#[tokio::test]
async fn aws_profile_writes_a_profile_the_aws_cli_uses() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials_file = dir.path().join("credentials");
    let config_file = dir.path().join("config");
    let step = || {
        Step::new(&sandbox)
            .set(
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials_file.to_str().unwrap(),
            )
            .set("AWS_CONFIG_FILE", config_file.to_str().unwrap())
            .set("INPUT_AWS-PROFILE", "deploy")
    };
    let run = step().run().await;
    assert!(run.success, "{}", run.all());
    let text = std::fs::read_to_string(&credentials_file).unwrap();
    let key = run.env("AWS_ACCESS_KEY_ID").unwrap();
    assert!(
        text.starts_with(&format!("[deploy]\naws_access_key_id = {key}\n")),
        "{text}"
    );

    let aws = slipway_tests::venv::bin("aws").expect("the venv's AWS CLI");
    let output = tokio::process::Command::new(aws)
        .args([
            "sts",
            "get-caller-identity",
            "--profile",
            "deploy",
            "--output",
            "text",
        ])
        .args(["--query", "Arn", "--endpoint-url", &sandbox.sts_endpoint()])
        .env_clear()
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials_file)
        .env("AWS_CONFIG_FILE", &config_file)
        .env("HOME", dir.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        run.output("authenticated-arn").unwrap()
    );

    let again = step().run().await;
    assert!(!again.success);
    again.assert_stderr_has(&[
        "profile `deploy` is already in",
        "overwrite-aws-profile: true",
    ]);
    let again = step()
        .set("INPUT_OVERWRITE-AWS-PROFILE", "true")
        .run()
        .await;
    assert!(again.success, "{}", again.all());
}

#[tokio::test]
async fn http_proxy_carries_the_token_request_and_sts_unless_no_proxy() {
    let sandbox = sandbox().await;
    // A proxy that refuses every connection: whatever goes through it fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);

    let run = Step::new(&sandbox)
        .set("INPUT_HTTP-PROXY", &proxy)
        .set("INPUT_DISABLE-RETRY", "true")
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&["cannot request the OIDC token from http://127.0.0.1"]);

    let run = Step::new(&sandbox)
        .set("INPUT_HTTP-PROXY", &proxy)
        .set("INPUT_NO-PROXY", "127.0.0.1,localhost")
        .run()
        .await;
    assert!(run.success, "{}", run.all());

    // The token endpoint bypasses the proxy, STS (named by another host)
    // goes through it.
    let sts = sandbox.sts_endpoint().replace("127.0.0.1", "localhost");
    let calls = sandbox.sts().assume_calls();
    let run = Step::new(&sandbox)
        .set("AWS_ENDPOINT_URL_STS", &sts)
        .set("INPUT_HTTP-PROXY", &proxy)
        .set("INPUT_NO-PROXY", "127.0.0.1")
        .set("INPUT_DISABLE-RETRY", "true")
        .run()
        .await;
    assert!(!run.success, "{}", run.all());
    run.assert_stderr_has(&[&format!("cannot reach STS at {sts}")]);
    assert_eq!(sandbox.sts().assume_calls(), calls, "the proxy refused it");
}

#[tokio::test]
async fn usage_errors_exit_2_and_failed_jobs_exit_3() {
    let sandbox = sandbox().await;
    let usage = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["credentials", "--no-such-flag"])
        .output()
        .await
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let failed = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["credentials", "--aws-region", "us-east-1"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert_eq!(
        failed.status.code(),
        Some(slipway_action::cli::EXIT_JOB_FAILED.into()),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    drop(sandbox);
}
