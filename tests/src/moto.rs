//! moto's server from the workspace's `.venv`, for S3, SSM and KMS: started
//! on a free port in its own process group, killed with it on drop.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, venv};

/// moto imports a lot of Python; on a busy 2-core machine that can take a
/// while, so readiness gets a generous deadline.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Another process may grab the port between our probe and moto's bind.
const PORT_ATTEMPTS: usize = 3;

/// A running `moto_server`.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    url: String,
    /// moto's stderr, kept so a failed start can say why.
    log: tempfile::NamedTempFile,
}

impl Moto {
    /// Starts moto from `.venv` and waits until it answers HTTP.
    pub async fn start() -> Result<Self, Error> {
        Self::start_at(&venv::bin("moto_server")?).await
    }

    /// Starts the `moto_server` at `path` and waits until it answers HTTP.
    pub async fn start_at(path: &Path) -> Result<Self, Error> {
        let path = path.to_owned();
        if !path.is_file() {
            return Err(Error::VenvMissing { path });
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|source| Error::HttpClient { source })?;
        let mut attempt = 1;
        loop {
            let port = free_port("moto")?;
            let mut moto = Self::spawn(&path, port)?;
            match moto.wait_ready(&client).await {
                Err(Error::MotoExited { .. }) if attempt < PORT_ATTEMPTS => attempt += 1,
                Err(error) => return Err(error),
                Ok(()) => return Ok(moto),
            }
        }
    }

    fn spawn(path: &Path, port: u16) -> Result<Self, Error> {
        let spawn_error = |source| Error::SpawnMoto {
            path: path.to_owned(),
            source,
        };
        let log = tempfile::NamedTempFile::new().map_err(spawn_error)?;
        let stderr = log.reopen().map_err(spawn_error)?;
        let mut command = Command::new(path);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own group, so one signal reaches moto and anything it forks.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                // If the sandbox dies without dropping us, moto goes too.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().map_err(spawn_error)?;
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        })
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let probe = format!("{}/moto-api/", self.url);
        loop {
            if client.get(&probe).send().await.is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::MotoExited {
                    url: self.url.clone(),
                    status,
                    stderr_tail: self.stderr_tail(),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::MotoTimeout {
                    url: self.url.clone(),
                    timeout: READY_TIMEOUT,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The last lines moto wrote to stderr.
    fn stderr_tail(&self) -> String {
        const TAIL: usize = 2000;
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let start = text.len().saturating_sub(TAIL);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].trim().to_owned()
    }

    /// The endpoint for every service moto serves.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An S3 client of this moto ([`s3_client`]).
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        s3_client(&self.url)
    }

    /// moto's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// An S3 client of the moto at `url`: path-style addressing (moto serves
/// every bucket on one host) and moto's own test keys, which it accepts
/// like any others.
pub fn s3_client(url: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .endpoint_url(url)
            .force_path_style(true)
            .build(),
    )
}

impl Drop for Moto {
    fn drop(&mut self) {
        // SAFETY: killpg only sends a signal; the group is moto's own.
        unsafe {
            libc::killpg(self.pid() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 now, for a program that binds it itself.
pub(crate) fn free_port(service: &'static str) -> Result<u16, Error> {
    let bind = |source| Error::Bind { service, source };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(bind)?;
    Ok(listener.local_addr().map_err(bind)?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_missing_venv_says_to_run_setup() {
        let error = Moto::start_at(Path::new("/nonexistent/moto_server"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::VenvMissing { .. }));
        assert!(error.to_string().contains("scripts/setup"));
    }

    #[tokio::test]
    async fn a_server_that_dies_at_start_reports_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("moto_server");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'ImportError: no module named moto' >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = Moto::start_at(&fake).await.unwrap_err();
        let Error::MotoExited { stderr_tail, .. } = &error else {
            panic!("unexpected error: {error}");
        };
        assert_eq!(stderr_tail, "ImportError: no module named moto");
    }
}
