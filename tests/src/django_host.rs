//! One simulated Django host under a root directory: a private supervisord
//! holding the reference Gunicorn and Celery programs, nginx with the
//! reference site, and the `stack.env` the hook scripts read, all made from
//! `appspec/config/` with the host's paths and ports put in. No release is
//! deployed: the programs are added by the first `step supervisor-update`.
//!
//! ```text
//! <root>/srv/shop/            the app root: releases/, current, shop.env, release/
//! <root>/etc/slipway/stack.env
//! <root>/supervisor/          supervisord: socket, conf.d/{gunicorn,celery}.conf, log/
//! <root>/nginx/               nginx: nginx.conf, sites/site.conf, logs/
//! <root>/log/                 the programs' stdout
//! ```

use std::path::{Path, PathBuf};

use crate::host_stack::{Nginx, Supervisord, free_ports, get, io};
use crate::{Error, venv};

/// A running Django host.
#[derive(Debug)]
pub struct DjangoHost {
    /// The host's root.
    pub root: PathBuf,
    /// `<root>/srv/shop`: `releases/`, `current`, the secrets env file.
    pub app_root: PathBuf,
    /// `<root>/etc/slipway/stack.env`, as the hook scripts read it.
    pub stack_env: PathBuf,
    /// The Gunicorn and Celery program configs.
    pub gunicorn_conf: PathBuf,
    /// The Celery worker's program config.
    pub celery_conf: PathBuf,
    /// Gunicorn's port (nginx's upstream).
    pub gunicorn_port: u16,
    // Dropped in this order: nginx, then supervisord (which stops its programs).
    nginx: Nginx,
    supervisord: Supervisord,
}

impl DjangoHost {
    /// Lays out and starts a host under `root`; `app_env` are the lines of
    /// the app's secrets env file (`DB_PORT`, `BROKER_URL`, …), as
    /// `step secrets` would render them.
    pub fn start(root: &Path, app_env: &[(&str, &str)]) -> Result<DjangoHost, Error> {
        let reference = venv::workspace_root().join("appspec/config");
        let app_root = root.join("srv/shop");
        let logs = root.join("log");
        for dir in [
            app_root.join("releases"),
            logs.clone(),
            root.join("etc/slipway"),
        ] {
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        }
        let venv_dir = venv::workspace_root().join(".venv");
        let [gunicorn_port, nginx_port, standby_port] = free_ports::<3>()?;
        let supervisor_dir = root.join("supervisor");
        let nginx_dir = root.join("nginx");
        // The reference configs, with this host's paths and ports: order
        // matters (the venv path is under /srv/shop).
        // The Celery node name carries the host's name: hosts sharing one
        // machine (the demo's) would otherwise share `shop@<hostname>` on
        // the shared broker.
        let node = format!(
            "shop-{}@%%h",
            root.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let localize = |text: &str| {
            text.replace("shop@%%h", &node)
                .replace("/srv/shop/venv", &venv_dir.display().to_string())
                .replace("/srv/shop", &app_root.display().to_string())
                .replace("/var/log/shop", &logs.display().to_string())
                .replace("127.0.0.1:8001", &format!("127.0.0.1:{gunicorn_port}"))
                .replace("127.0.0.1:8002", &format!("127.0.0.1:{standby_port}"))
                .replace("listen 80;", &format!("listen 127.0.0.1:{nginx_port};"))
                .replace("\nuser=shop\n", "\n")
        };
        let read = |name: &str| {
            let path = reference.join(name);
            std::fs::read_to_string(&path).map_err(io("read", &path))
        };

        let env_file = app_root.join("shop.env");
        let lines: String = app_env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        write(&env_file, &lines)?;

        let supervisord = Supervisord::start(&supervisor_dir)?;
        let gunicorn_conf =
            supervisord.write_program("gunicorn", &localize(&read("supervisor/gunicorn.conf")?))?;
        let celery_conf =
            supervisord.write_program("celery", &localize(&read("supervisor/celery.conf")?))?;
        Nginx::write_config(&nginx_dir, &localize(&read("nginx/shop.conf")?))?;
        let nginx = Nginx::start(&nginx_dir, nginx_port)?;

        let stack_env = root.join("etc/slipway/stack.env");
        let nginx_args: Vec<String> = Nginx::args(&nginx_dir)
            .into_iter()
            .map(|arg| format!("--nginx-arg={arg}"))
            .collect();
        let settings = [
            ("SHOP_GUNICORN_CONF", gunicorn_conf.display().to_string()),
            ("SHOP_CELERY_CONF", celery_conf.display().to_string()),
            ("SHOP_NGINX_PID", nginx.pid_file().display().to_string()),
            ("SHOP_NGINX_ARGS", nginx_args.join(" ")),
            (
                "SHOP_NGINX_SITE",
                nginx_dir.join("sites/site.conf").display().to_string(),
            ),
            (
                "SLIPWAY_SUPERVISOR_SOCKET",
                supervisord.socket.display().to_string(),
            ),
            (
                "SHOP_HEALTH_URL",
                format!("http://127.0.0.1:{nginx_port}/healthz"),
            ),
            ("SHOP_ENV_FILE", env_file.display().to_string()),
            ("SHOP_OWNER", "root".into()),
        ];
        let mut text = localize(&read("stack.env")?);
        for (name, value) in settings {
            text = replace_setting(&text, name, &value);
        }
        write(&stack_env, &text)?;

        Ok(DjangoHost {
            root: root.to_owned(),
            app_root,
            stack_env,
            gunicorn_conf,
            celery_conf,
            gunicorn_port,
            nginx,
            supervisord,
        })
    }

    /// supervisord's socket.
    pub fn socket(&self) -> &Path {
        &self.supervisord.socket
    }

    /// The port nginx serves the site on.
    pub fn nginx_port(&self) -> u16 {
        self.nginx.port
    }

    /// `http://127.0.0.1:<nginx>/healthz`.
    pub fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}/healthz", self.nginx.port)
    }

    /// What `step nginx-reload` needs: `--pid-file P --nginx-arg …`.
    pub fn nginx_reload_args(&self) -> Vec<String> {
        let mut args = vec![
            "--pid-file".to_owned(),
            self.nginx.pid_file().display().to_string(),
        ];
        for arg in Nginx::args(&self.nginx.dir) {
            args.push(format!("--nginx-arg={arg}"));
        }
        args
    }

    /// The release answering `/healthz` through nginx, if one does.
    pub fn serving(&self) -> Option<String> {
        let (status, body) = get(self.nginx.port, "/healthz").ok()?;
        let release = body.trim().strip_prefix("release ")?;
        (status == 200).then(|| release.to_owned())
    }
}

fn replace_setting(text: &str, name: &str, value: &str) -> String {
    let prefix = format!("{name}=");
    let mut out: String = text
        .lines()
        .filter(|line| !line.starts_with(&prefix))
        .map(|line| format!("{line}\n"))
        .collect();
    // The file is sourced by sh: a value with spaces is quoted.
    if value.contains(char::is_whitespace) {
        out.push_str(&format!("{name}='{value}'\n"));
    } else {
        out.push_str(&format!("{name}={value}\n"));
    }
    out
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(io("write", path))
}
