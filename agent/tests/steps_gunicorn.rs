//! Gunicorn, nginx and releases with the real programs: a HUP reload under
//! load through nginx, the preflight and config refusals, and rollback.

mod stack;

use stack::Nginx;
use stack::app::{APP, Load, Stack, gunicorn_program, release};
use stack::wait_until;

#[test]
fn a_hup_reload_under_load_through_nginx_drops_nothing_and_moves_to_the_new_release() {
    let stack = Stack::start();
    release(&stack.app_root, "r2", APP);
    let load = Load::start(stack.nginx_port);
    wait_until("load to run on r1", || load.r1() > 200);
    let output = stack.gunicorn_reload("r2");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = load.r2();
    wait_until("more requests on r2", || load.r2() > seen + 50);
    let (failed, r1, r2) = load.finish();
    eprintln!("HUP reload under load: failed {failed}, r1 {r1}, r2 {r2}");
    assert_eq!(failed, 0, "r1 {r1}, r2 {r2}");
    assert!(r1 > 0 && r2 > 50);
    assert!(stack.serves("r2"));
    assert_eq!(stack.current().as_deref(), Some("r2"));
}

#[test]
fn a_release_that_fails_to_import_is_refused_before_the_switch_and_the_old_one_keeps_serving() {
    let stack = Stack::start();
    release(&stack.app_root, "r2", "import no_such_module_here\n");
    let output = stack.gunicorn_reload("r2");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--check-config") && stderr.contains("no_such_module_here"),
        "{stderr}"
    );
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
}

#[test]
fn a_gunicorn_program_with_preload_or_without_chdir_on_current_is_refused_naming_the_setting() {
    let stack = Stack::start();
    release(&stack.app_root, "r2", APP);
    for (extra_program, setting) in [
        (
            gunicorn_program(&stack.app_root, 1, "--preload"),
            "command: --preload",
        ),
        (
            gunicorn_program(&stack.app_root, 1, "").replace("/current", "/releases/r1"),
            "command: --chdir",
        ),
    ] {
        std::fs::write(&stack.program_config, extra_program).unwrap();
        let output = stack.gunicorn_reload("r2");
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(setting) && stderr.contains("gunicorn.conf"),
            "{stderr}"
        );
        assert_eq!(stack.current().as_deref(), Some("r1"));
    }
    assert!(stack.serves("r1"));
}

#[test]
fn rollback_switches_back_to_the_previous_release_and_reloads() {
    let stack = Stack::start();
    release(&stack.app_root, "r2", APP);
    let output = stack.gunicorn_reload("r2");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let root = stack.app_root.display().to_string();
    let url = stack.health_url();
    let output = stack.agent(
        &["rollback"],
        &[
            "--socket",
            &stack.socket(),
            "--app-root",
            &root,
            "--health-url",
            &url,
        ],
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("r2 -> r1"));
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
}

#[test]
fn nginx_reload_tests_the_config_replaces_the_workers_and_a_bad_config_keeps_the_old_one() {
    let stack = Stack::start();
    let nginx_dir = stack.nginx.dir.display().to_string();
    let pid_file = stack.nginx.pid_file().display().to_string();
    let mut args: Vec<String> = vec!["--pid-file".into(), pid_file];
    for arg in Nginx::args(&stack.nginx.dir) {
        args.push(format!("--nginx-arg={arg}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = stack.agent(&["step", "nginx-reload"], &args);
    assert!(String::from_utf8_lossy(&output.stdout).contains("reloaded"));
    assert!(stack.serves("r1"));

    std::fs::write(
        format!("{nginx_dir}/sites/site.conf"),
        "server { listen nonsense; ",
    )
    .unwrap();
    let output = stack.agent_unchecked(&["step", "nginx-reload"], &args);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nginx -t failed"));
    assert!(stack.serves("r1"));
}

/// A host's first deployment: `supervisor-update` adds gunicorn before
/// `current` exists, so it fails to chdir and cycles through BACKOFF.
/// `gunicorn-reload` then switches `current` and must start it (Supervisor
/// answers a start in BACKOFF with ALREADY_STARTED, and a HUP cannot reach
/// it), not HUP it.
#[test]
fn a_first_reload_starts_a_gunicorn_that_failed_before_current_existed() {
    let _serial = stack::serial();
    let dir = tempfile::tempdir().unwrap();
    let app_root = dir.path().join("app");
    release(&app_root, "r1", APP);
    let [gunicorn_port] = stack::free_ports::<1>();
    let supervisord = stack::Supervisord::start(&dir.path().join("sv"));
    // Retrying for long enough that the reload finds it between attempts.
    let program = gunicorn_program(&app_root, gunicorn_port, "") + "startretries=50\n";
    let config = supervisord.write_program("gunicorn", &program);
    let socket = supervisord.socket.display().to_string();
    Stack::command(&["step", "supervisor-update", "--socket", &socket], &[])
        .output()
        .unwrap();
    let client = supervisord.client();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = || runtime.block_on(client.process_info("gunicorn")).unwrap();
    wait_until("gunicorn in BACKOFF", || state().statename == "BACKOFF");

    let gunicorn = stack::venv_bin("gunicorn").display().to_string();
    let output = Stack::command(
        &["step", "gunicorn-reload"],
        &[
            "--socket",
            &socket,
            "--program-config",
            &config.display().to_string(),
            "--app-root",
            &app_root.display().to_string(),
            "--release",
            "r1",
            "--app",
            "app:application",
            "--gunicorn",
            &gunicorn,
            "--health-url",
            &format!("http://127.0.0.1:{gunicorn_port}/"),
        ],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Started, or left starting on the release by Supervisor's retry;
    // never HUPed, and without waiting for RUNNING: the health URL told.
    assert!(
        (stdout.contains("started") || stdout.contains("starting on the release"))
            && !stdout.contains("HUP"),
        "{stdout}"
    );
    wait_until("gunicorn RUNNING", || state().statename == "RUNNING");
    let (status, body) = stack::get(gunicorn_port, "/").unwrap();
    assert_eq!((status, body.trim()), (200, "release r1"));
}
