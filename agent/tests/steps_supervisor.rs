//! The Supervisor client against a real supervisord on a temp unix socket.

mod stack;

use std::time::Duration;

use slipway_agent::steps::StepError;
use slipway_agent::steps::supervisor::{fault, state};
use stack::Supervisord;

fn program(name: &str, command: &str) -> String {
    format!(
        "[program:{name}]\ncommand={command}\nautostart=true\nstartsecs=1\nstopwaitsecs=5\nredirect_stderr=true\n"
    )
}

async fn running(sv: &slipway_agent::steps::supervisor::Supervisor, name: &str) -> u32 {
    sv.wait_for(name, "RUNNING", stack::DEADLINE, |p| {
        p.state == state::RUNNING
    })
    .await
    .unwrap()
    .pid
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_state_and_processes_and_starts_stops_and_signals() {
    let dir = tempfile::tempdir().unwrap();
    let sv = Supervisord::start(dir.path());
    sv.write_program("sleeper", &program("sleeper", "sleep 1000"));
    let client = sv.client();
    assert_eq!(client.state().await.unwrap().name, "RUNNING");
    let changes = client.update().await.unwrap();
    assert_eq!(changes.added, vec!["sleeper".to_owned()]);

    let pid = running(&client, "sleeper").await;
    assert!(pid > 0);
    let all = client.all_process_info().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].qualified_name(), "sleeper");

    client.stop_process("sleeper", true).await.unwrap();
    assert_eq!(
        client.process_info("sleeper").await.unwrap().state,
        state::STOPPED
    );
    client.start_process("sleeper", true).await.unwrap();
    let before = client.process_info("sleeper").await.unwrap().pid;
    // TERM ends sleep(1) by a signal, which autorestart=unexpected restarts:
    // the signal reached the process.
    client.signal_process("sleeper", "TERM").await.unwrap();
    client
        .wait_for("sleeper", "restarted", stack::DEADLINE, |p| {
            p.state == state::RUNNING && p.pid != before
        })
        .await
        .unwrap();
    client.stop_process("sleeper", true).await.unwrap();
    client.start_group("sleeper", true).await.unwrap();
    client.signal_group("sleeper", "HUP").await.unwrap();
    client.stop_group("sleeper", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_are_typed_and_name_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let sv = Supervisord::start(dir.path());
    sv.write_program("sleeper", &program("sleeper", "sleep 1000"));
    let client = sv.client();
    client.update().await.unwrap();
    running(&client, "sleeper").await;

    match client.process_info("nosuch").await {
        Err(StepError::SupervisorFault {
            code,
            target,
            method,
            ..
        }) => {
            assert_eq!(
                (code, target.as_str(), method.as_str()),
                (fault::BAD_NAME, "nosuch", "getProcessInfo")
            );
        }
        other => panic!("{other:?}"),
    }
    let error = client.start_process("sleeper", true).await.unwrap_err();
    assert!(
        matches!(&error, StepError::SupervisorFault { code, .. } if *code == fault::ALREADY_STARTED),
        "{error:?}"
    );
    assert!(error.to_string().contains("sleeper"), "{error}");
    let error = client.remove_group("sleeper").await.unwrap_err();
    assert!(
        matches!(&error, StepError::SupervisorFault { code, .. } if *code == fault::STILL_RUNNING),
        "{error:?}"
    );
    let error = client.signal_process("sleeper", "NOPE").await.unwrap_err();
    assert!(error.to_string().contains("sleeper"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn update_applies_changed_and_removed_programs_like_supervisorctl() {
    let dir = tempfile::tempdir().unwrap();
    let sv = Supervisord::start(dir.path());
    sv.write_program("a", &program("a", "sleep 1000"));
    sv.write_program("b", &program("b", "sleep 1000"));
    let client = sv.client();
    client.update().await.unwrap();
    let a_pid = running(&client, "a").await;
    running(&client, "b").await;

    sv.write_program("a", &program("a", "sleep 2000"));
    std::fs::remove_file(sv.conf_d().join("b.conf")).unwrap();
    let changes = client.update().await.unwrap();
    assert_eq!(changes.changed, vec!["a".to_owned()]);
    assert_eq!(changes.removed, vec!["b".to_owned()]);
    let new_pid = running(&client, "a").await;
    assert_ne!(a_pid, new_pid, "a changed program is restarted");
    assert!(client.process_info("b").await.is_err());
    assert_eq!(client.update().await.unwrap(), Default::default());
}

#[tokio::test(flavor = "multi_thread")]
async fn tails_a_programs_log() {
    let dir = tempfile::tempdir().unwrap();
    let sv = Supervisord::start(dir.path());
    sv.write_program(
        "talker",
        &program("talker", "sh -c 'echo hello-from-talker; exec sleep 1000'"),
    );
    let client = sv.client();
    client.update().await.unwrap();
    running(&client, "talker").await;
    let mut tail = String::new();
    let start = tokio::time::Instant::now();
    while !tail.contains("hello-from-talker") {
        assert!(start.elapsed() < stack::DEADLINE, "log: {tail:?}");
        tail = client.tail_stdout("talker", 0, 4096).await.unwrap().text;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // redirect_stderr leaves no stderr log: NO_FILE, named.
    let error = client.tail_stderr("talker", 0, 100).await;
    assert!(error.is_err() || error.unwrap().text.is_empty());
}
