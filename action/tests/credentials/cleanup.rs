//! `command: cleanup` / `slipway credentials --cleanup`: what the official
//! action's post step does, so a later step sees no credentials.

use crate::util::{Step, later_step_env, sandbox};

const CLEARED: [&str; 5] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
];

#[tokio::test]
async fn cleanup_empties_the_variables_and_a_later_step_sees_none() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let github_env = dir.path().join("github_env");
    let github_env = github_env.to_str().unwrap();

    let run = Step::new(&sandbox)
        .set("GITHUB_ENV", github_env)
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    assert!(later_step_env(&run.github_env)["AWS_SECRET_ACCESS_KEY"].len() > 10);

    let cleanup = Step::new(&sandbox)
        .set("GITHUB_ENV", github_env)
        .arg("--cleanup")
        .run()
        .await;
    assert!(cleanup.success, "{}", cleanup.all());
    assert_eq!(sandbox.sts().assume_calls(), 1, "cleanup calls nothing");

    let later = later_step_env(&cleanup.github_env);
    for name in CLEARED {
        assert_eq!(later.get(name).map(String::as_str), Some(""), "{name}");
    }
    // A later step, started with that environment as the runner starts it,
    // has no credentials to use.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION; do eval \"x=\\${$v}\"; [ -z \"$x\" ] || echo \"$v is set\"; done")
        .env_clear()
        .envs(&later)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}

#[tokio::test]
async fn cleanup_outside_actions_prints_unset() {
    let sandbox = sandbox().await;
    let run = Step::new(&sandbox)
        .outside_actions()
        .arg("--cleanup")
        .run()
        .await;
    assert!(run.success, "{}", run.all());
    assert_eq!(
        run.stdout,
        "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_REGION\n"
    );
}
