//! A private nginx.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{DEADLINE, io, stop, wait_until};
use crate::Error;

/// nginx in the foreground with every path under its directory.
#[derive(Debug)]
pub struct Nginx {
    /// Its prefix: `nginx.conf`, `sites/`, `logs/`, `temp/`, the pid file.
    pub dir: PathBuf,
    /// The port its site listens on.
    pub port: u16,
    child: Child,
}

impl Nginx {
    /// Writes the main config, which includes `sites/*.conf`, and `site`
    /// (an nginx `server` block's text) as `sites/site.conf`.
    pub fn write_config(dir: &Path, site: &str) -> Result<(), Error> {
        for sub in ["logs", "temp", "sites"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(io("create", &path))?;
        }
        let d = dir.display();
        let conf = dir.join("nginx.conf");
        // pid and every *_temp_path: the compiled-in defaults are /run and /var/lib/nginx.
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
                 events {{ worker_connections 512; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/temp/body;\n  proxy_temp_path {d}/temp/proxy;\n  \
                 fastcgi_temp_path {d}/temp/fastcgi;\n  uwsgi_temp_path {d}/temp/uwsgi;\n  scgi_temp_path {d}/temp/scgi;\n  \
                 include {d}/sites/*.conf;\n}}\n"
            ),
        )
        .map_err(io("write", &conf))?;
        let site_file = dir.join("sites/site.conf");
        std::fs::write(&site_file, site).map_err(io("write", &site_file))
    }

    /// Starts nginx on the config in `dir` and waits until `port` accepts.
    pub fn start(dir: &Path, port: u16) -> Result<Nginx, Error> {
        let child = Command::new("nginx")
            .args(Self::args(dir))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "nginx (scripts/setup installs it)".into(),
                source,
            })?;
        let mut nginx = Nginx {
            dir: dir.to_owned(),
            port,
            child,
        };
        wait_until("nginx", Some(&mut nginx.child), DEADLINE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        Ok(nginx)
    }

    /// `-p`, `-c`, `-e`: what `nginx -t` and `step nginx-reload` need too.
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

    /// Its pid file.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("nginx.pid")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // QUIT is nginx's graceful stop.
        stop(&mut self.child, libc::SIGQUIT);
    }
}
