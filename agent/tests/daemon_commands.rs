//! How `slipway-agent run` handles its commands, as a real process against
//! the CodeDeploy simulator and moto's S3: commands of two deployments at
//! once, what the acknowledgement says, PostHostCommandUpdate while a long
//! hook runs, and the log lines a deployment leaves.

mod common;
mod daemon;

use std::path::{Path, PathBuf};

use common::{Host, appspec};
use daemon::{Bed, HOST_ARN, wait_for_file};

/// A revision installing `index.html` into `dest`, with the given hooks.
fn revision(host: &Host, name: &str, dest: &Path, hooks: &str) -> common::Revision {
    let rev = host.revision(name);
    rev.appspec(&appspec(&[("index.html", dest.to_str().unwrap())], hooks))
        .file("index.html", name);
    rev
}

/// A script that exits 0 once `path` exists, or 1 after a minute.
fn wait_for(path: &Path) -> String {
    format!(
        "for i in $(seq 600); do [ -e {p} ] && exit 0; sleep 0.1; done\necho never saw {p}\nexit 1",
        p = path.display()
    )
}

fn after_install(timeout: u64) -> String {
    format!("  AfterInstall:\n    - location: hook.sh\n      timeout: {timeout}\n")
}

/// Each deployment's AfterInstall waits for the other's to have started:
/// both succeed only if the agent runs their commands at the same time.
#[tokio::test(flavor = "multi_thread")]
async fn commands_of_two_deployments_run_at_the_same_time() {
    let bed = Bed::start().await;
    bed.create_group("worker").await;
    let host = Host::new();
    let marker = |name: &str| bed.dir.path().join(format!("{name}-started"));
    // Group `name`'s hook says it started, then waits for `other`'s.
    let waiting = |name: &str, other: &str| {
        let rev = revision(&host, name, &bed.dest().join(name), &after_install(90));
        let hook = format!(
            "touch {}\n{}",
            marker(name).display(),
            wait_for(&marker(other))
        );
        rev.script("hook.sh", &hook);
        rev
    };
    let web = waiting("web", "worker");
    let worker = waiting("worker", "web");
    let agent = bed.agent();

    let first = bed.deploy_to("web", &web, "web.tgz").await;
    wait_for_file(&marker("web")).await;
    let second = bed.deploy_to("worker", &worker, "worker.tgz").await;
    assert_eq!(
        bed.wait_for_end(&first).await,
        "Succeeded",
        "{}",
        agent.log()
    );
    assert_eq!(
        bed.wait_for_end(&second).await,
        "Succeeded",
        "{}",
        agent.log()
    );
    // Each deployment's events still ran one after another, in order.
    for id in [&first, &second] {
        let events: Vec<String> = bed
            .sim
            .host_reports(HOST_ARN)
            .into_iter()
            .filter(|r| &r.deployment_id == id)
            .map(|r| r.event)
            .collect();
        assert_eq!(
            events,
            [
                "DownloadBundle",
                "BeforeInstall",
                "Install",
                "AfterInstall",
                "ApplicationStart",
                "ValidateService"
            ]
        );
    }
}

/// As the official agent does, the ack says whether the command has
/// anything to run: DownloadBundle and Install always do, a hook event only
/// when the revision it runs from has scripts for it.
#[tokio::test(flavor = "multi_thread")]
async fn the_acknowledgement_says_whether_the_command_is_a_noop() {
    let bed = Bed::start().await;
    let host = Host::new();
    let stop = "  ApplicationStop:\n    - location: hook.sh\n      timeout: 30\n";
    let first = revision(&host, "v1", &bed.dest(), &after_install(30));
    first.script("hook.sh", "true");
    let second = revision(&host, "v2", &bed.dest(), stop);
    second.script("hook.sh", "true");
    let agent = bed.agent();

    let id = bed.deploy(&first, "v1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Succeeded", "{}", agent.log());
    // v1 has no ApplicationStop: v2's runs from v1 and is a noop, while
    // v2's own ApplicationStop hook counts for nothing yet.
    let id2 = bed.deploy(&second, "v2.tgz").await;
    assert_eq!(bed.wait_for_end(&id2).await, "Succeeded", "{}", agent.log());
    let acks = |deployment: &str| -> Vec<(String, String)> {
        bed.sim
            .host_reports(HOST_ARN)
            .into_iter()
            .filter(|r| r.deployment_id == deployment)
            .map(|r| (r.event, r.acknowledgement.unwrap_or_default()))
            .collect()
    };
    let noop = r#"{"IsCommandNoop":true}"#;
    let work = r#"{"IsCommandNoop":false}"#;
    let expect = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(e, a)| ((*e).to_owned(), (*a).to_owned()))
            .collect()
    };
    assert_eq!(
        acks(&id),
        expect(&[
            ("DownloadBundle", work),
            ("BeforeInstall", noop),
            ("Install", work),
            ("AfterInstall", work),
            ("ApplicationStart", noop),
            ("ValidateService", noop),
        ])
    );
    assert_eq!(
        acks(&id2),
        expect(&[
            ("ApplicationStop", noop),
            ("DownloadBundle", work),
            ("BeforeInstall", noop),
            ("Install", work),
            ("AfterInstall", noop),
            ("ApplicationStart", noop),
            ("ValidateService", noop),
        ])
    );
}

/// While a hook runs longer than `command_update_interval`, the agent sends
/// PostHostCommandUpdate with the latest time the event can end (the sum of
/// its scripts' timeouts from the start).
#[tokio::test(flavor = "multi_thread")]
async fn a_long_hook_sends_command_updates_with_its_latest_end() {
    let bed = Bed::start().await;
    bed.configure_agent(":command_update_interval: 1\n");
    let host = Host::new();
    let release = bed.dir.path().join("release");
    let rev = revision(&host, "v1", &bed.dest(), &after_install(120));
    rev.script("hook.sh", &wait_for(&release));
    let agent = bed.agent();

    let before = epoch_seconds();
    let id = bed.deploy(&rev, "v1.tgz").await;
    let updates = loop {
        let updates: Vec<Option<f64>> = bed
            .sim
            .host_reports(HOST_ARN)
            .into_iter()
            .filter(|r| r.event == "AfterInstall")
            .flat_map(|r| r.updates)
            .collect();
        if updates.len() >= 2 {
            break updates;
        }
        assert!(
            bed.sim.deployment_status(&id).as_deref() == Some("InProgress"),
            "the deployment ended before two updates:\n{}",
            agent.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    std::fs::write(&release, "").unwrap();
    assert_eq!(bed.wait_for_end(&id).await, "Succeeded", "{}", agent.log());
    let after = epoch_seconds();
    for estimate in updates {
        let estimate = estimate.expect("an EstimatedCompletionTime");
        assert!(
            estimate >= before + 120.0 && estimate <= after + 120.0,
            "{estimate} is not 120 s after the hook started ({before}..{after})"
        );
    }
    let quick: Vec<String> = bed
        .sim
        .host_reports(HOST_ARN)
        .into_iter()
        .filter(|r| r.event != "AfterInstall" && !r.updates.is_empty())
        .map(|r| r.event)
        .collect();
    assert!(
        quick.is_empty(),
        "events shorter than the interval sent updates: {quick:?}"
    );
}

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn official_log(bed: &Bed) -> PathBuf {
    bed.dir.path().join("log").join("codedeploy-agent.log")
}

/// With `--log-format json`, the agent logs JSON lines to stderr and to
/// `<log_dir>/<program_name>.log`, as the official agent's log; every line
/// logged while a deployment's command runs carries its deployment id.
#[tokio::test(flavor = "multi_thread")]
async fn json_logs_go_to_the_official_log_file_with_the_deployment_id() {
    let bed = Bed::start().await;
    let host = Host::new();
    let rev = revision(&host, "v1", &bed.dest(), &after_install(30));
    rev.script("hook.sh", "echo hello from the hook");
    let mut agent = bed.agent_with(&["--log-format", "json"]);

    let id = bed.deploy(&rev, "v1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Succeeded", "{}", agent.log());
    assert!(agent.terminate().success(), "{}", agent.log());

    let text = std::fs::read_to_string(official_log(&bed)).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let message = |l: &serde_json::Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();
    assert!(lines.iter().any(|l| message(l) == "starting"), "{text}");
    assert!(
        lines.iter().any(|l| message(l) == "stopped polling"),
        "{text}"
    );
    let ours = |l: &serde_json::Value| l["span"]["deployment_id"] == id.as_str();
    let first = lines.iter().position(ours).expect("deployment lines");
    let last = lines.iter().rposition(ours).unwrap();
    for line in &lines[first..=last] {
        assert!(ours(line), "a deployment line without its id: {line}");
    }
    let ended = lines[first..=last]
        .iter()
        .filter(|l| message(l) == "event ended")
        .count();
    assert_eq!(ended, 6, "{text}");
    // stderr has the same lines (threads may interleave them differently).
    let sorted = |t: &str| {
        let mut l: Vec<String> = t.lines().map(str::to_owned).collect();
        l.sort();
        l
    };
    assert_eq!(sorted(&agent.log()), sorted(&text));
}

/// The human format goes to the same file, the deployment id in each
/// command line's span.
#[tokio::test(flavor = "multi_thread")]
async fn human_logs_name_the_deployment_on_each_command_line() {
    let bed = Bed::start().await;
    let host = Host::new();
    let rev = revision(&host, "v1", &bed.dest(), &after_install(30));
    rev.script("hook.sh", "true");
    let mut agent = bed.agent();

    let id = bed.deploy(&rev, "v1.tgz").await;
    assert_eq!(bed.wait_for_end(&id).await, "Succeeded", "{}", agent.log());
    assert!(agent.terminate().success(), "{}", agent.log());
    let text = std::fs::read_to_string(official_log(&bed)).unwrap();
    let running: Vec<&str> = text
        .lines()
        .filter(|l| l.ends_with("running") || l.contains("event ended"))
        .collect();
    assert_eq!(running.len(), 12, "{text}");
    for line in running {
        assert!(
            line.contains(&format!("deployment_id={id}")),
            "no deployment id: {line}"
        );
    }
    assert!(!text.contains('\u{1b}'), "no colour codes in the file");
}
