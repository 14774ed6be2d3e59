//! Role chaining: a first step assumes the deploy role with the OIDC
//! token; a second assumes a role in another account with AssumeRole from
//! the credentials the first left in GITHUB_ENV.

use serde_json::{Value, json};
use slipway_tests::{AwsTrust, Role, Sandbox};

use crate::util::{Run, Step, later_step_env, printed_statement, sandbox};

const OTHER_ACCOUNT: &str = "210987654321";
const TARGET: &str = "cross-deploy";

fn target_arn() -> String {
    format!("arn:aws:iam::{OTHER_ACCOUNT}:role/{TARGET}")
}

/// The deploy role's sessions, as a trust policy names them.
fn deploy_principal() -> &'static str {
    "arn:aws:iam::123456789012:role/slipway-deploy"
}

/// A second step chaining into `role`, with the first step's GITHUB_ENV
/// applied to its environment and no OIDC token at all.
async fn chained(sandbox: &Sandbox, extra: &[(&str, &str)]) -> Run {
    let first = Step::new(sandbox).run().await;
    assert!(first.success, "{}", first.all());
    let mut step = Step::new(sandbox)
        .unset("ACTIONS_ID_TOKEN_REQUEST_URL")
        .unset("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .set("INPUT_ROLE-CHAINING", "true")
        .set("INPUT_ROLE-TO-ASSUME", &target_arn());
    for (name, value) in later_step_env(&first.github_env) {
        step = step.set(&name, &value);
    }
    for (name, value) in extra {
        step = step.set(name, value);
    }
    step.run().await
}

/// The target role's trust: `existing` plus the printed statement.
fn apply(sandbox: &Sandbox, existing: &AwsTrust, printed: Value) {
    let document =
        json!({"Version": "2012-10-17", "Statement": [existing.to_statement(), printed]});
    let role = Role::from_trust_document(TARGET, &document.to_string()).expect("IAM reads it");
    sandbox.sts().add_role_in(OTHER_ACCOUNT, role);
}

#[tokio::test]
async fn chaining_reaches_a_role_in_another_account_with_tags_and_external_id() {
    let sandbox = sandbox().await;
    sandbox.sts().add_role_in(
        OTHER_ACCOUNT,
        Role::assumable_by(
            TARGET,
            AwsTrust::assume_role(deploy_principal())
                .with_tag_session()
                .with_external_id("ext-7f3a"),
        ),
    );
    let run = chained(&sandbox, &[("INPUT_ROLE-EXTERNAL-ID", "ext-7f3a")]).await;
    assert!(run.success, "{}", run.all());
    assert_eq!(run.output("aws-account-id"), Some(OTHER_ACCOUNT));
    let arn = run.output("authenticated-arn").unwrap();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/{TARGET}/"
        )),
        "{arn}"
    );
    let key = run.env("AWS_ACCESS_KEY_ID").unwrap();
    let issued = sandbox.credential_store().lookup(key).unwrap();
    assert_eq!(issued.principal_arn, arn);

    let records = sandbox.sts().assume_records();
    let chained = records.last().unwrap();
    assert_eq!(chained.action, "AssumeRole");
    assert_eq!(chained.role_arn.as_deref(), Some(target_arn().as_str()));
    assert_eq!(chained.external_id.as_deref(), Some("ext-7f3a"));
    assert!(chained.tags.contains(&("GitHub".into(), "Actions".into())));
    assert!(
        chained
            .tags
            .contains(&("Repository".into(), "acme/shop".into()))
    );
    assert_eq!(
        sandbox.oidc().tokens_issued(),
        1,
        "only the first step minted"
    );
}

#[tokio::test]
async fn skipping_session_tags_needs_no_tag_session() {
    let sandbox = sandbox().await;
    sandbox.sts().add_role_in(
        OTHER_ACCOUNT,
        Role::assumable_by(TARGET, AwsTrust::assume_role(deploy_principal())),
    );
    let run = chained(&sandbox, &[("INPUT_ROLE-SKIP-SESSION-TAGGING", "true")]).await;
    assert!(run.success, "{}", run.all());
    assert!(
        sandbox
            .sts()
            .assume_records()
            .last()
            .unwrap()
            .tags
            .is_empty()
    );
}

#[tokio::test]
async fn a_missing_tag_session_is_diagnosed_and_the_statement_fixes_it() {
    let sandbox = sandbox().await;
    let existing = AwsTrust::assume_role(deploy_principal());
    sandbox
        .sts()
        .add_role_in(OTHER_ACCOUNT, Role::assumable_by(TARGET, existing.clone()));
    let run = chained(&sandbox, &[]).await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "AssumeRole refused: AccessDenied: User: arn:aws:sts::123456789012:assumed-role/slipway-deploy/",
        "is not authorized to perform: sts:TagSession",
        "Most likely cause: the role's trust policy lets arn:aws:iam::123456789012:role/slipway-deploy call \
         sts:AssumeRole but not sts:TagSession, which the session tags need: add sts:TagSession to that \
         statement, or set role-skip-session-tagging: true.",
        "This trust-policy statement admits this caller:",
    ]);
    assert!(run.all().contains("cannot assume arn:aws:iam::210987654321:role/cross-deploy from the credentials in the environment"), "{}", run.all());
    apply(&sandbox, &existing, printed_statement(&run.stderr));
    let run = chained(&sandbox, &[]).await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn a_wrong_external_id_is_one_of_two_causes_and_the_statement_fixes_it() {
    let sandbox = sandbox().await;
    let existing = AwsTrust::assume_role(deploy_principal())
        .with_tag_session()
        .with_external_id("right-id");
    sandbox
        .sts()
        .add_role_in(OTHER_ACCOUNT, Role::assumable_by(TARGET, existing.clone()));
    let run = chained(&sandbox, &[("INPUT_ROLE-EXTERNAL-ID", "wrong-id")]).await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/cross-deploy",
        "Two equally likely causes: (1) the role arn:aws:iam::210987654321:role/cross-deploy does not exist \
         in account 210987654321",
        "(2) its trust policy does not name arn:aws:iam::123456789012:role/slipway-deploy for sts:AssumeRole, \
         or it requires an sts:ExternalId other than the role-external-id given",
        "`aws iam get-role --role-name cross-deploy` with account 210987654321's own credentials",
        "If the role exists, this trust-policy statement admits this caller:",
    ]);
    let printed = printed_statement(&run.stderr);
    assert_eq!(
        printed["Condition"]["StringEquals"]["sts:ExternalId"],
        "wrong-id"
    );
    apply(&sandbox, &existing, printed);
    let run = chained(&sandbox, &[("INPUT_ROLE-EXTERNAL-ID", "wrong-id")]).await;
    assert!(run.success, "{}", run.all());
}

#[tokio::test]
async fn a_chained_session_over_an_hour_is_explained() {
    let sandbox = sandbox().await;
    sandbox.sts().add_role_in(
        OTHER_ACCOUNT,
        Role::assumable_by(
            TARGET,
            AwsTrust::assume_role(deploy_principal()).with_tag_session(),
        )
        .max_session_duration(std::time::Duration::from_secs(43200)),
    );
    let run = chained(&sandbox, &[("INPUT_ROLE-DURATION-SECONDS", "7200")]).await;
    assert!(!run.success);
    run.assert_stderr_has(&[
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        "Most likely cause: a session assumed from another role's session lasts at most an hour: set \
         role-duration-seconds to 3600 or less",
    ]);
    assert!(!run.stderr.contains("admits"), "{}", run.stderr);
}

#[tokio::test]
async fn chaining_without_credentials_in_the_environment_says_so() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .set("INPUT_ROLE-CHAINING", "true")
        .set("INPUT_ROLE-TO-ASSUME", &target_arn())
        .run()
        .await;
    assert!(!run.success);
    run.assert_stderr_has(&["role-chaining is true, but AWS_ACCESS_KEY_ID is not set"]);
    assert_eq!(sandbox.sts().assume_calls(), 0);
}
