//! A gunicorn app under the real supervisord with nginx in front, run from
//! `<app_root>/current`, and a load loop through nginx: what the gunicorn,
//! validate and journal tests drive `slipway-agent step …` against.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{Nginx, Supervisord, get, venv_bin, wait_until};

// No `\` line continuations: they would eat the Python indentation.
// `/healthz` answers 503 while the release directory holds `unhealthy`: a
// release that imports and serves but fails its health check.
pub const APP: &str = concat!(
    "import os, time\n",
    "def application(environ, start_response):\n",
    "    time.sleep(0.005)\n",
    "    if environ['PATH_INFO'] == '/healthz' and os.path.exists('unhealthy'):\n",
    "        start_response('503 Service Unavailable', [('Content-Type', 'text/plain')])\n",
    "        return [b'release RELEASE: database unavailable\\n']\n",
    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n",
    "    return [b'release RELEASE\\n']\n",
);

/// supervisord running gunicorn from `current`, nginx in front.
pub struct Stack {
    pub app_root: PathBuf,
    pub program_config: PathBuf,
    pub nginx_port: u16,
    // Dropped in this order: nginx, then supervisord (which stops gunicorn).
    pub nginx: Nginx,
    pub supervisord: Supervisord,
    // Last, so it is removed after the programs using it have stopped.
    _dir: tempfile::TempDir,
    _serial: std::sync::MutexGuard<'static, ()>,
}

pub fn release(app_root: &Path, id: &str, body: &str) {
    let dir = app_root.join("releases").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.py"), body.replace("RELEASE", id)).unwrap();
}

pub fn gunicorn_program(app_root: &Path, port: u16, extra: &str) -> String {
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
    pub fn start() -> Stack {
        Self::start_with("")
    }

    /// With `extra` gunicorn arguments (a later `--workers N` wins).
    pub fn start_with(extra: &str) -> Stack {
        let serial = super::serial();
        let dir = tempfile::tempdir().unwrap();
        let app_root = dir.path().join("app");
        release(&app_root, "r1", APP);
        slipway_agent::steps::releases::Releases::new(&app_root)
            .switch_to("r1")
            .unwrap();
        let [gunicorn_port, nginx_port] = super::free_ports::<2>();
        let supervisord = Supervisord::start(&dir.path().join("sv"));
        let program_config = supervisord.write_program(
            "gunicorn",
            &gunicorn_program(&app_root, gunicorn_port, extra),
        );
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

    pub fn socket(&self) -> String {
        self.supervisord.socket.display().to_string()
    }

    pub fn serves(&self, release: &str) -> bool {
        get(self.nginx_port, "/")
            .is_ok_and(|(s, b)| s == 200 && b.contains(&format!("release {release}")))
    }

    pub fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.nginx_port)
    }

    /// Runs `slipway-agent ARGS… EXTRA…`, asserting success.
    pub fn agent(&self, args: &[&str], extra: &[&str]) -> Output {
        let output = self.agent_unchecked(args, extra);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    pub fn agent_unchecked(&self, args: &[&str], extra: &[&str]) -> Output {
        Self::command(args, extra).output().unwrap()
    }

    /// `slipway-agent ARGS… EXTRA…`, not yet run.
    pub fn command(args: &[&str], extra: &[&str]) -> Command {
        let mut command = Command::new(agent_bin());
        command.args(args).args(extra);
        command
    }

    pub fn gunicorn_reload(&self, release: &str) -> Output {
        self.gunicorn_reload_command(release).output().unwrap()
    }

    /// `slipway-agent step gunicorn-reload` to `release`, health-checked through nginx.
    pub fn gunicorn_reload_command(&self, release: &str) -> Command {
        self.gunicorn_reload_command_with(release, &venv_bin("gunicorn"))
    }

    /// [`Stack::gunicorn_reload_command`] with `gunicorn` for the preflight.
    pub fn gunicorn_reload_command_with(&self, release: &str, gunicorn: &Path) -> Command {
        let gunicorn = gunicorn.display().to_string();
        let config = self.program_config.display().to_string();
        let root = self.app_root.display().to_string();
        let url = self.health_url();
        Self::command(
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

    /// `slipway-agent step validate` of `release` against `url`, with `extra` arguments.
    pub fn validate(&self, release: &str, url: &str, extra: &[&str]) -> Output {
        let root = self.app_root.display().to_string();
        let socket = self.socket();
        let mut args = vec![
            "--socket",
            &socket,
            "--app-root",
            &root,
            "--release",
            release,
            "--health-url",
            url,
        ];
        args.extend_from_slice(extra);
        self.agent_unchecked(&["step", "validate"], &args)
    }

    pub fn current(&self) -> Option<String> {
        slipway_agent::steps::releases::Releases::new(&self.app_root)
            .current()
            .unwrap()
    }
}

/// The agent binary: cargo's for tests; `SLIPWAY_AGENT` for the benchmark
/// example, which cargo gives no binary path.
pub fn agent_bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_slipway-agent") {
        Some(path) => path.into(),
        None => std::env::var_os("SLIPWAY_AGENT")
            .expect("SLIPWAY_AGENT names the slipway-agent binary")
            .into(),
    }
}

pub fn site(listen: u16, upstream: u16) -> String {
    format!(
        "upstream app {{ server 127.0.0.1:{upstream}; }}\n\
         server {{ listen 127.0.0.1:{listen}; location / {{ proxy_pass http://app; }} }}\n"
    )
}

/// Requests through nginx on four threads until stopped, counting failures
/// and which release answered.
pub struct Load {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicUsize>,
    by_release: Arc<[AtomicUsize; 2]>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16) -> Load {
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

    pub fn r1(&self) -> usize {
        self.by_release[0].load(Ordering::Relaxed)
    }

    pub fn r2(&self) -> usize {
        self.by_release[1].load(Ordering::Relaxed)
    }

    /// (failed, r1, r2)
    pub fn finish(self) -> (usize, usize, usize) {
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
