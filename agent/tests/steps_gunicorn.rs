//! Gunicorn, nginx and releases with the real programs: a HUP reload under
//! load through nginx, the preflight and config refusals, and rollback.

mod stack;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use stack::{Nginx, Supervisord, get, venv_bin, wait_until};

// No `\` line continuations: they would eat the Python indentation.
const APP: &str = concat!(
    "import time\n",
    "def application(environ, start_response):\n",
    "    time.sleep(0.005)\n",
    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n",
    "    return [b'release RELEASE\\n']\n",
);

/// supervisord running gunicorn from `current`, nginx in front.
struct Stack {
    app_root: PathBuf,
    program_config: PathBuf,
    nginx_port: u16,
    // Dropped in this order: nginx, then supervisord (which stops gunicorn).
    nginx: Nginx,
    supervisord: Supervisord,
    // Last, so it is removed after the programs using it have stopped.
    _dir: tempfile::TempDir,
    _serial: std::sync::MutexGuard<'static, ()>,
}

fn release(app_root: &Path, id: &str, body: &str) {
    let dir = app_root.join("releases").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.py"), body.replace("RELEASE", id)).unwrap();
}

fn gunicorn_program(app_root: &Path, port: u16, extra: &str) -> String {
    format!(
        "[program:gunicorn]\n\
         command={gunicorn} --chdir {root}/current --bind 127.0.0.1:{port} --workers 2 \
         --graceful-timeout 10 --no-control-socket {extra} app:application\n\
         directory={root}\nautostart=true\nstartsecs=1\nstopwaitsecs=15\nredirect_stderr=true\n",
        gunicorn = venv_bin("gunicorn").display(),
        root = app_root.display(),
    )
}

impl Stack {
    fn start() -> Stack {
        let serial = stack::serial();
        let dir = tempfile::tempdir().unwrap();
        let app_root = dir.path().join("app");
        release(&app_root, "r1", APP);
        slipway_agent::steps::releases::Releases::new(&app_root)
            .switch_to("r1")
            .unwrap();
        let [gunicorn_port, nginx_port] = stack::free_ports::<2>();
        let supervisord = Supervisord::start(&dir.path().join("sv"));
        let program_config =
            supervisord.write_program("gunicorn", &gunicorn_program(&app_root, gunicorn_port, ""));
        let nginx_dir = dir.path().join("nginx");
        Nginx::write_config(&nginx_dir, &site(nginx_port, gunicorn_port));
        let nginx = Nginx::start(&nginx_dir, nginx_port);
        let stack = Stack {
            app_root,
            program_config,
            nginx_port,
            nginx,
            supervisord,
            _dir: dir,
            _serial: serial,
        };
        stack.agent(
            &["step", "supervisor-update", "--socket"],
            &[&stack.socket()],
        );
        wait_until("gunicorn through nginx", || stack.serves("r1"));
        stack
    }

    fn socket(&self) -> String {
        self.supervisord.socket.display().to_string()
    }

    fn serves(&self, release: &str) -> bool {
        get(self.nginx_port, "/")
            .is_ok_and(|(s, b)| s == 200 && b.contains(&format!("release {release}")))
    }

    fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.nginx_port)
    }

    /// Runs `slipway-agent ARGS… EXTRA…`, asserting success.
    fn agent(&self, args: &[&str], extra: &[&str]) -> Output {
        let output = self.agent_unchecked(args, extra);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn agent_unchecked(&self, args: &[&str], extra: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
            .args(args)
            .args(extra)
            .output()
            .unwrap()
    }

    fn gunicorn_reload(&self, release: &str) -> Output {
        let gunicorn = venv_bin("gunicorn").display().to_string();
        let config = self.program_config.display().to_string();
        let root = self.app_root.display().to_string();
        let url = self.health_url();
        self.agent_unchecked(
            &["step", "gunicorn-reload"],
            &[
                "--socket",
                &self.socket(),
                "--program-config",
                &config,
                "--app-root",
                &root,
                "--release",
                release,
                "--app",
                "app:application",
                "--gunicorn",
                &gunicorn,
                "--health-url",
                &url,
            ],
        )
    }

    fn current(&self) -> Option<String> {
        slipway_agent::steps::releases::Releases::new(&self.app_root)
            .current()
            .unwrap()
    }
}

fn site(listen: u16, upstream: u16) -> String {
    format!(
        "upstream app {{ server 127.0.0.1:{upstream}; }}\n\
         server {{ listen 127.0.0.1:{listen}; location / {{ proxy_pass http://app; }} }}\n"
    )
}

/// Requests through nginx on four threads until stopped, counting failures
/// and which release answered.
struct Load {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicUsize>,
    by_release: Arc<[AtomicUsize; 2]>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicUsize::new(0));
        let by_release = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let threads = (0..4)
            .map(|_| {
                let (stop, failed, by_release) = (stop.clone(), failed.clone(), by_release.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match get(port, "/") {
                            Ok((200, body)) if body.contains("release r1") => {
                                by_release[0].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok((200, body)) if body.contains("release r2") => {
                                by_release[1].fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            failed,
            by_release,
            threads,
        }
    }

    fn r1(&self) -> usize {
        self.by_release[0].load(Ordering::Relaxed)
    }

    fn r2(&self) -> usize {
        self.by_release[1].load(Ordering::Relaxed)
    }

    /// (failed, r1, r2)
    fn finish(self) -> (usize, usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        (
            self.failed.load(Ordering::Relaxed),
            self.by_release[0].load(Ordering::Relaxed),
            self.by_release[1].load(Ordering::Relaxed),
        )
    }
}

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
