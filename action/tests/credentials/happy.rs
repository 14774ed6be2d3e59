//! Credentials reach the runner's files, and the shell outside Actions.

use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use crate::util::{Step, sandbox};

#[tokio::test]
async fn the_happy_path_writes_credentials_to_github_env_and_outputs() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox).run().await;
    assert!(run.success, "{}", run.all());

    let key_id = run.env("AWS_ACCESS_KEY_ID").expect("AWS_ACCESS_KEY_ID");
    let issued = sandbox
        .credential_store()
        .lookup(key_id)
        .expect("the key is one STS issued");
    assert_eq!(
        run.env("AWS_SECRET_ACCESS_KEY"),
        Some(issued.secret_access_key.as_str())
    );
    assert_eq!(
        run.env("AWS_SESSION_TOKEN"),
        issued.session_token.as_deref()
    );
    assert_eq!(run.env("AWS_REGION"), Some("us-east-1"));
    assert_eq!(run.env("AWS_DEFAULT_REGION"), Some("us-east-1"));

    assert_eq!(run.output("aws-account-id"), Some("123456789012"));
    let arn = run.output("authenticated-arn").expect("authenticated-arn");
    assert_eq!(
        arn,
        "arn:aws:sts::123456789012:assumed-role/slipway-deploy/slipway-shop-12345678901-1"
    );
    assert_eq!(issued.principal_arn, arn);
    let expiration = run.output("aws-expiration").expect("aws-expiration");
    let expiration =
        SystemTime::try_from(DateTime::from_str(expiration, Format::DateTime).unwrap()).unwrap();
    let lifetime = expiration.duration_since(SystemTime::now()).unwrap();
    assert!(
        lifetime > Duration::from_secs(3500),
        "default 3600 s, got {lifetime:?}"
    );
    assert_eq!(
        run.output("aws-access-key-id"),
        None,
        "keys are outputs only when asked"
    );

    assert_eq!(sandbox.sts().assume_calls(), 1);
    run.assert_stderr_has(&[&format!("assumed {arn}")]);
    assert!(
        run.summary.contains(&format!("as `{arn}` until")),
        "{}",
        run.summary
    );
}

#[tokio::test]
async fn keys_become_outputs_only_with_output_credentials() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set("INPUT_OUTPUT-CREDENTIALS", "true")
        .set("INPUT_OUTPUT-ENV-CREDENTIALS", "false")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    assert!(run.output("aws-secret-access-key").is_some());
    assert!(run.output("aws-session-token").is_some());
    assert!(run.github_env.is_empty(), "{:?}", run.github_env);
}

#[tokio::test]
async fn session_policies_and_duration_reach_sts_as_given() {
    // The sandbox records what the call carried (it does not apply session
    // policies); their shape is checked by the unit tests of `request`.
    let sandbox = sandbox().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let run = Step::new(&sandbox)
        .set("INPUT_INLINE-SESSION-POLICY", policy)
        .set(
            "INPUT_MANAGED-SESSION-POLICIES",
            "arn:aws:iam::aws:policy/ReadOnlyAccess,\narn:aws:iam::123456789012:policy/deploy",
        )
        .set("INPUT_ROLE-DURATION-SECONDS", "900")
        .set("INPUT_ROLE-SESSION-NAME", "policy-test")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    let records = sandbox.sts().assume_records();
    let [record] = records.as_slice() else {
        panic!("one assume call: {records:?}");
    };
    assert_eq!(record.action, "AssumeRoleWithWebIdentity");
    assert_eq!(
        record.role_arn.as_deref(),
        Some(sandbox.deploy_role_arn().as_str())
    );
    assert_eq!(record.session_name.as_deref(), Some("policy-test"));
    assert_eq!(record.duration_seconds.as_deref(), Some("900"));
    assert_eq!(record.policy.as_deref(), Some(policy));
    assert_eq!(
        record.policy_arns,
        [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::123456789012:policy/deploy"
        ]
    );
    assert!(record.tags.is_empty(), "web identity sends no tags");
    assert_eq!(record.external_id, None);
}

#[tokio::test]
async fn outside_actions_flags_give_export_lines() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .outside_actions()
        .arg("--aws-region")
        .arg("us-east-1")
        .arg("--role-to-assume")
        .arg(&sandbox.deploy_role_arn())
        .arg("--role-session-name")
        .arg("laptop")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    assert!(
        !run.stdout.contains("::"),
        "no workflow commands outside Actions:\n{}",
        run.stdout
    );
    let exports: Vec<(&str, &str)> = run
        .stdout
        .lines()
        .map(|l| {
            let (name, value) = l
                .strip_prefix("export ")
                .expect("export line")
                .split_once('=')
                .unwrap();
            (name, value.trim_matches('\''))
        })
        .collect();
    let key_id = exports
        .iter()
        .find(|(k, _)| *k == "AWS_ACCESS_KEY_ID")
        .unwrap()
        .1;
    let issued = sandbox.credential_store().lookup(key_id).unwrap();
    assert!(
        issued.principal_arn.ends_with("/slipway-deploy/laptop"),
        "{}",
        issued.principal_arn
    );
    for name in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_CREDENTIAL_EXPIRATION",
    ] {
        assert!(
            exports.iter().any(|(k, _)| *k == name),
            "{name} in\n{}",
            run.stdout
        );
    }
}

#[tokio::test]
async fn a_missing_required_input_is_named_before_any_call() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .unset("INPUT_ROLE-TO-ASSUME")
        .run()
        .await;
    assert!(!run.success);
    assert!(
        run.stdout
            .contains("::error::input `role-to-assume` is required"),
        "{}",
        run.stdout
    );
    assert_eq!(sandbox.oidc().tokens_issued(), 0);
    assert_eq!(sandbox.sts().assume_calls(), 0);
}

#[tokio::test]
async fn inputs_left_out_arrive_empty_from_the_composite_and_mean_their_defaults() {
    let sandbox = sandbox().await;
    let mut step = Step::new(&sandbox);
    // action.yml maps every input; the runner passes "" for those not given.
    for input in [
        "AUDIENCE",
        "ROLE-SESSION-NAME",
        "ROLE-DURATION-SECONDS",
        "ALLOWED-ACCOUNT-IDS",
        "WEB-IDENTITY-TOKEN-FILE",
        "INLINE-SESSION-POLICY",
        "MANAGED-SESSION-POLICIES",
        "STS-ENDPOINT",
        "RETRY-MAX-ATTEMPTS",
    ] {
        step = step.set(&format!("INPUT_{input}"), "");
    }
    let run = step
        .set("INPUT_MASK-AWS-ACCOUNT-ID", "false")
        .set("INPUT_OUTPUT-CREDENTIALS", "false")
        .set("INPUT_OUTPUT-ENV-CREDENTIALS", "true")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    assert!(run.env("AWS_ACCESS_KEY_ID").is_some());
    assert!(
        run.output("authenticated-arn")
            .unwrap()
            .ends_with("/slipway-shop-12345678901-1")
    );
}

#[tokio::test]
async fn allowed_account_ids_admit_the_account_and_refuse_others_before_any_call() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set(
            "INPUT_ALLOWED-ACCOUNT-IDS",
            &format!("111111111111, {}", sandbox.account_id()),
        )
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    assert_eq!(run.output("aws-account-id"), Some(sandbox.account_id()));

    let run = Step::new(&sandbox)
        .set("INPUT_ALLOWED-ACCOUNT-IDS", "111111111111")
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&[&format!(
        "account {}, which is not in allowed-account-ids (111111111111)",
        sandbox.account_id()
    )]);
    assert!(run.github_env.is_empty(), "{:?}", run.github_env);
    assert_eq!(
        sandbox.oidc().tokens_issued(),
        1,
        "only the first run asked"
    );
    assert_eq!(sandbox.sts().assume_calls(), 1);
}
