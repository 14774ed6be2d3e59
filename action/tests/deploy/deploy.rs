//! `slipway deploy` against the sandbox.

use slipway_tests::scripted_host::{Outcome, Script};

use crate::bed::{BUCKET, Bed, HOOK_TIME, Setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_succeeds_with_outputs_and_a_summary() {
    let bed = Bed::start(Setup::default()).await;
    let commit = bed.repo.head();
    let run = bed.step("deploy").run().await;
    run.assert_code(0);
    let id = run.output("deployment-id");
    assert_eq!(run.output("status"), "Succeeded");
    assert_eq!(bed.status(id), "Succeeded");
    let uri = run.output("s3-uri");
    assert!(
        uri.starts_with(&format!("s3://{BUCKET}/slipway/shop/{commit}-"))
            && uri.ends_with(".tar.gz"),
        "{uri}"
    );
    assert!(!run.output("etag").is_empty());
    assert_eq!(run.output("rolled-back-to"), "");
    assert!(run.stdout.contains("::group::Deployment"), "{}", run.all());
    assert!(run.stdout.contains("host-3"), "{}", run.all());
    for needed in [
        id,
        commit.as_str(),
        "| Host |",
        "host-1",
        "ApplicationStart",
        "✅",
    ] {
        assert!(
            run.summary.contains(needed),
            "{needed} not in summary:\n{}",
            run.summary
        );
    }
    // The object is encrypted with KMS and says where it came from.
    let key = uri.trim_start_matches(&format!("s3://{BUCKET}/"));
    let head = bed
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("aws:kms")
    );
    let meta = head.metadata().unwrap();
    assert_eq!(
        meta.get("commit").map(String::as_str),
        Some(commit.as_str())
    );
    assert_eq!(meta.get("actor").map(String::as_str), Some("octocat"));
    assert!(
        meta.get("run-url")
            .unwrap()
            .ends_with("/acme/shop/actions/runs/12345678901")
    );
    // The description carries commit, actor and run.
    let description = bed.deployment(id).await.description().unwrap().to_owned();
    assert!(
        description.contains(&commit) && description.contains("octocat"),
        "{description}"
    );

    // The same commit again: nothing is uploaded, the object is reused.
    let again = bed.step("deploy").run().await;
    again.assert_code(0);
    assert!(again.stdout.contains("already in S3"), "{}", again.all());
    assert_eq!(bed.objects().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_on_one_host_is_reported_and_the_rollback_followed() {
    let setup = Setup {
        auto_rollback: true,
        ..Setup::default()
    };
    let bed = Bed::start(setup).await;
    // A first release to roll back to.
    bed.step("deploy").run().await.assert_code(0);
    for host in &bed.hosts {
        host.host()
            .set_script(if host.host().host_identifier().ends_with("host-2") {
                Script::all(Outcome::Succeed(HOOK_TIME)).on(
                    "ApplicationStart",
                    Outcome::Fail {
                        code: slipway_tests::scripted_host::ErrorCode::ScriptFailed,
                        script_name: "scripts/start".into(),
                        message:
                            "Script at specified location: scripts/start failed with exit code 3"
                                .into(),
                        log: "[stderr]gunicorn: cannot bind 0.0.0.0:8000\n".into(),
                    },
                )
            } else {
                Script::all(Outcome::Succeed(HOOK_TIME))
            });
    }
    bed.repo.write("app/settings.py", "DEBUG = 1\n");
    bed.repo.commit("break it");
    let run = bed.step("deploy").run().await;
    run.assert_code(1);
    assert_eq!(run.output("status"), "Failed");
    let rollback = run.output("rolled-back-to").to_owned();
    assert!(rollback.starts_with("d-"), "{}", run.all());
    // The scripted host-2 fails every ApplicationStart, the rollback's too:
    // what matters is that it was followed to its end and reported.
    let end = bed.status(&rollback);
    assert!(end == "Succeeded" || end == "Failed", "{end}");
    assert!(
        run.stdout.contains(&format!("rollback {rollback}: {end}")),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("gunicorn: cannot bind"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout
            .contains("::error title=host-2 ApplicationStart::"),
        "{}",
        run.all()
    );
    assert!(
        run.summary.contains("gunicorn: cannot bind"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains(&rollback), "{}", run.summary);
}
