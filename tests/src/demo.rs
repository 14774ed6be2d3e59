//! What `slipway-sandbox` does: start a sandbox, print the environment that
//! points clients at it, and run until told to stop.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::agent_hosts::{register_hosts, write_agent_hosts};
use crate::django_fleet::DjangoFleet;
use crate::sandbox::{Sandbox, SandboxBuilder};
use crate::scripted_host::{HostConfig, Outcome, RunningHost, Script, ScriptedHost};

/// The tag every demo host carries, for a deployment group's on-premises
/// tag filter.
pub const DEMO_HOST_TAG: (&str, &str) = ("slipway-demo", "web");

/// How long each demo host's hooks take per lifecycle event: long enough
/// for someone following a deployment to watch it move host by host.
pub const DEMO_HOOK_TIME: Duration = Duration::from_millis(300);

/// Who plays the sandbox's on-premises hosts, all tagged [`DEMO_HOST_TAG`].
#[derive(Debug, Clone, Copy)]
pub enum DemoHosts<'a> {
    /// This many scripted stand-ins, run inside the sandbox, whose hooks
    /// succeed after [`DEMO_HOOK_TIME`].
    Scripted(usize),
    /// This many hosts for agents started separately: each one's official
    /// configuration files are written under `dir/host-<i>/`.
    Agents {
        /// How many.
        count: usize,
        /// Where their directories go.
        dir: &'a Path,
        /// Also give each one a Django stack ([`DjangoFleet`]): its own
        /// supervisord and nginx, a shared MariaDB and redis, and the
        /// environment its agent runs with (`dir/host-<i>/agent.env`).
        django: bool,
    },
}

/// Starts `builder`'s sandbox with its `hosts`, checks every service
/// answers, writes one `export NAME=VALUE` line per variable to `out` (and
/// to `env_file`, if given), then serves until `shutdown` completes and
/// stops everything.
pub async fn run(
    builder: SandboxBuilder,
    hosts: DemoHosts<'_>,
    env_file: Option<&Path>,
    mut out: impl Write,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let sandbox = builder.start().await?;
    probe(&sandbox).await?;
    let mut env = sandbox.env();
    let mut django = None;
    let fleet = match hosts {
        DemoHosts::Scripted(count) => spawn_hosts(&sandbox, count),
        DemoHosts::Agents {
            count,
            dir,
            django: with_django,
        } => {
            let agents = write_agent_hosts(&sandbox, count, DEMO_HOST_TAG, dir)?;
            for agent in &agents {
                tracing::info!(
                    host = %agent.host.name,
                    config = %agent.config_path().display(),
                    "host registered; start its agent with this config"
                );
            }
            if with_django {
                // On this (the runtime's own) thread: MariaDB dies with the
                // thread that started it.
                let stack = DjangoFleet::start(
                    &agents,
                    &dir.join("redis"),
                    &sandbox.ssm_endpoint(),
                    sandbox.region(),
                )?;
                tracing::info!(
                    "django stack ready: MariaDB, redis, a supervisord and nginx per host"
                );
                env.extend(stack.env());
                django = Some(stack);
            }
            Vec::new()
        }
    };
    let exports = exports(&env);
    if let Some(path) = env_file {
        write_env_file(path, &exports)?;
    }
    let write = |source| Error::WriteEnv { source };
    out.write_all(exports.as_bytes()).map_err(write)?;
    out.flush().map_err(write)?;
    tracing::info!("sandbox ready; Ctrl-C stops it");
    shutdown.await;
    tracing::info!("stopping the sandbox");
    drop(fleet);
    drop(django);
    if let Some(path) = env_file {
        // A stale file would point the next reader at dead ports.
        let _ = std::fs::remove_file(path);
    }
    sandbox.shutdown().await;
    Ok(())
}

/// Registers `count` on-premises instances, `host-1` and on, tagged with
/// [`DEMO_HOST_TAG`], each with its own IAM user's keys, and starts a
/// scripted host for each whose hooks succeed after [`DEMO_HOOK_TIME`]: a
/// fleet that needs no agent processes.
pub fn spawn_hosts(sandbox: &Sandbox, count: usize) -> Vec<RunningHost> {
    spawn_scripted_hosts(sandbox, count, DEMO_HOST_TAG, |_| {
        Script::all(Outcome::Succeed(DEMO_HOOK_TIME))
    })
}

/// Registers `count` on-premises instances, `host-1` and on, tagged with
/// `tag`, each with its own IAM user's keys accepted by the sandbox, and
/// starts a scripted host for each, host `i` running `script(i)`.
pub fn spawn_scripted_hosts(
    sandbox: &Sandbox,
    count: usize,
    tag: (&str, &str),
    script: impl Fn(usize) -> Script,
) -> Vec<RunningHost> {
    register_hosts(sandbox, count, tag)
        .into_iter()
        .enumerate()
        .map(|(i, host)| {
            let config = HostConfig::new(
                sandbox.codedeploy_endpoint(),
                sandbox.region(),
                host.iam_arn,
                host.credential,
            );
            ScriptedHost::new(config, script(i + 1)).spawn()
        })
        .collect()
}

/// One `export NAME=VALUE` line per variable.
pub fn exports(env: &[(String, String)]) -> String {
    env.iter()
        .map(|(name, value)| format!("export {name}={}\n", shell_quote(value)))
        .collect()
}

/// Writes beside `path` and renames, so a script polling for the file
/// never reads half of it.
fn write_env_file(path: &Path, exports: &str) -> Result<(), Error> {
    let error = |source| Error::WriteEnvFile {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, exports).map_err(error)?;
    std::fs::rename(&partial, path).map_err(error)
}

/// One HTTP round trip to each service: any answer means it is serving.
async fn probe(sandbox: &Sandbox) -> Result<(), Error> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|source| Error::HttpClient { source })?;
    let mut urls = vec![
        format!(
            "{}/.well-known/openid-configuration",
            sandbox.oidc_endpoint()
        ),
        sandbox.sts_endpoint(),
        format!("{}/latest/meta-data/", sandbox.imds_endpoint()),
        sandbox.codedeploy_endpoint(),
    ];
    urls.extend(sandbox.moto_endpoint().map(|m| format!("{m}/moto-api/")));
    for url in urls {
        client
            .get(&url)
            .send()
            .await
            .map_err(|source| Error::Probe { url, source })?;
    }
    Ok(())
}

/// `value` as one shell word: bare when it is plainly safe, else in single
/// quotes.
fn shell_quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_query_strings_are_quoted() {
        assert_eq!(shell_quote("http://127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(
            shell_quote("http://h/p?api-version=2.0"),
            "'http://h/p?api-version=2.0'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
