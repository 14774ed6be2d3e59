//! `slipway-agent local`: a deployment on this host without CodeDeploy, as
//! the official `codedeploy-local` does, for operators trying an appspec
//! and for our tests. It builds a deployment spec from its flags and hands
//! each event to the [`Executor`], printing one line per event.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use slipway_shared::appspec::FileExistsBehavior;
use slipway_shared::bundle::BundleType;
use slipway_shared::diagnostics::ErrorCode;
use slipway_shared::lifecycle::LifecycleEvent;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::executor::{Executor, Host};
use crate::spec::{DeploymentSpec, Revision};
use crate::{Error, Result};

/// The group id `codedeploy-local` uses when none is given.
pub const DEFAULT_GROUP_ID: &str = "default-local-deployment-group";

/// Flags of `slipway-agent local`.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// The revision: an archive, a directory, or s3://bucket/key[?versionId=…&etag=…].
    #[arg(long, value_name = "PATH|S3-URL")]
    pub bundle: String,
    /// The bundle's type when its name does not say (tar, tgz, zip, directory).
    #[arg(long, value_name = "TYPE")]
    pub bundle_type: Option<String>,
    /// The deployment root (default: root_dir from the configuration).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The agent configuration (default: /etc/codedeploy-agent/conf/codedeployagent.yml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Lifecycle events to run, comma-separated (default: the in-place sequence).
    #[arg(long, value_delimiter = ',', value_name = "EVENTS")]
    pub events: Vec<String>,
    /// APPLICATION_NAME for the scripts (default: the bundle's location).
    #[arg(long)]
    pub application_name: Option<String>,
    /// DEPLOYMENT_GROUP_NAME for the scripts.
    #[arg(long, default_value = "LocalFleet")]
    pub deployment_group_name: String,
    /// The deployment group id: names the group's directory in the root.
    #[arg(long, default_value = DEFAULT_GROUP_ID)]
    pub deployment_group_id: String,
    /// What Install does with files it did not put there (DISALLOW, OVERWRITE, RETAIN).
    #[arg(long, default_value = "DISALLOW", value_parser = parse_behavior)]
    pub file_exists_behavior: FileExistsBehavior,
}

fn parse_behavior(text: &str) -> Result<FileExistsBehavior, String> {
    let upper = text.to_ascii_uppercase();
    FileExistsBehavior::ALL
        .iter()
        .find(|(n, _)| *n == upper)
        .map(|(_, b)| *b)
        .ok_or_else(|| format!("`{text}` is not DISALLOW, OVERWRITE or RETAIN"))
}

/// How a local deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every event succeeded.
    Succeeded,
    /// An event failed with this code.
    Failed(ErrorCode),
}

/// Runs a local deployment, printing its progress to `out`.
pub async fn run(args: &LocalArgs, out: &mut dyn Write) -> Result<Outcome> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(root) = &args.root {
        config.root_dir = root.clone();
    }
    let events = events(&args.events)?;
    let revision = revision(&args.bundle, args.bundle_type.as_deref())?;
    let s3 = match &revision {
        Revision::S3 { .. } => Some(s3_client(&config).await),
        _ => None,
    };
    let spec = DeploymentSpec {
        deployment_id: slipway_shared::new_deployment_id(),
        deployment_group_id: args.deployment_group_id.clone(),
        deployment_group_name: args.deployment_group_name.clone(),
        application_name: args
            .application_name
            .clone()
            .unwrap_or_else(|| args.bundle.clone()),
        creator: "user".into(),
        blue_green: false,
        appspec_filename: "appspec.yml".into(),
        file_exists_behavior: args.file_exists_behavior,
        revision,
        all_possible_events: None,
    };
    let executor = Executor::new(Host {
        config,
        s3,
        clock: Arc::new(SystemClock),
        env: std::env::vars_os().collect(),
    });
    let dir = executor
        .layout()
        .deployment_dir(&spec.deployment_group_id, &spec.deployment_id);
    let print = |out: &mut dyn Write, text: String| {
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    print(
        out,
        format!("deployment {} in {}", spec.deployment_id, dir.display()),
    );
    let started = Instant::now();
    for (i, event) in events.iter().enumerate() {
        let t = Instant::now();
        let result = executor.try_run_event(&spec, *event).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(()) => print(out, format!("{:<20} {ms:>9.1} ms  Succeeded", event.name())),
            Err(error) => {
                let d = crate::executor::diagnostics_for(&error);
                print(
                    out,
                    format!(
                        "{:<20} {ms:>9.1} ms  Failed ({})",
                        event.name(),
                        d.error_code.name()
                    ),
                );
                if !d.script_name.is_empty() {
                    print(out, format!("  script: {}", d.script_name));
                }
                print(out, format!("  error: {}", d.message));
                if !d.log.is_empty() {
                    print(out, "  log tail:".into());
                    for line in d.log.lines() {
                        print(out, format!("    {line}"));
                    }
                }
                print(
                    out,
                    format!(
                        "  diagnostics: {}",
                        serde_json::to_string(&d).unwrap_or_default()
                    ),
                );
                let skipped = events.len() - i - 1;
                print(
                    out,
                    format!(
                        "Failed: {} failed after {:.1} s; {skipped} later event(s) not run; logs: {}",
                        event.name(),
                        started.elapsed().as_secs_f64(),
                        dir.join("logs/scripts.log").display()
                    ),
                );
                return Ok(Outcome::Failed(d.error_code));
            }
        }
    }
    print(
        out,
        format!(
            "Succeeded: {} events in {:.1} s",
            events.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(Outcome::Succeeded)
}

fn events(names: &[String]) -> Result<Vec<LifecycleEvent>> {
    if names.is_empty() {
        return Ok(LifecycleEvent::in_place(false).to_vec());
    }
    names
        .iter()
        .map(|n| {
            LifecycleEvent::from_name(n.trim()).ok_or_else(|| {
                Error::Deployment(format!("--events: `{n}` is not a lifecycle event"))
            })
        })
        .collect()
}

fn revision(location: &str, bundle_type: Option<&str>) -> Result<Revision> {
    let explicit = |path: &Path| -> Result<Option<BundleType>> {
        match bundle_type {
            None | Some("directory") => Ok(None),
            Some(t) => BundleType::ALL
                .into_iter()
                .find(|b| b.as_str() == t)
                .map(Some)
                .ok_or_else(|| Error::BundleType {
                    path: path.to_owned(),
                    reason: format!("--bundle-type `{t}` is not tar, tgz, zip or directory"),
                }),
        }
    };
    if let Some(rest) = location.strip_prefix("s3://") {
        let (object, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, key) = object.split_once('/').unwrap_or((object, ""));
        if bucket.is_empty() || key.is_empty() {
            return Err(Error::Deployment(format!(
                "--bundle {location}: expected s3://bucket/key"
            )));
        }
        let (mut version, mut etag) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("versionId", v)) => version = Some(v.to_owned()),
                Some(("etag", v)) => etag = Some(v.to_owned()),
                _ => {
                    return Err(Error::Deployment(format!(
                        "--bundle {location}: unknown parameter `{pair}` (versionId, etag)"
                    )));
                }
            }
        }
        let path = PathBuf::from(key);
        let bundle_type = explicit(&path)?
            .or_else(|| BundleType::from_key(key))
            .ok_or_else(|| Error::BundleType {
                path,
                reason: "the key does not end in .tar, .tgz, .tar.gz or .zip; pass --bundle-type"
                    .into(),
            })?;
        return Ok(Revision::S3 {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            bundle_type,
            version,
            etag,
        });
    }
    let path = PathBuf::from(location);
    if path.is_dir() || bundle_type == Some("directory") {
        return Ok(Revision::LocalDirectory { path });
    }
    let bundle_type = explicit(&path)?
        .or_else(|| BundleType::from_key(location))
        .ok_or_else(|| Error::BundleType {
            path: path.clone(),
            reason: "not a directory and not named .tar, .tgz, .tar.gz or .zip; pass --bundle-type"
                .into(),
        })?;
    Ok(Revision::LocalFile { path, bundle_type })
}

/// An S3 client from the environment (region, credentials, AWS_ENDPOINT_URL)
/// and the configuration's `s3_endpoint_override`.
pub async fn s3_client(config: &Config) -> aws_sdk_s3::Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared);
    let endpoint = config
        .s3_endpoint_override
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(endpoint) = endpoint {
        // A custom endpoint (moto, MinIO, a VPC endpoint by IP) rarely has
        // per-bucket DNS names.
        builder = builder.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}
