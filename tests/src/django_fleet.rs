//! The demo's Django fleet: what the agent hosts deploy the sample shop
//! onto. One MariaDB and one redis shared by every host (as RDS and
//! ElastiCache would be), and per host a [`DjangoHost`] under the host's
//! directory (its own supervisord, gunicorn port and nginx port) plus the
//! environment its agent runs with, the way a systemd unit's
//! `EnvironmentFile=` gives it to a service:
//!
//! ```text
//! DIR/host-<i>/agent.env     SLIPWAY_STACK_ENV, AWS_REGION, AWS_ENDPOINT_URL_SSM,
//!                            AWS_SHARED_CREDENTIALS_FILE (the host's own IAM user)
//! DIR/host-<i>/credentials   that user's keys, mode 0600
//! DIR/host-<i>/srv/shop/     the app root (the demo mounts DIR/host-<i>/srv on /srv)
//! ```
//!
//! The hooks run inside the agent's mount namespace while supervisord,
//! gunicorn and nginx run outside it, so every path the stack.env names is
//! the host directory's real path, which both sides see.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::agent_hosts::AgentHost;
use crate::host_stack::{Redis, io};
use crate::{DjangoHost, Error, MariaDb, ids};

/// The shared database and broker, and a Django host per agent host.
/// Dropping it stops the hosts first, then redis and MariaDB.
#[derive(Debug)]
pub struct DjangoFleet {
    /// The hosts, in the agents' order.
    pub hosts: Vec<DjangoHost>,
    /// The broker every host's Celery worker uses.
    pub redis: Redis,
    /// The shop's database.
    pub db: MariaDb,
    db_password: String,
}

impl DjangoFleet {
    /// Starts MariaDB (database and user `shop`), redis, and a DjangoHost
    /// under each agent's directory, and writes each agent's environment.
    /// `ssm_endpoint` is where `step secrets` reads Parameter Store.
    ///
    /// Blocks; MariaDB dies with the calling thread (PR_SET_PDEATHSIG), so
    /// call it from one that outlives the fleet, never a blocking pool's.
    pub fn start(
        agents: &[AgentHost],
        redis_dir: &Path,
        ssm_endpoint: &str,
        region: &str,
    ) -> Result<DjangoFleet, Error> {
        let db = MariaDb::start()?;
        let db_password = ids::secret_access_key()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>();
        db.create_database("shop", "shop", &db_password)?;
        std::fs::create_dir_all(redis_dir).map_err(io("create", redis_dir))?;
        let redis = Redis::start(redis_dir)?;
        let mut hosts = Vec::new();
        for agent in agents {
            // The secrets env file starts empty: `step secrets` renders it
            // from Parameter Store on the first deployment.
            let host = DjangoHost::start(&agent.dir, &[])?;
            write_agent_env(agent, &host, ssm_endpoint, region)?;
            hosts.push(host);
        }
        Ok(DjangoFleet {
            hosts,
            redis,
            db,
            db_password,
        })
    }

    /// What the platform team knows once the database and broker exist
    /// (Terraform's outputs), for the demo to put in Parameter Store, and
    /// each host's site URL through its nginx.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("SHOP_DB_HOST".to_owned(), "127.0.0.1".to_owned()),
            ("SHOP_DB_PORT".to_owned(), self.db.port().to_string()),
            ("SHOP_DB_NAME".to_owned(), "shop".to_owned()),
            ("SHOP_DB_USER".to_owned(), "shop".to_owned()),
            ("SHOP_DB_PASSWORD".to_owned(), self.db_password.clone()),
            ("SHOP_BROKER_URL".to_owned(), self.redis.url(0)),
        ];
        for (i, host) in self.hosts.iter().enumerate() {
            env.push((
                format!("SHOP_SITE_HOST_{}", i + 1),
                format!("http://127.0.0.1:{}", host.nginx_port()),
            ));
        }
        env
    }
}

/// `DIR/host-<i>/agent.env` and the credentials file it names.
fn write_agent_env(
    agent: &AgentHost,
    host: &DjangoHost,
    ssm_endpoint: &str,
    region: &str,
) -> Result<(), Error> {
    let credentials = agent.dir.join("credentials");
    let keys = &agent.host.credential;
    write_private(
        &credentials,
        &format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            keys.access_key_id, keys.secret_access_key
        ),
    )?;
    let env = agent.dir.join("agent.env");
    write_private(
        &env,
        &format!(
            "SLIPWAY_STACK_ENV={}\nAWS_REGION={region}\nAWS_ENDPOINT_URL_SSM={ssm_endpoint}\n\
             AWS_SHARED_CREDENTIALS_FILE={}\n",
            host.stack_env.display(),
            credentials.display()
        ),
    )
}

fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io("write", path))?;
    file.write_all(text.as_bytes()).map_err(io("write", path))
}
