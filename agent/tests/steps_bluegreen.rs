//! Blue/green with the real supervisord, nginx and gunicorn: a gunicorn
//! program whose own config changed (a new venv, new arguments) is
//! replaced through a standby program and nginx's upstream, under load,
//! without a failed request; a standby that fails its health check leaves
//! the old program serving; a step killed after nginx switched to the
//! standby is finished by the next one.

mod stack;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use slipway_agent::steps::supervisor::{ProcessInfo, Supervisor};
use stack::app::{APP, Load, Stack, gunicorn_program, release};
use stack::{Nginx, wait_until};

/// The gunicorn program's config as a deploy changes it: gunicorn from
/// another venv (`venv2/bin/gunicorn`, a link to the test venv's) and one
/// more worker. Returns the new venv's bin directory.
fn change_program(stack: &Stack) -> PathBuf {
    let bin = stack.app_root.parent().unwrap().join("venv2/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(stack::venv_bin("gunicorn"), bin.join("gunicorn")).unwrap();
    let old = std::fs::read_to_string(&stack.program_config).unwrap();
    let port = old
        .split("--bind 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let new = gunicorn_program(&stack.app_root, port, "--workers 3").replacen(
        &stack::venv_bin("gunicorn").display().to_string(),
        &bin.join("gunicorn").display().to_string(),
        1,
    );
    std::fs::write(&stack.program_config, new).unwrap();
    bin
}

fn site(stack: &Stack) -> PathBuf {
    stack.nginx.dir.join("sites/site.conf")
}

/// `gunicorn-reload` to `release` with what blue/green needs.
fn reload_command(stack: &Stack, release: &str, standby_port: u16) -> Command {
    let mut command = stack.gunicorn_reload_command(release);
    command
        .arg("--standby-bind")
        .arg(format!("127.0.0.1:{standby_port}"))
        .arg("--nginx-upstream")
        .arg(site(stack))
        .arg("--pid-file")
        .arg(stack.nginx.pid_file());
    for arg in Nginx::args(&stack.nginx.dir) {
        command.arg(format!("--nginx-arg={arg}"));
    }
    command
}

fn run(mut command: Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Blocking calls to the stack's supervisord.
struct Client {
    client: Supervisor,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    fn new(stack: &Stack) -> Client {
        Client {
            client: stack.supervisord.client(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn info(&self, program: &str) -> Option<ProcessInfo> {
        self.runtime
            .block_on(self.client.process_info(program))
            .ok()
    }

    fn changed(&self) -> Vec<String> {
        self.runtime
            .block_on(self.client.reload_config())
            .unwrap()
            .changed
    }
}

/// A stack serving r1, release r2 written with `r2`, and the gunicorn
/// program's config changed (see [`change_program`]).
struct Changed {
    stack: Stack,
    client: Client,
    old_pid: u32,
    site_before: String,
    venv2: PathBuf,
}

fn changed_stack(r2: &str) -> Changed {
    let stack = Stack::start();
    let client = Client::new(&stack);
    release(&stack.app_root, "r2", r2);
    let old_pid = client.info("gunicorn").unwrap().pid;
    let site_before = std::fs::read_to_string(site(&stack)).unwrap();
    let venv2 = change_program(&stack);
    Changed {
        stack,
        client,
        old_pid,
        site_before,
        venv2,
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(')').next().unwrap_or("").starts_with(" Z"))
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default()
}

/// The host after a finished switch: the program runs its new config on
/// its own port, nginx sends there, the standby and its file are gone,
/// supervisord's config matches its files, and no journal is left.
fn assert_switched(stack: &Stack, client: &Client, old_pid: u32, venv2: &Path, site_before: &str) {
    wait_until("the old master to exit", || !alive(old_pid));
    let info = client.info("gunicorn").unwrap();
    assert_eq!(info.statename, "RUNNING");
    let command = cmdline(info.pid);
    assert!(
        command.contains(&venv2.display().to_string()) && command.contains("--workers 3"),
        "{command}"
    );
    assert!(client.info("gunicorn-standby").is_none());
    assert!(
        !stack
            .program_config
            .with_file_name("gunicorn-standby.conf")
            .exists()
    );
    assert_eq!(client.changed(), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(site(stack)).unwrap(), site_before);
    assert!(!stack.app_root.join(".slipway/gunicorn.journal").exists());
}

#[test]
fn a_changed_venv_and_arguments_switch_blue_green_under_load_without_a_failed_request() {
    let Changed {
        stack,
        client,
        old_pid,
        site_before,
        venv2,
    } = changed_stack(APP);

    // ApplicationStart's supervisor-update leaves the changed program running.
    let output = stack.agent(
        &["step", "supervisor-update", "--leave-changed", "gunicorn"],
        &["--socket", &stack.socket()],
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("changed [\"gunicorn\"]"),
        "{output:?}"
    );
    assert_eq!(client.info("gunicorn").unwrap().pid, old_pid);

    let load = Load::start(stack.nginx_port);
    wait_until("load to run on r1", || load.r1() > 200);
    let [standby_port] = stack::free_ports::<1>();
    let started = std::time::Instant::now();
    let (ok, stdout, stderr) = run(reload_command(&stack, "r2", standby_port));
    // Printed, never asserted: two gunicorn starts (startsecs=1 here).
    let took = started.elapsed();
    assert!(ok, "{stdout}{stderr}");
    let seen = load.r2();
    wait_until("more requests on r2", || load.r2() > seen + 50);
    let (failed, r1, r2) = load.finish();
    eprintln!("blue/green under load: {took:.1?}, failed {failed}, r1 {r1}, r2 {r2}\n{stdout}");
    assert_eq!(failed, 0, "r1 {r1}, r2 {r2}");
    assert!(r1 > 0 && r2 > 50);
    for line in [
        "blue/green through gunicorn-standby",
        "gunicorn-standby reports release r2",
        &format!("nginx upstream 127.0.0.1:{standby_port} -> "),
        "gunicorn-standby stopped and removed",
        "gunicorn serves release r2",
    ] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
    assert_switched(&stack, &client, old_pid, &venv2, &site_before);
    assert!(stack.serves("r2"));
    assert_eq!(stack.current().as_deref(), Some("r2"));

    // Unchanged from here on: the next release is a plain HUP again.
    release(&stack.app_root, "r3", APP);
    let (ok, stdout, stderr) = run(reload_command(&stack, "r3", standby_port));
    assert!(ok && stdout.contains("HUP sent"), "{stdout}{stderr}");
    assert!(stack.serves("r3"));
}

#[test]
fn a_standby_failing_its_health_check_is_removed_and_the_old_program_keeps_serving() {
    // Imports (the preflight passes) but never reports healthy.
    let Changed {
        stack,
        client,
        old_pid,
        site_before,
        ..
    } = changed_stack(concat!(
        "def application(environ, start_response):\n",
        "    start_response('503 Service Unavailable', [('Content-Type', 'text/plain')])\n",
        "    return [b'release RELEASE: database unavailable\\n']\n",
    ));
    let [standby_port] = stack::free_ports::<1>();
    let mut command = reload_command(&stack, "r2", standby_port);
    command.args(["--health-timeout", "3"]);
    let (ok, stdout, stderr) = run(command);
    assert!(!ok, "{stdout}");
    for text in [
        "gunicorn: blue/green switch to release r2 failed; gunicorn-standby stopped and removed; gunicorn keeps serving r1",
        &format!("http://127.0.0.1:{standby_port}/ did not report release r2"),
        "503 Service Unavailable",
    ] {
        assert!(stderr.contains(text), "{text:?} in {stderr}");
    }
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
    assert_eq!(client.info("gunicorn").unwrap().pid, old_pid);
    assert!(client.info("gunicorn-standby").is_none());
    assert_eq!(std::fs::read_to_string(site(&stack)).unwrap(), site_before);
    assert!(!stack.app_root.join(".slipway/gunicorn.journal").exists());
    // The changed config is still waiting to be applied.
    assert_eq!(client.changed(), ["gunicorn"]);
}

#[test]
fn a_changed_program_without_blue_green_settings_is_refused_before_anything_switches() {
    let Changed {
        stack,
        client,
        old_pid,
        ..
    } = changed_stack(APP);
    let (ok, stdout, stderr) = run(stack.gunicorn_reload_command("r2"));
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("gunicorn: cannot switch blue/green: its Supervisor config changed")
            && stderr.contains("--standby-bind"),
        "{stderr}"
    );
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
    assert_eq!(client.info("gunicorn").unwrap().pid, old_pid);
}

/// supervisord stopped with SIGSTOP until dropped.
struct Paused(i32);

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the supervisord child the stack spawned.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

#[test]
fn a_switch_killed_after_nginx_moved_to_the_standby_is_finished_by_recover_without_a_failed_request()
 {
    let Changed {
        stack,
        client,
        old_pid,
        site_before,
        venv2,
    } = changed_stack(APP);
    let load = Load::start(stack.nginx_port);
    wait_until("load to run on r1", || load.r1() > 200);
    let [standby_port] = stack::free_ports::<1>();
    let mut first = reload_command(&stack, "r2", standby_port)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = stack.app_root.join(".slipway/gunicorn.journal");
    // The step's next call after journaling nginx's switch is to
    // supervisord: paused, it holds the step there.
    wait_until("nginx's switch to the standby to be journaled", || {
        std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("upstream_switched"))
    });
    // SAFETY: kill(2) on the supervisord child the stack spawned.
    unsafe { libc::kill(stack.supervisord.pid(), libc::SIGSTOP) };
    let paused = Paused(stack.supervisord.pid());
    first.kill().unwrap();
    first.wait().unwrap();
    drop(paused);
    assert!(journal.exists());

    let root = stack.app_root.display().to_string();
    let (ok, stdout, stderr) = run(Stack::command(
        &["step", "recover"],
        &["--socket", &stack.socket(), "--app-root", &root],
    ));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("gunicorn-bluegreen (pid")
            && stdout.contains("was interrupted after: ")
            && stdout.contains("finished: gunicorn serves release r2"),
        "{stdout}"
    );
    let seen = load.r2();
    wait_until("more requests on r2", || load.r2() > seen + 50);
    let (failed, r1, r2) = load.finish();
    eprintln!("killed blue/green, recovered: failed {failed}, r1 {r1}, r2 {r2}\n{stdout}");
    assert_eq!(failed, 0, "r1 {r1}, r2 {r2}");
    assert_switched(&stack, &client, old_pid, &venv2, &site_before);
    assert!(stack.serves("r2"));
}

#[test]
fn a_switch_killed_before_nginx_moved_is_reversed_and_the_old_program_never_stopped() {
    // r2 never reports healthy, so the step is held checking the standby:
    // after it was added, before nginx could be switched.
    let Changed {
        stack,
        client,
        old_pid,
        site_before,
        ..
    } = changed_stack(concat!(
        "def application(environ, start_response):\n",
        "    start_response('503 Service Unavailable', [('Content-Type', 'text/plain')])\n",
        "    return [b'release RELEASE: starting\\n']\n",
    ));
    let [standby_port] = stack::free_ports::<1>();
    let journal = stack.app_root.join(".slipway/gunicorn.journal");
    let mut first = reload_command(&stack, "r2", standby_port)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the standby to be journaled and serving", || {
        std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"added\""))
            && stack::get(standby_port, "/").is_ok()
    });
    assert_eq!(stack.current().as_deref(), Some("r2"));
    first.kill().unwrap();
    first.wait().unwrap();

    let root = stack.app_root.display().to_string();
    let (ok, stdout, stderr) = run(Stack::command(
        &["step", "recover"],
        &["--socket", &stack.socket(), "--app-root", &root],
    ));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("gunicorn-bluegreen (pid")
            && stdout.contains("was interrupted after: gunicorn-standby added")
            && stdout.contains("reversed: gunicorn still serves")
            && stdout.contains("current r2 -> r1"),
        "{stdout}"
    );
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
    assert_eq!(client.info("gunicorn").unwrap().pid, old_pid);
    assert!(client.info("gunicorn-standby").is_none());
    assert!(stack::get(standby_port, "/").is_err());
    assert_eq!(std::fs::read_to_string(site(&stack)).unwrap(), site_before);
    assert!(!journal.exists());
}
