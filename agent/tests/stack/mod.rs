//! The real host stack for the steps' tests: a private supervisord on a
//! temp unix socket and a private nginx on a free loopback port, each
//! stopped (with everything it started) when dropped.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: the machine is small and shared.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free ports: the listeners are held until all are picked, so
/// two calls in a row cannot hand out the same port before either is bound.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// Held for a test's whole stack: the stacks' ports are picked free and
/// bound only later (by gunicorn under supervisord), so two stacks starting
/// at once could race for one port.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `ready` every 50 ms until it holds, panicking with `what` after [`DEADLINE`].
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn venv_bin(name: &str) -> PathBuf {
    slipway_tests::venv::bin(name).expect("scripts/setup builds .venv")
}

fn terminate(child: &mut Child) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
}

/// A supervisord in the foreground (`-n`) so the test holds its pid; TERM
/// makes it stop its programs before it exits.
pub struct Supervisord {
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Child,
}

impl Supervisord {
    /// Starts supervisord on `dir/supervisor.sock`, including `dir/conf.d/*.conf`.
    pub fn start(dir: &Path) -> Supervisord {
        let conf_d = dir.join("conf.d");
        let logs = dir.join("log");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::create_dir_all(&logs).unwrap();
        let socket = dir.join("supervisor.sock");
        let conf = dir.join("supervisord.conf");
        std::fs::write(
            &conf,
            format!(
                "[unix_http_server]\nfile={sock}\n\n\
                 [supervisord]\nuser=root\npidfile={d}/supervisord.pid\nlogfile={l}/supervisord.log\nchildlogdir={l}\n\n\
                 [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
                 [include]\nfiles = {c}/*.conf\n",
                sock = socket.display(),
                d = dir.display(),
                l = logs.display(),
                c = conf_d.display(),
            ),
        )
        .unwrap();
        let child = Command::new("supervisord")
            .arg("-n")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("supervisord from scripts/setup");
        let supervisord = Supervisord {
            dir: dir.to_owned(),
            socket,
            child,
        };
        // Connecting is enough: supervisord binds the socket once it is
        // ready to serve RPC.
        wait_until("supervisord's socket", || {
            std::os::unix::net::UnixStream::connect(&supervisord.socket).is_ok()
        });
        supervisord
    }

    pub fn conf_d(&self) -> PathBuf {
        self.dir.join("conf.d")
    }

    /// Writes `conf.d/<name>.conf`.
    pub fn write_program(&self, name: &str, body: &str) -> PathBuf {
        let path = self.conf_d().join(format!("{name}.conf"));
        std::fs::write(&path, body).unwrap();
        path
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn client(&self) -> slipway_agent::steps::supervisor::Supervisor {
        slipway_agent::steps::supervisor::Supervisor::new(&self.socket)
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// nginx in the foreground with every path under `dir`.
pub struct Nginx {
    pub dir: PathBuf,
    pub port: u16,
    child: Child,
}

impl Nginx {
    /// The main config with `site` (an nginx `server` block's text) included.
    pub fn write_config(dir: &Path, site: &str) {
        for sub in ["logs", "temp", "sites"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let d = dir.display();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
                 events {{ worker_connections 512; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/temp/body;\n  proxy_temp_path {d}/temp/proxy;\n  \
                 fastcgi_temp_path {d}/temp/fastcgi;\n  uwsgi_temp_path {d}/temp/uwsgi;\n  scgi_temp_path {d}/temp/scgi;\n  \
                 include {d}/sites/*.conf;\n}}\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("sites/site.conf"), site).unwrap();
    }

    pub fn start(dir: &Path, port: u16) -> Nginx {
        let child = Command::new("nginx")
            .args(Self::args(dir))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx from scripts/setup");
        let nginx = Nginx {
            dir: dir.to_owned(),
            port,
            child,
        };
        wait_until("nginx to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        nginx
    }

    pub fn args(dir: &Path) -> Vec<String> {
        vec![
            "-p".into(),
            dir.display().to_string(),
            "-c".into(),
            dir.join("nginx.conf").display().to_string(),
            "-e".into(),
            dir.join("logs/error.log").display().to_string(),
        ]
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("nginx.pid")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: as in `terminate`; QUIT is nginx's graceful stop.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGQUIT);
        }
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 GET on a new connection: (status, body).
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

pub mod app;
