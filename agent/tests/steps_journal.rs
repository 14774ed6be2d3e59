//! Crash safety with the real programs: a step killed (SIGKILL) at a
//! journal point it has reached, and the next step finishing or reversing
//! its work; steps on one program waiting for each other.
//!
//! The kill point is held open without any hook in the agent: supervisord
//! is paused (SIGSTOP), so a step blocks on its first call to it, which in
//! a switch comes right after `current` is switched and journaled.
//! (`gunicorn-reload` asks supervisord whether the program's config changed
//! before its preflight: the test pauses supervisord while a gated
//! preflight waits, so the next call is the one after the switch.)

mod stack;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use stack::app::{APP, Stack, release};
use stack::wait_until;

/// supervisord stopped with SIGSTOP until dropped (even when a test fails,
/// so that dropping the stack can stop it).
struct Paused(i32);

impl Paused {
    fn new(pid: i32) -> Paused {
        // SAFETY: kill(2) on the supervisord child the stack spawned.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: as in `Paused::new`.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

/// A `gunicorn` for the preflight that waits at a gate: `reached` once it
/// runs, and it goes on (to the real gunicorn) once the gate is opened.
struct Gate {
    dir: tempfile::TempDir,
}

impl Gate {
    fn new() -> Gate {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "#!/bin/sh\ntouch {d}/reached\nwhile [ ! -e {d}/open ]; do sleep 0.05; done\nexec {real} \"$@\"\n",
            d = dir.path().display(),
            real = stack::venv_bin("gunicorn").display()
        );
        let gunicorn = dir.path().join("gunicorn");
        std::fs::write(&gunicorn, script).unwrap();
        std::fs::set_permissions(
            &gunicorn,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        Gate { dir }
    }

    fn gunicorn(&self) -> std::path::PathBuf {
        self.dir.path().join("gunicorn")
    }

    fn reached(&self) -> bool {
        self.dir.path().join("reached").exists()
    }

    fn open(&self) {
        std::fs::write(self.dir.path().join("open"), "").unwrap();
    }
}

fn journal(stack: &Stack) -> String {
    std::fs::read_to_string(stack.app_root.join(".slipway/gunicorn.journal")).unwrap_or_default()
}

/// Spawned with stdout read line by line into a channel.
fn spawn(mut command: Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn finish(child: Child, lines: &mpsc::Receiver<String>) -> (bool, String, String) {
    let output = child.wait_with_output().unwrap();
    let stdout: Vec<String> = lines.try_iter().collect();
    (
        output.status.success(),
        stdout.join("\n"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_reload_killed_between_the_switch_and_the_hup_is_reversed_by_the_next_step_which_waited_for_it()
{
    let stack = Stack::start();
    release(&stack.app_root, "r2", APP);
    let gate = Gate::new();
    let (first, _) = spawn(stack.gunicorn_reload_command_with("r2", &gate.gunicorn()));
    wait_until("the preflight to start", || gate.reached());
    let paused = Paused::new(stack.supervisord.pid());
    gate.open();
    wait_until("the switch to be journaled", || {
        journal(&stack).contains("\"switched\"")
    });
    // The half-switched host the journal exists for: `current` names r2
    // while gunicorn's workers still run r1.
    assert_eq!(stack.current().as_deref(), Some("r2"));

    // A second step on the same program waits for the first.
    let root = stack.app_root.display().to_string();
    let (second, lines) = spawn(Stack::command(
        &["step", "recover"],
        &["--socket", &stack.socket(), "--app-root", &root],
    ));
    let waiting = lines.recv_timeout(stack::DEADLINE).unwrap();
    assert!(
        waiting.contains("waiting for gunicorn-reload (pid") && waiting.contains("gunicorn"),
        "{waiting}"
    );
    kill(first);
    drop(paused);

    let (ok, stdout, stderr) = finish(second, &lines);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(
            "gunicorn-reload (pid") && stdout.contains("was interrupted after: switched current r1 -> r2; reversed: current is r1, gunicorn: HUP sent"),
        "{stdout}"
    );
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
    assert_eq!(journal(&stack), "", "the journal is removed");

    // The reversal is not a release of its own: r2 deploys again normally.
    let output = stack.gunicorn_reload("r2");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stack.serves("r2"));
}

#[test]
fn a_rollback_killed_between_the_switch_and_the_hup_is_finished_by_the_next_step() {
    let stack = Stack::start();
    release(&stack.app_root, "r2", APP);
    let output = stack.gunicorn_reload("r2");
    assert!(output.status.success());
    let root = stack.app_root.display().to_string();
    let paused = Paused::new(stack.supervisord.pid());
    let (first, _) = spawn(Stack::command(
        &["rollback"],
        &["--socket", &stack.socket(), "--app-root", &root],
    ));
    wait_until("the switch back to be journaled", || {
        journal(&stack).contains("\"switched\"")
    });
    kill(first);
    drop(paused);
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r2"), "gunicorn was never reloaded onto r1");

    // ValidateService of the release rolled back to: it finishes the
    // rollback first, then finds r1 serving.
    let url = stack.health_url();
    let output = stack.validate("r1", &url, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("rollback (pid")
            && stdout.contains("was interrupted after: switched current r2 -> r1; finished: current is r1, gunicorn: HUP sent")
            && stdout.contains("validate: ") && stdout.contains("reports release r1"),
        "{stdout}"
    );
    assert!(stack.serves("r1"));
    assert_eq!(journal(&stack), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_celery_restart_killed_during_the_warm_stop_is_finished_by_starting_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let app_root = dir.path().join("app");
    let sv = stack::Supervisord::start(&dir.path().join("sv"));
    // A worker whose warm stop takes 3 s, as one finishing a task would.
    let config = sv.write_program(
        "celery",
        "[program:celery]\ncommand=sh -c 'trap \"sleep 3; exit 0\" TERM; while :; do sleep 0.1; done'\n\
         startsecs=1\nstopasgroup=false\nkillasgroup=true\nstopwaitsecs=30\n",
    );
    let client = sv.client();
    client.update().await.unwrap();
    client
        .wait_for("celery", "RUNNING", stack::DEADLINE, |p| p.state == 20)
        .await
        .unwrap();
    let socket = sv.socket.display().to_string();
    let root = app_root.display().to_string();
    let config = config.display().to_string();
    let (first, _) = spawn(Stack::command(
        &["step", "celery-restart"],
        &[
            "--socket",
            &socket,
            "--program-config",
            &config,
            "--app-root",
            &root,
        ],
    ));
    let journal = app_root.join(".slipway/celery.journal");
    wait_until("the warm stop to be journaled", || {
        std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"stopping\""))
    });
    client
        .wait_for("celery", "STOPPING", stack::DEADLINE, |p| p.state == 40)
        .await
        .unwrap();
    kill(first);

    let (next, lines) = spawn(Stack::command(
        &["step", "recover"],
        &[
            "--socket",
            &socket,
            "--app-root",
            &root,
            "--program",
            "celery",
        ],
    ));
    let (ok, stdout, stderr) = finish(next, &lines);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("celery: celery-restart (pid")
            && stdout.contains(
                "was interrupted after: celery warm stop asked for; finished: celery running"
            ),
        "{stdout}"
    );
    assert_eq!(client.process_info("celery").await.unwrap().state, 20);
    assert!(!journal.exists());
}

#[test]
fn a_step_killed_before_it_changed_anything_leaves_nothing_to_undo() {
    use slipway_agent::steps::journal::{Journal, Record, Target};
    let dir = tempfile::tempdir().unwrap();
    let mut record = Record::new("gunicorn-reload", "gunicorn");
    record.pid = 4_000_000;
    record.target = Some(Target::Reverse("r1".into()));
    Journal::begin(dir.path(), record).unwrap();
    let root = dir.path().display().to_string();
    // No supervisord: nothing may be asked of it.
    let missing = dir.path().join("no.sock").display().to_string();
    let output = Stack::command(
        &["step", "recover"],
        &["--socket", &missing, "--app-root", &root],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "gunicorn: gunicorn-reload (pid 4000000) was interrupted after: before changing anything; nothing had changed"
        ),
        "{stdout}"
    );
    assert!(Journal::open(dir.path(), "gunicorn").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_with_celery_killed_during_the_workers_warm_switch_is_reversed_and_the_worker_and_takeover_switched_back_to_the_old_release()
 {
    let stack = Stack::start();
    release(&stack.app_root, "r2", APP);
    // A worker that writes the release it started in, and whose warm stop
    // takes 3 s, as one finishing a task would; its takeover the same.
    let started_in = stack.app_root.join("worker-release");
    let takeover_in = stack.app_root.join("takeover-release");
    let program = |name: &str, file: &Path, extra: &str| {
        format!(
            "[program:{name}]\ncommand=sh -c 'pwd -P > {}; trap \"sleep 3; exit 0\" TERM; while :; do sleep 0.1; done'\n\
             directory={}/current\nstartsecs=1\nstopasgroup=false\nkillasgroup=true\nstopwaitsecs=30\n{extra}\n",
            file.display(),
            stack.app_root.display()
        )
    };
    stack.supervisord.write_program(
        "celery",
        &(program("celery", &started_in, "")
            + &program("celery-next", &takeover_in, "autostart=false")),
    );
    let client = stack.supervisord.client();
    client.update().await.unwrap();
    client
        .wait_for("celery", "RUNNING", stack::DEADLINE, |p| p.state == 20)
        .await
        .unwrap();
    let release_of = |file: &Path| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .trim()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let worker_release = || release_of(&started_in);
    assert_eq!(worker_release(), "r1");

    let mut reload = stack.gunicorn_reload_command("r2");
    reload.args(["--celery", "celery"]);
    let (first, _) = spawn(reload);
    client
        .wait_for("celery", "STOPPING", stack::DEADLINE, |p| p.state == 40)
        .await
        .unwrap();
    // The takeover consumes on r2 meanwhile.
    assert_eq!(client.process_info("celery-next").await.unwrap().state, 20);
    assert_eq!(release_of(&takeover_in), "r2");
    assert!(
        journal(&stack).contains("\"celery\""),
        "{}",
        journal(&stack)
    );
    kill(first);

    let root = stack.app_root.display().to_string();
    let (next, lines) = spawn(Stack::command(
        &["step", "recover"],
        &[
            "--socket",
            &stack.socket(),
            "--app-root",
            &root,
            "--program",
            "gunicorn",
            "--program",
            "celery",
        ],
    ));
    let (ok, stdout, stderr) = finish(next, &lines);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("gunicorn-reload (pid")
            && stdout.contains("reversed: current is r1, gunicorn: HUP sent, celery restarted"),
        "{stdout}"
    );
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert_eq!(client.process_info("celery").await.unwrap().state, 20);
    assert_eq!(
        worker_release(),
        "r1",
        "the worker runs the release current names"
    );
    // The takeover was switched back with it, and stopped.
    assert_eq!(release_of(&takeover_in), "r1");
    assert_eq!(client.process_info("celery-next").await.unwrap().state, 0);
    assert!(stack.serves("r1"));
    assert_eq!(journal(&stack), "");

    // Forward again, uninterrupted: gunicorn and the worker both on r2.
    let mut reload = stack.gunicorn_reload_command("r2");
    reload.args(["--celery", "celery"]);
    let output = reload.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("celery restarted"), "{stdout}");
    assert!(stack.serves("r2"));
    assert_eq!(worker_release(), "r2");
    assert_eq!(client.process_info("celery-next").await.unwrap().state, 0);
    assert_eq!(journal(&stack), "");
}
