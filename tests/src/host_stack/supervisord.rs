//! A private supervisord.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{DEADLINE, io, stop, wait_until};
use crate::Error;

/// supervisord in the foreground (`-n`), so its pid is ours to stop; TERM
/// makes it stop its programs before it exits.
#[derive(Debug)]
pub struct Supervisord {
    /// Its directory: config, pid file, `conf.d/`, `log/`.
    pub dir: PathBuf,
    /// Its unix socket, `dir/supervisor.sock`.
    pub socket: PathBuf,
    child: Child,
}

impl Supervisord {
    /// Starts supervisord on `dir/supervisor.sock`, including
    /// `dir/conf.d/*.conf`, and waits until the socket accepts.
    pub fn start(dir: &Path) -> Result<Supervisord, Error> {
        let conf_d = dir.join("conf.d");
        let logs = dir.join("log");
        for d in [&conf_d, &logs] {
            std::fs::create_dir_all(d).map_err(io("create", d))?;
        }
        let socket = dir.join("supervisor.sock");
        let conf = dir.join("supervisord.conf");
        std::fs::write(
            &conf,
            format!(
                "[unix_http_server]\nfile={sock}\n\n\
                 [supervisord]\nuser=root\npidfile={d}/supervisord.pid\nlogfile={l}/supervisord.log\nchildlogdir={l}\n\n\
                 [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
                 [supervisorctl]\nserverurl=unix://{sock}\n\n\
                 [include]\nfiles = {c}/*.conf\n",
                sock = socket.display(),
                d = dir.display(),
                l = logs.display(),
                c = conf_d.display(),
            ),
        )
        .map_err(io("write", &conf))?;
        let child = Command::new("supervisord")
            .arg("-n")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "supervisord (scripts/setup installs it)".into(),
                source,
            })?;
        let mut supervisord = Supervisord {
            dir: dir.to_owned(),
            socket,
            child,
        };
        // Connecting is enough: supervisord binds the socket once it is
        // ready to serve RPC.
        let socket = supervisord.socket.clone();
        wait_until(
            "supervisord",
            Some(&mut supervisord.child),
            DEADLINE,
            || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        )?;
        Ok(supervisord)
    }

    /// `dir/conf.d`, where program configs go.
    pub fn conf_d(&self) -> PathBuf {
        self.dir.join("conf.d")
    }

    /// Writes `conf.d/<name>.conf`.
    pub fn write_program(&self, name: &str, body: &str) -> Result<PathBuf, Error> {
        let path = self.conf_d().join(format!("{name}.conf"));
        std::fs::write(&path, body).map_err(io("write", &path))?;
        Ok(path)
    }

    /// supervisord's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The agent's client on its socket.
    pub fn client(&self) -> slipway_agent::steps::supervisor::Supervisor {
        slipway_agent::steps::supervisor::Supervisor::new(&self.socket)
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        stop(&mut self.child, libc::SIGTERM);
    }
}
