//! What `slipway deploy` refuses: a busy group (when told), an older commit,
//! an invalid appspec, and bad names, with nothing uploaded or created.

use std::time::Duration;

use slipway_tests::scripted_host::{Outcome, Script};

use crate::bed::{Bed, Setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_waits_behind_an_active_one_or_fails_when_told() {
    let bed = Bed::start_with(Setup::default(), |_| {
        Script::all(Outcome::Succeed(Duration::from_millis(150)))
    })
    .await;
    let first = bed.step("deploy").arg("--no-wait").run().await;
    first.assert_code(0);
    let active = first.output("deployment-id").to_owned();

    let refused = bed
        .step("deploy")
        .arg("--if-active")
        .arg("fail")
        .run()
        .await;
    refused.assert_code(3);
    assert!(
        refused
            .stderr
            .contains(&format!("already has {active} in progress")),
        "{}",
        refused.all()
    );
    assert_eq!(bed.deployment_count().await, 1);

    let waited = bed.step("deploy").run().await;
    waited.assert_code(0);
    assert!(
        waited.stdout.contains(&format!("waiting for {active}")),
        "{}",
        waited.all()
    );
    assert_eq!(bed.status(&active), "Succeeded");
    assert_eq!(bed.deployment_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_commit_is_refused_unless_allowed() {
    let bed = Bed::start(Setup::default()).await;
    let first = bed.repo.head();
    bed.repo.write("app/new.py", "x = 2\n");
    bed.repo.commit("newer");
    bed.step("deploy").run().await.assert_code(0);

    let refused = bed.step("deploy").arg("--ref").arg(&first).run().await;
    refused.assert_code(3);
    assert!(
        refused.stderr.contains("is an ancestor of"),
        "{}",
        refused.all()
    );
    assert!(
        refused.stderr.contains("slipway rollback"),
        "{}",
        refused.all()
    );
    assert_eq!(bed.deployment_count().await, 1);

    let allowed = bed
        .step("deploy")
        .arg("--ref")
        .arg(&first)
        .arg("--allow-older")
        .run()
        .await;
    allowed.assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_uploaded_or_created_for_an_invalid_appspec_or_bad_names() {
    let bed = Bed::start(Setup::default()).await;
    bed.repo.write(
        "appspec.yml",
        &crate::repo::APPSPEC.replace("scripts/start", "scripts/nope"),
    );
    bed.repo.commit("broken appspec");
    let run = bed.step("deploy").run().await;
    run.assert_code(3);
    assert!(
        run.stdout.contains("::error file=appspec.yml"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("scripts/nope"), "{}", run.all());
    assert!(bed.objects().await.is_empty());
    assert_eq!(bed.deployment_count().await, 0);

    bed.repo.write("appspec.yml", crate::repo::APPSPEC);
    bed.repo.commit("fixed");
    let run = bed
        .step("deploy")
        .set("INPUT_APPLICATION", "nope")
        .run()
        .await;
    run.assert_code(3);
    assert!(
        run.stderr.contains("application `nope` does not exist"),
        "{}",
        run.all()
    );
    let run = bed
        .step("deploy")
        .set("INPUT_DEPLOYMENT-GROUP", "nope")
        .run()
        .await;
    run.assert_code(3);
    assert!(
        run.stderr.contains("has no deployment group `nope`"),
        "{}",
        run.all()
    );
    let run = bed
        .step("deploy")
        .set("INPUT_S3-BUCKET", "no-such-bucket")
        .run()
        .await;
    run.assert_code(3);
    assert!(
        run.stderr
            .contains("S3 bucket no-such-bucket: does not exist"),
        "{}",
        run.all()
    );
    bed.s3
        .create_bucket()
        .bucket("bundles-in-ireland")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("bucket in eu-west-1");
    let run = bed
        .step("deploy")
        .set("INPUT_S3-BUCKET", "bundles-in-ireland")
        .run()
        .await;
    run.assert_code(3);
    assert!(
        run.stderr.contains(
            "S3 bucket bundles-in-ireland: it is in eu-west-1, not us-east-1: set aws-region to eu-west-1"
        ),
        "{}",
        run.all()
    );
    let in_ireland = bed
        .s3
        .list_objects_v2()
        .bucket("bundles-in-ireland")
        .send()
        .await
        .expect("list");
    assert!(in_ireland.contents().is_empty());
    let run = bed.step("deploy").arg("--ref").arg("v9.9.9").run().await;
    run.assert_code(3);
    assert!(
        run.stderr.contains("`v9.9.9` names no commit"),
        "{}",
        run.all()
    );
    assert!(bed.objects().await.is_empty());
    assert_eq!(bed.deployment_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shallow_clone_that_cannot_decide_ordering_says_how_to_fetch() {
    let bed = Bed::start(Setup::default()).await;
    bed.step("deploy").run().await.assert_code(0);
    bed.repo.write("app/new.py", "x = 3\n");
    bed.repo.commit("newer");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bed.repo.path().display());
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", &url])
        .arg(clone.path().join("shop"))
        .status()
        .unwrap();
    assert!(status.success());
    let run = bed
        .step("deploy")
        .arg("--repository")
        .arg(clone.path().join("shop").to_str().unwrap())
        .run()
        .await;
    run.assert_code(3);
    for needed in ["which is shallow", "fetch-depth: 0", "--allow-older"] {
        assert!(run.stderr.contains(needed), "{needed}: {}", run.all());
    }
    assert_eq!(bed.deployment_count().await, 1);
}
