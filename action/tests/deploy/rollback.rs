//! `slipway rollback` and `slipway status` against the sandbox.

use std::time::Duration;

use slipway_tests::scripted_host::{Outcome, Script};

use crate::bed::{Bed, HOOK_TIME, Setup};

/// Two releases deployed; returns (first commit, first deployment, second commit).
async fn two_releases(bed: &Bed) -> (String, String, String) {
    let first = bed.repo.head();
    let run = bed.step("deploy").run().await;
    run.assert_code(0);
    let first_id = run.output("deployment-id").to_owned();
    bed.repo
        .write("app/settings.py", "DEBUG = False\nVERSION = 2\n");
    let second = bed.repo.commit("second release");
    bed.step("deploy").run().await.assert_code(0);
    (first, first_id, second)
}

async fn deployed_commit(bed: &Bed, id: &str) -> String {
    let key = bed
        .deployment(id)
        .await
        .revision()
        .unwrap()
        .s3_location()
        .unwrap()
        .key()
        .unwrap()
        .to_owned();
    key.rsplit('/').next().unwrap()[..40].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_goes_to_the_previous_successful_revision_by_default() {
    let bed = Bed::start(Setup::default()).await;
    let (first, _, second) = two_releases(&bed).await;
    let run = bed.step("rollback").run().await;
    run.assert_code(0);
    let id = run.output("deployment-id");
    assert_eq!(deployed_commit(&bed, id).await, first);
    assert!(
        run.stdout.contains(&format!("commit {}", &second[..12])),
        "{}",
        run.all()
    );
    assert!(
        run.stdout
            .contains(&format!("with commit {}", &first[..12])),
        "{}",
        run.all()
    );
    assert!(
        run.summary.contains("slipway rollback: Succeeded"),
        "{}",
        run.summary
    );
    let description = bed.deployment(id).await.description().unwrap().to_owned();
    assert!(description.contains("octocat"), "{description}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_deployment_or_a_commit() {
    let bed = Bed::start(Setup::default()).await;
    let (first, first_id, second) = two_releases(&bed).await;
    let run = bed.step("rollback").arg("--to").arg(&first_id).run().await;
    run.assert_code(0);
    assert_eq!(
        deployed_commit(&bed, run.output("deployment-id")).await,
        first
    );

    let run = bed
        .step("rollback")
        .arg("--to-commit")
        .arg(&second[..10])
        .run()
        .await;
    run.assert_code(0);
    assert_eq!(
        deployed_commit(&bed, run.output("deployment-id")).await,
        second
    );

    let run = bed
        .step("rollback")
        .arg("--to-commit")
        .arg("deadbeef00")
        .run()
        .await;
    run.assert_code(3);
    assert!(
        run.stderr
            .contains("no revision of shop was built from commit deadbeef00"),
        "{}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_current_stops_the_active_deployment_and_follows_its_rollback() {
    let bed = Bed::start(Setup::default()).await;
    bed.step("deploy").run().await.assert_code(0);
    for host in &bed.hosts {
        host.host().set_script(
            Script::all(Outcome::Succeed(HOOK_TIME)).on("ApplicationStart", Outcome::Hang),
        );
    }
    bed.repo.write("app/settings.py", "HANGS = True\n");
    bed.repo.commit("hangs");
    let started = bed.step("deploy").arg("--no-wait").run().await;
    started.assert_code(0);
    let hung = started.output("deployment-id").to_owned();
    for host in &bed.hosts {
        host.host()
            .set_script(Script::all(Outcome::Succeed(HOOK_TIME)));
    }
    let run = bed.step("rollback").arg("--stop-current").run().await;
    run.assert_code(0);
    assert_eq!(bed.status(&hung), "Stopped");
    let rollback = run.output("rolled-back-to");
    assert!(rollback.starts_with("d-"), "{}", run.all());
    assert_eq!(bed.status(rollback), "Succeeded");
    assert!(
        run.stdout.contains(&format!("Stopping {hung}")),
        "{}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_the_groups_deployments_as_json() {
    let bed = Bed::start(Setup::default()).await;
    let (first, first_id, second) = two_releases(&bed).await;
    let run = bed.step("status").arg("--json").run().await;
    run.assert_code(0);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["commit"], second.as_str());
    assert_eq!(rows[1]["commit"], first.as_str());
    assert_eq!(rows[1]["id"], first_id.as_str());
    assert_eq!(rows[0]["status"], "Succeeded");
    assert_eq!(rows[0]["creator"], "user");
    assert_eq!(rows[0]["actor"], "octocat");
    let table = bed.step("status").run().await;
    table.assert_code(0);
    assert!(
        table.stdout.contains(&first_id) && table.stdout.contains(&second[..12]),
        "{}",
        table.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_that_expire_during_a_long_wait_are_renewed() {
    let bed = Bed::start_with(Setup::default(), |_| {
        Script::all(Outcome::Succeed(Duration::from_millis(400)))
    })
    .await;
    // Every session the role gets lasts 4 s; the deployment takes longer.
    bed.sandbox
        .sts()
        .set_credential_lifetime(Duration::from_secs(4));
    let run = bed.step("deploy").run().await;
    run.assert_code(0);
    assert_eq!(run.output("status"), "Succeeded");
    assert!(
        bed.sandbox.sts().assume_calls() >= 2,
        "the role was assumed {} time(s) during a deployment longer than a session",
        bed.sandbox.sts().assume_calls()
    );
}
